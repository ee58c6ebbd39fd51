"""`shapes3d`: one object in a room, the six factors of DeepMind's Shapes3D, as a complete grid.

Factors (in this order, C-order enumeration like the published dataset): floor_hue, wall_hue,
object_hue (each in [0, 1) on the HSV hue circle), scale (0.75 to 1.25), shape (cube, cylinder,
sphere, capsule), orientation (camera azimuth, -30 to +30 degrees). The published grid is
10x10x10x8x4x15: `--set floor_hue_levels=10 --set wall_hue_levels=10 --set object_hue_levels=10
--set scale_levels=8 --set orientation_levels=15` (480,000 frames). The default is 3x3x4x3x4x3.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from frobnoscope.scenes.families.base import Family, FamilyConfig, Frame
from frobnoscope.scenes.families.common import hue_color, light_direction, orbit_camera
from frobnoscope.scenes.spec import (
    Box,
    Capsule,
    Cylinder,
    DirectionalLight,
    Material,
    ObjectSpec,
    Plane,
    SceneSpec,
    Sphere,
    Transform,
)

SHAPES = ("cube", "cylinder", "sphere", "capsule")
FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
BASE_SIZE = 0.5  # half-height of the object at scale 1
ROOM_HALF_WIDTH = 3.0


class Shapes3DConfig(FamilyConfig):
    res: int = Field(64, gt=0, le=4096, description="image width and height in pixels")
    floor_hue_levels: int = Field(3, ge=1, le=100)
    wall_hue_levels: int = Field(3, ge=1, le=100)
    object_hue_levels: int = Field(4, ge=1, le=100)
    scale_levels: int = Field(3, ge=1, le=100)
    shape_levels: int = Field(4, ge=1, le=len(SHAPES))
    orientation_levels: int = Field(3, ge=1, le=100)

    def grid_shape(self) -> tuple[int, ...]:
        return tuple(getattr(self, f"{name}_levels") for name in FACTORS)


def _levels(name: str, count: int) -> np.ndarray:
    if name.endswith("hue"):
        return np.arange(count) / count
    if name == "scale":
        return np.linspace(0.75, 1.25, count) if count > 1 else np.array([1.0])
    if name == "orientation":
        return np.linspace(-30.0, 30.0, count) if count > 1 else np.array([0.0])
    return np.arange(count)


def _object_shape(shape: str, scale: float):
    half = BASE_SIZE * scale
    if shape == "cube":
        return Box(extents=(2 * half,) * 3)
    if shape == "cylinder":
        return Cylinder(radius=half, height=2 * half)
    if shape == "sphere":
        return Sphere(radius=half)
    return Capsule(radius=half / 2, height=half)


def _wall(name: str, position, rotation_deg, color) -> ObjectSpec:
    return ObjectSpec(name=name, shape=Plane(size=2 * ROOM_HALF_WIDTH),
                      transform=Transform(position=position, rotation_deg=rotation_deg),
                      material=Material(base_color=color, roughness=0.9))


class Shapes3D(Family):
    name = "shapes3d"
    Config = Shapes3DConfig

    def default_n(self) -> int:
        return int(np.prod(self.config.grid_shape()))

    def frame(self, k: int) -> Frame:
        indices = np.unravel_index(k, self.config.grid_shape())
        values = {name: _levels(name, count)[i] for name, count, i in zip(FACTORS, self.config.grid_shape(), indices)}
        shape = SHAPES[int(values["shape"])]
        floor, wall = hue_color(values["floor_hue"]), hue_color(values["wall_hue"])
        h = ROOM_HALF_WIDTH
        objects = [
            _wall("floor", (0, 0, 0), (0, 0, 0), floor),
            _wall("back_wall", (0, h, -h), (90, 0, 0), wall),
            _wall("left_wall", (-h, h, 0), (0, 0, -90), wall),
            _wall("right_wall", (h, h, 0), (0, 0, 90), wall),
            ObjectSpec(name="object", shape=_object_shape(shape, float(values["scale"])),
                       transform=Transform(position=(0, BASE_SIZE * float(values["scale"]), 0)),
                       material=Material(base_color=hue_color(values["object_hue"]), roughness=0.6)),
        ]
        spec = SceneSpec(
            objects=objects, ambient=(0.3, 0.3, 0.3),
            lights=[DirectionalLight(direction=light_direction(20.0, 60.0), intensity=2.5)],
            camera=orbit_camera(float(values["orientation"]), 20.0, 4.5, self.config.res, target=(0, 0.6, 0)),
        )
        factors = {name: float(values[name]) for name in FACTORS if name != "shape"}
        factors["shape"] = shape
        factors["grid_index"] = [int(i) for i in indices]
        factors["objects"] = [{"object_id": 5, "name": "object", "shape": shape}]
        return Frame(spec=spec, factors=factors)
