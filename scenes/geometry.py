"""Triangle meshes for every shape kind, in the shape's local frame (+Y up, centred).

Each mesh is "unmerged": every face owns its three corners, so a corner can carry its own
texture coordinate (no seams) and its own shading normal. The renderer and the ray caster use
these exact triangles, normals and uvs, so rendered pixels and ground truth describe one surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import trimesh

from .errors import SpecError
from .spec import Box, Capsule, Cone, Cylinder, MeshFile, Plane, Sphere, Torus

SECTIONS = 64  # around an axis: chord error r * (1 - cos(pi / 64)) = 1.2e-3 r
Z_TO_Y = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # trimesh builds along +Z


@dataclass(frozen=True)
class SurfaceMesh:
    """Unmerged triangles: corner c of face f is row 3f + c of every per-corner array."""

    corners: np.ndarray  # (3F, 3) positions
    normals: np.ndarray  # (3F, 3) unit shading normals
    uv: np.ndarray  # (3F, 2) texture coordinates, before a texture's `repeats`

    @property
    def n_faces(self) -> int:
        return len(self.corners) // 3


def _unmerged(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    corners = mesh.vertices[mesh.faces].reshape(-1, 3)
    face_normals = np.repeat(mesh.face_normals, 3, axis=0)
    return corners, face_normals


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _angle(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.arctan2(x, z) / (2 * np.pi) + 0.5


def _unwrap_per_face(coord: np.ndarray) -> np.ndarray:
    """Make a periodic coordinate (period 1) continuous within each face, so no face spans a seam."""
    per_face = coord.reshape(-1, 3).copy()
    wraps = per_face.max(axis=1) - per_face.min(axis=1) > 0.5
    per_face[wraps] = np.where(per_face[wraps] < 0.5, per_face[wraps] + 1, per_face[wraps])
    return per_face.reshape(-1)


def _fix_axis_corners(u: np.ndarray, on_axis: np.ndarray) -> np.ndarray:
    """Corners on the rotation axis have no angle: give them the mean angle of their face's others."""
    per_face, axis_face = u.reshape(-1, 3), on_axis.reshape(-1, 3)
    others = (~axis_face).sum(axis=1)
    mean_of_others = np.where(axis_face, 0, per_face).sum(axis=1) / np.maximum(others, 1)
    mean_of_others = np.where(others > 0, mean_of_others, 0.5)
    return np.where(axis_face, mean_of_others[:, None], per_face).reshape(-1)


def _angular_u(corners: np.ndarray) -> np.ndarray:
    radial = np.hypot(corners[:, 0], corners[:, 2])
    u = _unwrap_per_face(_angle(corners[:, 0], corners[:, 2]))
    return _fix_axis_corners(u, radial < 1e-9)


def _box_projection(corners: np.ndarray, face_normals: np.ndarray, size: float) -> np.ndarray:
    """Per face, project onto the plane of the two axes the face normal is least aligned with."""
    dominant = np.abs(face_normals).argmax(axis=1)
    keep = np.array([[1, 2], [0, 2], [0, 1]])[dominant]
    return np.take_along_axis(corners, keep, axis=1) / size + 0.5


def _from_trimesh(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    mesh = mesh.copy()
    mesh.apply_transform(Z_TO_Y)
    return _unmerged(mesh)


def _sphere(shape: Sphere) -> SurfaceMesh:
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=shape.radius)
    corners, _ = _unmerged(mesh)
    normals = _unit(corners)
    v = 0.5 + np.arcsin(np.clip(normals[:, 1], -1, 1)) / np.pi
    return SurfaceMesh(corners, normals, np.stack([_angular_u(corners), v], axis=1))


def _revolved(corners, face_normals, radial_normal, v, cap_size) -> SurfaceMesh:
    """Shared by cylinder, cone: side faces get cylindrical uv, flat caps a planar projection."""
    is_cap = np.abs(face_normals[:, 1]) > 0.999
    normals = np.where(is_cap[:, None], face_normals, radial_normal)
    side_uv = np.stack([_angular_u(corners), v], axis=1)
    cap_uv = corners[:, [0, 2]] / cap_size + 0.5
    return SurfaceMesh(corners, _unit(normals), np.where(is_cap[:, None], cap_uv, side_uv))


def _cylinder(shape: Cylinder) -> SurfaceMesh:
    corners, face_normals = _from_trimesh(
        trimesh.creation.cylinder(radius=shape.radius, height=shape.height, sections=SECTIONS)
    )
    radial = corners * [1, 0, 1]
    return _revolved(corners, face_normals, radial, corners[:, 1] / shape.height + 0.5, 2 * shape.radius)


def _cone(shape: Cone) -> SurfaceMesh:
    mesh = trimesh.creation.cone(radius=shape.radius, height=shape.height, sections=SECTIONS)
    mesh.apply_translation([0, 0, -shape.height / 2])
    corners, face_normals = _from_trimesh(mesh)
    radial = _unit(corners * [1, 0, 1] + [0, 1e-12, 0]) * shape.height + [0, shape.radius, 0]
    apex = np.linalg.norm(corners[:, [0, 2]], axis=1) < 1e-9
    radial = np.where(apex[:, None], face_normals, radial)  # the apex has no normal: use the face's
    return _revolved(corners, face_normals, radial, corners[:, 1] / shape.height + 0.5, 2 * shape.radius)


def _capsule(shape: Capsule) -> SurfaceMesh:
    corners, _ = _from_trimesh(
        trimesh.creation.capsule(height=shape.height, radius=shape.radius, count=[SECTIONS, SECTIONS // 2])
    )
    half = shape.height / 2
    normals = _unit(corners - np.clip(corners[:, 1], -half, half)[:, None] * [0, 1, 0])
    v = (corners[:, 1] + half + shape.radius) / (shape.height + 2 * shape.radius)
    return SurfaceMesh(corners, normals, np.stack([_angular_u(corners), v], axis=1))


def _torus(shape: Torus) -> SurfaceMesh:
    mesh = trimesh.creation.torus(
        major_radius=shape.major_radius, minor_radius=shape.minor_radius,
        major_sections=SECTIONS, minor_sections=SECTIONS // 2,
    )
    corners, _ = _from_trimesh(mesh)
    radial = np.hypot(corners[:, 0], corners[:, 2])
    ring = corners * [1, 0, 1] / radial[:, None] * shape.major_radius
    normals = _unit(corners - ring)
    u = _unwrap_per_face(_angle(corners[:, 0], corners[:, 2]))
    v = _unwrap_per_face(np.arctan2(corners[:, 1], radial - shape.major_radius) / (2 * np.pi) + 0.5)
    return SurfaceMesh(corners, normals, np.stack([u, v], axis=1))


def _flat(corners: np.ndarray, face_normals: np.ndarray, size: float) -> SurfaceMesh:
    return SurfaceMesh(corners, face_normals, _box_projection(corners, face_normals, size))


def _box(shape: Box) -> SurfaceMesh:
    corners, face_normals = _unmerged(trimesh.creation.box(extents=shape.extents))
    return _flat(corners, face_normals, max(shape.extents))


def _plane(shape: Plane) -> SurfaceMesh:
    half = shape.size / 2
    quad = np.array([[-half, 0, -half], [-half, 0, half], [half, 0, half], [half, 0, -half]])
    mesh = trimesh.Trimesh(quad, [[0, 1, 2], [0, 2, 3]], process=False)
    corners, face_normals = _unmerged(mesh)
    return _flat(corners, face_normals, shape.size)


@lru_cache(maxsize=16)
def load_mesh_file(path: str) -> trimesh.Trimesh:
    """A mesh file as one trimesh (scenes are concatenated); errors name the file."""
    try:
        loaded = trimesh.load(path, force="mesh")
    except (OSError, ValueError) as error:
        raise SpecError(f"cannot load mesh {path}: {error}; give a file trimesh reads (.obj, .ply, .stl, .glb, ...)") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise SpecError(f"mesh {path} has no triangles; give a file with at least one face")
    return loaded


def _mesh_file(shape: MeshFile) -> SurfaceMesh:
    mesh = load_mesh_file(shape.path)
    corners, face_normals = _unmerged(mesh)  # mesh files are flat shaded: no guessing at creases
    return _flat(corners, face_normals, float(mesh.extents.max()))


BUILDERS = {
    "sphere": _sphere, "box": _box, "cylinder": _cylinder, "cone": _cone,
    "torus": _torus, "capsule": _capsule, "plane": _plane, "mesh": _mesh_file,
}


@lru_cache(maxsize=256)
def surface_mesh(shape) -> SurfaceMesh:
    """The local-frame mesh of a shape spec (cached: specs are frozen and hashable)."""
    return BUILDERS[shape.kind](shape)
