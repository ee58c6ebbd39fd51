"""Signed distance functions of the analytic shapes, in their local frames (negative inside).

These are the exact shapes the meshes in `geometry` tessellate (64 sections around an axis), so a
mesh surface lies within about 1.2e-3 x radius of the analytic zero level set. Mesh files use the
mesh itself (trimesh's signed distance, whose sign is flipped here to our convention).
"""

from __future__ import annotations

import numpy as np
import trimesh

from frobnoscope.scenes.errors import SpecError
from frobnoscope.scenes.geometry import load_mesh_file


def _length(*components: np.ndarray) -> np.ndarray:
    return np.sqrt(sum(c * c for c in components))


def _box_like(qx: np.ndarray, qy: np.ndarray, qz: np.ndarray) -> np.ndarray:
    outside = _length(np.maximum(qx, 0), np.maximum(qy, 0), np.maximum(qz, 0))
    return outside + np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)


def sphere(p, shape):
    return _length(*p.T) - shape.radius


def box(p, shape):
    q = np.abs(p) - np.asarray(shape.extents) / 2
    return _box_like(*q.T)


def cylinder(p, shape):
    dx = np.hypot(p[:, 0], p[:, 2]) - shape.radius
    dy = np.abs(p[:, 1]) - shape.height / 2
    return np.minimum(np.maximum(dx, dy), 0) + _length(np.maximum(dx, 0), np.maximum(dy, 0))


def cone(p, shape):
    """Solid cone, base radius r at y = -h/2, apex at y = +h/2: exact distance in the (rho, y) half-plane."""
    rho, y, r, half = np.hypot(p[:, 0], p[:, 2]), p[:, 1], shape.radius, shape.height / 2
    # distance to the base disc
    base_x = rho - np.minimum(rho, r)
    base_y = y + half
    # distance to the slanted side, segment from (r, -half) to (0, half)
    seg = np.array([-r, 2 * half])
    t = np.clip(((rho - r) * seg[0] + (y + half) * seg[1]) / (seg @ seg), 0, 1)
    side_x, side_y = rho - (r + t * seg[0]), y - (-half + t * seg[1])
    distance = np.sqrt(np.minimum(base_x**2 + base_y**2, side_x**2 + side_y**2))
    inside = (y > -half) & (y < half) & (rho < r * (half - y) / (2 * half))
    return np.where(inside, -distance, distance)


def torus(p, shape):
    return _length(np.hypot(p[:, 0], p[:, 2]) - shape.major_radius, p[:, 1]) - shape.minor_radius


def capsule(p, shape):
    half = shape.height / 2
    axis_y = np.clip(p[:, 1], -half, half)
    return _length(p[:, 0], p[:, 1] - axis_y, p[:, 2]) - shape.radius


def plane(p, shape):
    """The square's footprint extended downwards without end: solid below the plane."""
    half = shape.size / 2
    return _box_like(np.abs(p[:, 0]) - half, p[:, 1], np.abs(p[:, 2]) - half)


def mesh(p, shape):
    loaded = load_mesh_file(shape.path)
    if not loaded.is_watertight:
        raise SpecError(f"mesh {shape.path} is not watertight, so its SDF is undefined; close its holes first")
    return -trimesh.proximity.signed_distance(loaded, p)


LOCAL_SDF = {
    "sphere": sphere, "box": box, "cylinder": cylinder, "cone": cone,
    "torus": torus, "capsule": capsule, "plane": plane, "mesh": mesh,
}


def local_sdf(shape, points_local: np.ndarray) -> np.ndarray:
    return LOCAL_SDF[shape.kind](np.asarray(points_local, dtype=float), shape)
