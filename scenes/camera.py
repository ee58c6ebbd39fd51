"""`Camera`: a pinhole camera, given explicitly or by where it stands and what it looks at.

Conventions (docs/concepts/conventions.md): `camera_to_world` is 4x4 in the OpenGL convention (+X right, +Y up, looking down -Z), as
pyrender and nerfstudio's `transform_matrix`. Pixel (row i, col j) has its centre at image point (j + 0.5, i + 0.5);
`fx`, `fy`, `cx`, `cy` are in pixels, `cx`, `cy` measured from the top-left image corner. Lengths in scene units.

A spec may give the camera in either of two forms (not a mix):
- explicit: `width`, `height`, `fx`, `fy`, `cx`, `cy`, `camera_to_world` (and `znear`, `zfar`);
- look-at (`LookAt`): `eye`, `target`, `up` (default +Y), `fov_y_deg`, `width`, `height` (and `znear`, `zfar`):
  back = (eye - target) / |eye - target|, right = up x back / |up x back|, camera_to_world's columns are
  (right, back x right, back, eye); fx = fy = (height / 2) / tan(fov_y_deg / 2); cx = width / 2, cy = height / 2.
The look-at form becomes the explicit one on validation, so a validated camera always dumps the explicit form.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Vec3 = tuple[float, float, float]
Positive = Annotated[float, Field(gt=0)]
Pixels = Annotated[int, Field(gt=0, le=8192, description="image size in pixels")]
Clip = Annotated[float, Field(gt=0, description="clipping distance along the view axis (-Z), scene units")]
EXPLICIT_ONLY = ("fx", "fy", "cx", "cy", "camera_to_world")
LOOK_AT_ONLY = ("eye", "target", "up", "fov_y_deg")


class LookAt(BaseModel):
    """Camera at `eye` looking at `target`, with `up` pointing up in the image; square pixels, principal point at the
    image centre. Becomes the explicit form when a spec is validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Camera (look-at form)")

    eye: Vec3 = Field(description="camera centre, world frame")
    target: Vec3 = Field(description="the point the camera looks at (it appears at the image centre)")
    up: Vec3 = Field((0.0, 1.0, 0.0), description="world direction that appears up in the image")
    fov_y_deg: float = Field(gt=0, lt=180, description="vertical field of view, degrees")
    width: Pixels
    height: Pixels
    znear: Clip = 0.05
    zfar: Clip = 100.0

    @model_validator(mode="after")
    def _has_a_direction(self) -> LookAt:
        if np.allclose(self.eye, self.target):
            raise ValueError("eye and target must differ")
        if not np.any(self.up):
            raise ValueError("up must be non-zero")
        return self


class Camera(BaseModel):
    """Pinhole camera, explicit form. `camera_to_world` is 4x4 in the OpenGL convention (+X right, +Y up, looking
    down -Z); pixel (row i, col j) has its centre at image point (j + 0.5, i + 0.5), `cx`, `cy` measured from the
    top-left image corner, in pixels. A spec may give the look-at form instead (eye, target, up, fov_y_deg)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Camera (explicit form)")

    width: Pixels
    height: Pixels
    fx: Positive = Field(description="focal length along image x, pixels")
    fy: Positive = Field(description="focal length along image y, pixels")
    cx: float = Field(description="principal point's x from the image's left edge, pixels")
    cy: float = Field(description="principal point's y from the image's top edge, pixels")
    camera_to_world: tuple[tuple[float, float, float, float], ...] = Field(
        description="4x4 rigid transform, rows; OpenGL convention (+X right, +Y up, looking down -Z)")
    znear: Clip = 0.05
    zfar: Clip = 100.0

    @model_validator(mode="before")
    @classmethod
    def _from_look_at(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.keys() & set(LOOK_AT_ONLY):
            return data
        mixed = [name for name in EXPLICIT_ONLY if name in data]
        if mixed:
            given = [name for name in LOOK_AT_ONLY if name in data]
            raise ValueError(f"give either the look-at form ({', '.join(LOOK_AT_ONLY)}) or the explicit form "
                             f"({', '.join(EXPLICIT_ONLY)}), not both; got {', '.join(given)} with {', '.join(mixed)}")
        look = LookAt.model_validate(data)  # its errors keep their field paths (camera.fov_y_deg, ...)
        return cls.look_at(**look.model_dump()).model_dump()

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
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict:
        explicit = handler.resolve_ref_schema(handler(core_schema))
        return {"title": "Camera", "description": "either form; a validated spec stores the explicit one",
                "anyOf": [explicit, handler(LookAt.__pydantic_core_schema__)]}

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
            right = np.cross([0.0, 0.0, 1.0] if abs(back[2]) < 0.9 else [1.0, 0.0, 0.0], back)
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
