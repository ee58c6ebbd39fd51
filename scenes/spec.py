"""`SceneSpec`: the declarative description of one frame (objects, lights, camera, background).

Conventions (see README "Conventions"): world is right-handed with +Y up; colours are linear RGB in
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

from frobnoscope.scenes.errors import SpecError

Vec3 = tuple[float, float, float]
Color = tuple[
    Annotated[float, Field(ge=0, le=1)],
    Annotated[float, Field(ge=0, le=1)],
    Annotated[float, Field(ge=0, le=1)],
]
Positive = Annotated[float, Field(gt=0)]


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
    path: str


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
    name: str
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


class Camera(_Strict):
    """Pinhole camera. Pixel (row i, col j) has its centre at image point (j + 0.5, i + 0.5);
    `cx`, `cy` are measured from the top-left image corner, in pixels.
    `camera_to_world` is 4x4 in the OpenGL convention (+X right, +Y up, looking down -Z)."""

    width: Annotated[int, Field(gt=0, le=8192)]
    height: Annotated[int, Field(gt=0, le=8192)]
    fx: Positive
    fy: Positive
    cx: float
    cy: float
    camera_to_world: tuple[tuple[float, float, float, float], ...]
    znear: Positive = 0.05
    zfar: Positive = 100.0

    @field_validator("camera_to_world")
    @classmethod
    def _rigid(cls, value):
        matrix = np.asarray(value, dtype=float)
        if matrix.shape != (4, 4):
            raise ValueError("camera_to_world must be a 4x4 matrix")
        rotation = matrix[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or np.linalg.det(rotation) < 0:
            raise ValueError("camera_to_world must be a rigid transform (orthonormal rotation, det +1)")
        if not np.allclose(matrix[3], [0, 0, 0, 1]):
            raise ValueError("camera_to_world's last row must be [0, 0, 0, 1]")
        return value

    @classmethod
    def look_at(
        cls, eye, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), *, fov_y_deg: float, width: int, height: int, **kw
    ) -> Camera:
        """Camera at `eye` looking at `target`, square pixels, principal point at the image centre."""
        eye, target, up = (np.asarray(v, dtype=float) for v in (eye, target, up))
        back = eye - target
        back /= np.linalg.norm(back)
        right = np.cross(up, back)
        if np.linalg.norm(right) < 1e-9:  # looking straight along `up`: any perpendicular will do
            right = np.cross([0.0, 0.0, 1.0], back)
        right /= np.linalg.norm(right)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(back, right), back, eye
        focal = 0.5 * height / np.tan(np.radians(fov_y_deg) / 2)
        return cls(
            width=width, height=height, fx=focal, fy=focal, cx=width / 2, cy=height / 2,
            camera_to_world=tuple(map(tuple, pose.tolist())), **kw,
        )

    def pose(self) -> np.ndarray:
        return np.asarray(self.camera_to_world, dtype=float)

    def intrinsics(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])


class SceneSpec(_Strict):
    objects: list[ObjectSpec] = Field(min_length=1)
    lights: list[Light] = []
    ambient: Color = (0.1, 0.1, 0.1)
    background: Color = (0.0, 0.0, 0.0)
    camera: Camera

    @model_validator(mode="after")
    def _unique_names(self) -> SceneSpec:
        names = [obj.name for obj in self.objects]
        if len(set(names)) != len(names):
            raise ValueError("object names must be unique")
        return self


def _one_line(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "spec"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"invalid scene spec {source}: {where}: {first['msg']}{more}"


def parse_spec(data: dict, source: str = "") -> SceneSpec:
    """Validate a dict into a `SceneSpec`; raises `SpecError` with one line naming the field."""
    try:
        return SceneSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_one_line(error, source).replace("  ", " ")) from None


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
    for obj in data.get("objects", []) or []:
        shape = obj.get("shape") if isinstance(obj, dict) else None
        if isinstance(shape, dict) and shape.get("kind") == "mesh" and "path" in shape:
            shape["path"] = str((path.parent / shape["path"]).resolve())
    return parse_spec(data, str(path))
