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

from frobnoscope.scenes.errors import SpecError
from frobnoscope.scenes.spec import Box, Capsule, Cone, Cylinder, MeshFile, Plane, Sphere, Torus

SECTIONS = 48  # around an axis: chord error r * (1 - cos(pi / 48)) = 2.1e-3 r
SPHERE_SUBDIVISIONS = 3  # icosphere, 1280 faces: largest gap to the sphere 4.5e-3 r
Z_TO_Y = trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0])  # trimesh builds along +Z


@dataclass(frozen=True)
class SurfaceMesh:
    """Unmerged triangles: corner c of face f is row 3f + c of every per-corner array."""

    corners: np.ndarray  # (3F, 3) positions
    normals: np.ndarray  # (3F, 3) unit shading normals
    uv: np.ndarray  # (3F, 2) texture coordinates, before a texture's `repeats`
    corner_vertex: np.ndarray  # (3F,) int32: corners at one position share a vertex id (for the ray caster)
    vertex_corner: np.ndarray  # (V,) one corner of each vertex id

    @property
    def n_faces(self) -> int:
        return len(self.corners) // 3


def _shared_vertices(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(corner_vertex, vertex_corner): ids of the distinct corner positions, and a corner of each."""
    _, vertex_corner, corner_vertex = np.unique(corners, axis=0, return_index=True, return_inverse=True)
    return corner_vertex.reshape(-1).astype(np.int32), vertex_corner


@lru_cache(maxsize=None)
def _unit_vertices(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Shared vertices of a kind's unit mesh: every fit maps equal corners to equal corners."""
    return _shared_vertices(_unit_corners(kind)[0])


def _unmerged(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Per-corner positions and face normals, as plain arrays (not trimesh's cache-tracking ones)."""
    corners = np.asarray(mesh.vertices)[np.asarray(mesh.faces)].reshape(-1, 3)
    face_normals = np.repeat(np.asarray(mesh.face_normals), 3, axis=0)
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


# Each kind's mesh is built once at unit size, then fitted to a shape's sizes by a map that keeps every
# corner on the analytic surface (a scale, or for capsule and torus a map of the profile), so a frame
# of randomly sized primitives costs a few array operations per object instead of a fresh tessellation.


@lru_cache(maxsize=None)
def _unit_corners(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Corners and face normals of the unit mesh of a kind (see `_fit`), built once per process."""
    if kind == "sphere":  # radius 1
        return _unmerged(trimesh.creation.icosphere(subdivisions=SPHERE_SUBDIVISIONS, radius=1.0))
    if kind == "cylinder":  # radius 1, height 1
        return _from_trimesh(trimesh.creation.cylinder(radius=1.0, height=1.0, sections=SECTIONS))
    if kind == "cone":  # radius 1, height 1, centred
        mesh = trimesh.creation.cone(radius=1.0, height=1.0, sections=SECTIONS)
        mesh.apply_translation([0, 0, -0.5])
        return _from_trimesh(mesh)
    if kind == "capsule":  # radius 1, height 1: every corner has |y| >= 1/2
        return _from_trimesh(trimesh.creation.capsule(height=1.0, radius=1.0, count=[SECTIONS, SECTIONS // 2]))
    if kind == "torus":  # major radius 1, minor radius 1/2
        mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=0.5, major_sections=SECTIONS, minor_sections=SECTIONS // 2)
        return _from_trimesh(mesh)
    if kind == "box":  # unit cube
        return _unmerged(trimesh.creation.box(extents=(1.0, 1.0, 1.0)))
    raise ValueError(f"no unit mesh for {kind!r}")


@lru_cache(maxsize=None)
def _unit_angular_u(kind: str) -> np.ndarray:
    """Angular texture coordinate of the unit mesh's corners: every fit keeps it."""
    return _angular_u(_unit_corners(kind)[0])


def _sphere(shape: Sphere) -> SurfaceMesh:
    unit, _ = _unit_corners("sphere")
    v = 0.5 + np.arcsin(np.clip(unit[:, 1], -1, 1)) / np.pi
    return SurfaceMesh(unit * shape.radius, unit, np.stack([_unit_angular_u("sphere"), v], axis=1), *_unit_vertices("sphere"))


def _revolved(kind: str, radius: float, height: float, radial_normal) -> SurfaceMesh:
    """Cylinder and cone: the unit mesh scaled by (radius, height, radius); side faces get cylindrical
    uv, flat caps a planar projection. `radial_normal(corners)` gives the side's shading normal."""
    unit, unit_face_normals = _unit_corners(kind)
    corners = unit * (radius, height, radius)
    is_cap = np.abs(unit_face_normals[:, 1]) > 0.999
    normals = np.where(is_cap[:, None], unit_face_normals, radial_normal(corners))
    side_uv = np.stack([_unit_angular_u(kind), unit[:, 1] + 0.5], axis=1)
    cap_uv = unit[:, [0, 2]] / 2 + 0.5
    return SurfaceMesh(corners, _unit(normals), np.where(is_cap[:, None], cap_uv, side_uv), *_unit_vertices(kind))


def _cylinder(shape: Cylinder) -> SurfaceMesh:
    return _revolved("cylinder", shape.radius, shape.height, lambda corners: corners * [1, 0, 1])


def _cone(shape: Cone) -> SurfaceMesh:
    def radial(corners):
        normals = _unit(corners * [1, 0, 1] + [0, 1e-12, 0]) * shape.height + [0, shape.radius, 0]
        apex = np.linalg.norm(corners[:, [0, 2]], axis=1) < 1e-9
        triangles = corners.reshape(-1, 3, 3)
        faces = np.repeat(_unit(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])), 3, axis=0)
        return np.where(apex[:, None], faces, normals)  # the apex has no normal: use the face's

    return _revolved("cone", shape.radius, shape.height, radial)


def _capsule(shape: Capsule) -> SurfaceMesh:
    unit, _ = _unit_corners("capsule")
    half = shape.height / 2
    corners = unit * shape.radius
    corners[:, 1] += np.sign(unit[:, 1]) * (half - 0.5 * shape.radius)  # each half keeps its hemisphere
    normals = _unit(corners - np.clip(corners[:, 1], -half, half)[:, None] * [0, 1, 0])
    v = (corners[:, 1] + half + shape.radius) / (shape.height + 2 * shape.radius)
    return SurfaceMesh(corners, normals, np.stack([_unit_angular_u("capsule"), v], axis=1), *_unit_vertices("capsule"))


def _torus(shape: Torus) -> SurfaceMesh:
    unit, _ = _unit_corners("torus")
    radial = np.hypot(unit[:, 0], unit[:, 2])
    around = unit[:, [0, 2]] / radial[:, None]  # unit direction of the ring at each corner
    tube = np.stack([radial - 1.0, unit[:, 1]], axis=1) * 2.0  # (cos, sin) of the angle around the tube
    ring_radius = shape.major_radius + shape.minor_radius * tube[:, 0]
    corners = np.stack([around[:, 0] * ring_radius, shape.minor_radius * tube[:, 1], around[:, 1] * ring_radius], axis=1)
    normals = np.stack([around[:, 0] * tube[:, 0], tube[:, 1], around[:, 1] * tube[:, 0]], axis=1)
    u = _unwrap_per_face(_angle(unit[:, 0], unit[:, 2]))
    v = _unwrap_per_face(np.arctan2(tube[:, 1], tube[:, 0]) / (2 * np.pi) + 0.5)
    return SurfaceMesh(corners, _unit(normals), np.stack([u, v], axis=1), *_unit_vertices("torus"))


def _flat(corners: np.ndarray, face_normals: np.ndarray, size: float) -> SurfaceMesh:
    return SurfaceMesh(corners, face_normals, _box_projection(corners, face_normals, size), *_shared_vertices(corners))


def _box(shape: Box) -> SurfaceMesh:
    unit, face_normals = _unit_corners("box")
    return _flat(unit * shape.extents, face_normals, max(shape.extents))


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
