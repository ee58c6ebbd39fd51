"""`SceneSpec`: the declarative description of one frame (objects, lights, camera, background).

Conventions (docs/concepts/conventions.md): world is right-handed with +Y up; colours are linear RGB in
[0, 1]; lengths are in scene units (think metres); angles in the spec are degrees.
Every primitive is built in its own local frame, centred at the origin with its axis along +Y, then
placed by `Transform` (rotation, uniform scale, translation), which keeps analytic SDFs exact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from frobnoscope.engine.config import format_problems, problems_of
from frobnoscope.scenes.camera import Camera, Positive, Vec3
from frobnoscope.scenes.errors import SpecError

Color = tuple[
    Annotated[float, Field(ge=0, le=1)],
    Annotated[float, Field(ge=0, le=1)],
    Annotated[float, Field(ge=0, le=1)],
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sphere(_Strict):
    kind: Literal["sphere"] = "sphere"
    radius: Positive = 0.5


class Box(_Strict):
    kind: Literal["box"] = "box"
    extents: tuple[Positive, Positive, Positive] = (1.0, 1.0, 1.0)


class Cylinder(_Strict):
    """Axis along local +Y, centred: caps at y = -height/2 and +height/2."""

    kind: Literal["cylinder"] = "cylinder"
    radius: Positive = 0.5
    height: Positive = 1.0


class Cone(_Strict):
    """Base disc at y = -height/2, apex at y = +height/2."""

    kind: Literal["cone"] = "cone"
    radius: Positive = 0.5
    height: Positive = 1.0


class Torus(_Strict):
    """Ring in the local XZ plane around the +Y axis."""

    kind: Literal["torus"] = "torus"
    major_radius: Positive = 0.5
    minor_radius: Positive = 0.15

    @model_validator(mode="after")
    def _thin_enough(self) -> Torus:
        if self.minor_radius >= self.major_radius:
            raise ValueError("minor_radius must be smaller than major_radius")
        return self


class Capsule(_Strict):
    """Cylinder of `height` along +Y with hemispherical caps (total height = height + 2 radius)."""

    kind: Literal["capsule"] = "capsule"
    radius: Positive = 0.3
    height: Positive = 0.6


class Plane(_Strict):
    """Square of side `size` in the local XZ plane facing +Y; solid below (a half-infinite slab)."""

    kind: Literal["plane"] = "plane"
    size: Positive = 10.0


class MeshFile(_Strict):
    """Any mesh file trimesh reads; a relative path is resolved against the spec file's folder."""

    kind: Literal["mesh"] = "mesh"
    path: str = Field(description="mesh file (.obj, .ply, .stl, .glb, ...); relative to the spec file's folder")


Shape = Annotated[Union[Sphere, Box, Cylinder, Cone, Torus, Capsule, Plane, MeshFile], Field(discriminator="kind")]
SHAPE_KINDS = ("sphere", "box", "cylinder", "cone", "torus", "capsule", "plane", "mesh")


class Texture(_Strict):
    """Procedural base-colour texture, known exactly at every surface point.

    `checker`: (floor(2u) + floor(2v)) even -> color_a, odd -> color_b.
    `stripes`: floor(2u) even -> color_a, odd -> color_b.
    (u, v) are the object's texture coordinates times `repeats`; one period is one unit of uv.
    """

    kind: Literal["checker", "stripes"]
    color_a: Color
    color_b: Color
    repeats: tuple[Positive, Positive] = (4.0, 4.0)


class Material(_Strict):
    """glTF metallic-roughness material, as pyrender shades it (see `scenes.shading`)."""

    base_color: Color = (0.8, 0.8, 0.8)
    metallic: Annotated[float, Field(ge=0, le=1)] = 0.0
    roughness: Annotated[float, Field(ge=0, le=1)] = 0.5
    texture: Texture | None = None


class Transform(_Strict):
    """Local-to-world: scale uniformly, rotate by XYZ Euler angles (degrees, extrinsic), translate."""

    position: Vec3 = (0.0, 0.0, 0.0)
    rotation_deg: Vec3 = (0.0, 0.0, 0.0)
    scale: Positive = 1.0

    def rotation(self) -> np.ndarray:
        rx, ry, rz = np.radians(self.rotation_deg)
        cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
        rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
        rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
        return rot_z @ rot_y @ rot_x

    def matrix(self) -> np.ndarray:
        """4x4 local-to-world matrix."""
        out = np.eye(4)
        out[:3, :3] = self.rotation() * self.scale
        out[:3, 3] = self.position
        return out


class ObjectSpec(_Strict):
    name: str = Field(description="unique within the spec")
    shape: Shape
    transform: Transform = Transform()
    material: Material = Material()


class DirectionalLight(_Strict):
    """Light travelling along `direction` (world frame); radiance = intensity * color."""

    kind: Literal["directional"] = "directional"
    direction: Vec3 = (0.0, -1.0, 0.0)
    color: Color = (1.0, 1.0, 1.0)
    intensity: Annotated[float, Field(ge=0)] = 3.0

    @field_validator("direction")
    @classmethod
    def _nonzero(cls, value: Vec3) -> Vec3:
        if np.linalg.norm(value) == 0:
            raise ValueError("direction must be non-zero")
        return value


class PointLight(_Strict):
    """Radiance at distance d = intensity * color / d^2."""

    kind: Literal["point"] = "point"
    position: Vec3
    color: Color = (1.0, 1.0, 1.0)
    intensity: Annotated[float, Field(ge=0)] = 10.0


class SpotLight(_Strict):
    """Point light restricted to a cone around `direction`, smooth falloff from inner to outer angle."""

    kind: Literal["spot"] = "spot"
    position: Vec3
    direction: Vec3 = (0.0, -1.0, 0.0)
    color: Color = (1.0, 1.0, 1.0)
    intensity: Annotated[float, Field(ge=0)] = 10.0
    inner_cone_deg: Annotated[float, Field(ge=0, lt=90)] = 0.0
    outer_cone_deg: Annotated[float, Field(gt=0, le=90)] = 45.0

    @model_validator(mode="after")
    def _cone_order(self) -> SpotLight:
        if self.inner_cone_deg >= self.outer_cone_deg:
            raise ValueError("inner_cone_deg must be smaller than outer_cone_deg")
        return self


Light = Annotated[Union[DirectionalLight, PointLight, SpotLight], Field(discriminator="kind")]


class SceneSpec(_Strict):
    """One frame: objects, lights, ambient light, background colour and camera (JSON or YAML; see examples/scenes).

    World right-handed, +Y up; colours linear RGB in [0, 1]; lengths in scene units; angles in degrees.
    The camera is explicit (fx, fy, cx, cy, camera_to_world) or a look-at (eye, target, up, fov_y_deg)."""

    objects: list[ObjectSpec] = Field(min_length=1, description="object k (from 0) has id k + 1; id 0 is background")
    lights: list[Light] = Field([], description="directional, point or spot lights (pyrender's units)")
    ambient: Color = Field((0.1, 0.1, 0.1), description="ambient light, linear RGB")
    background: Color = Field((0.0, 0.0, 0.0), description="colour where no object is hit, linear RGB")
    camera: Camera

    @field_validator("objects")
    @classmethod
    def _unique_names(cls, objects: list[ObjectSpec]) -> list[ObjectSpec]:
        names = [obj.name for obj in objects]
        if len(set(names)) != len(names):
            raise ValueError("object names must be unique")
        return objects


def parse_spec(data: dict, source: str = "") -> SceneSpec:
    """Validate a dict into a `SceneSpec`; raises `SpecError`: one line with every problem's field path
    ('objects.0.material.roughness: ...'), the first five and a count of the rest."""
    try:
        return SceneSpec.model_validate(data)
    except ValidationError as error:
        what = f"scene spec {source}" if source else "scene spec"
        raise SpecError(format_problems(what, problems_of(error), rename=lambda path: path or "spec")) from None


def load_spec(path: str | Path) -> SceneSpec:
    """Load a spec from JSON or YAML. Relative mesh paths are resolved against the file's folder."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(f"cannot read scene spec {path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise SpecError(f"scene spec {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {error}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise SpecError(f"scene spec {path} must be a mapping with 'objects' and 'camera'")
    objects = data.get("objects")
    for obj in objects if isinstance(objects, list) else []:  # anything else: parse_spec names the problem
        shape = obj.get("shape") if isinstance(obj, dict) else None
        if isinstance(shape, dict) and shape.get("kind") == "mesh" and isinstance(shape.get("path"), str):
            shape["path"] = str((path.parent / shape["path"]).resolve())
    return parse_spec(data, str(path))
