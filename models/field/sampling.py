"""Where a field model is trained and measured: points near the scene's surfaces and uniform in its box, and the
scene's exact answer at them. Arrays in, arrays out; world frame, scene units, float64.

Near-surface points (`near_surface_points`), stratified by object: each object of the scene gets an equal share
(the first `count % n_objects` objects one more), so a small object is not drowned by a large ground plane. Within an
object a face is drawn with probability proportional to its area, a point uniform on it (barycentrics
(1 - sqrt(r1), sqrt(r1) (1 - r2), sqrt(r1) r2)), then moved along the face's unit normal by t ~ N(0, sigma)
truncated to |t| <= 3 sigma. Surface points buried in another object (union SDF < -`SURFACE_TOLERANCE` x the scene's
diagonal) are not part of the scene's surface and are drawn again. So every near-surface point lies within
3 sigma (+ the tessellation's gap, about 1e-3 x a shape's radius) of the surface.

Uniform points: uniform in the field's box (`field_box`). Randomness: step s of a run draws its points from
numpy.random.default_rng([seed, s]) alone; the held-out set is "step 0" (`step_rng(seed, 0)`), which no training
step uses.
"""

from __future__ import annotations

import numpy as np

from frobnoscope.models.nerf.rays import scene_box
from frobnoscope.scenes.scene import Scene

TRUNCATION = 3.0  # near-surface offsets are at most this many sigma
SURFACE_TOLERANCE = 2e-3  # of the scene's diagonal: a surface sample deeper inside the scene's solid is buried
MAX_ROUNDS = 50


def step_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def field_box(scene: Scene, padding: float) -> np.ndarray:
    """(2, 3) min and max corners: the scene's bounds grown by `padding` x their diagonal on every side."""
    return scene_box(scene.bounds, scene.extent, padding)


def _surface_of_object(scene: Scene, index: int, count: int, rng: np.random.Generator):
    triangles = scene.corners.reshape(-1, 3, 3)[scene.object_faces(index)]
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    faces = rng.choice(len(triangles), size=count, p=areas / areas.sum())
    r1, r2 = np.sqrt(rng.random(count)), rng.random(count)
    weights = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], axis=1)
    points = np.einsum("nc,ncd->nd", weights, triangles[faces])
    return points, scene.face_normals[scene.object_faces(index).start + faces]


def surface_points(scene: Scene, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(count, 3) points on the scene's surface and their (count, 3) unit face normals, stratified by object."""
    n_objects = len(scene.spec.objects)
    shares = [count // n_objects + (index < count % n_objects) for index in range(n_objects)]
    tolerance = SURFACE_TOLERANCE * scene.extent
    points, normals = [], []
    for index, share in enumerate(shares):
        kept_points, kept_normals, kept = [], [], 0
        for _ in range(MAX_ROUNDS):
            if kept >= share:
                break
            candidates, candidate_normals = _surface_of_object(scene, index, share - kept, rng)
            exposed = scene.signed_distances(candidates).min(axis=1) >= -tolerance
            kept_points.append(candidates[exposed])
            kept_normals.append(candidate_normals[exposed])
            kept += int(exposed.sum())
        points += kept_points
        normals += kept_normals
    return np.concatenate(points)[:count], np.concatenate(normals)[:count]


def truncated_normal(count: int, rng: np.random.Generator) -> np.ndarray:
    values = rng.standard_normal(count)
    while (redraw := np.abs(values) > TRUNCATION).any():
        values[redraw] = rng.standard_normal(int(redraw.sum()))
    return values


def near_surface_points(scene: Scene, count: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    points, normals = surface_points(scene, count, rng)
    return points + (sigma * truncated_normal(len(points), rng))[:, None] * normals


def sample_points(scene: Scene, box: np.ndarray, count: int, near_fraction: float, sigma: float,
                  rng: np.random.Generator) -> np.ndarray:
    """(count, 3): round(count x near_fraction) near-surface points first, then uniform points in `box`."""
    near = near_surface_points(scene, round(count * near_fraction), sigma, rng)
    return np.concatenate([near, rng.uniform(box[0], box[1], size=(count - len(near), 3))])


def scene_truth(scene: Scene, points: np.ndarray) -> dict[str, np.ndarray]:
    """Exactly `Scene.query(points)` (sdf, occupancy, object_id, albedo), faster: only points whose nearest object
    has a texture need the closest point on its mesh; any other point's albedo is its object's base colour."""
    points = np.asarray(points, dtype=np.float64)
    distances = scene.signed_distances(points)
    nearest = distances.argmin(axis=1)
    sdf = distances[np.arange(len(points)), nearest]
    albedo = np.array([obj.material.base_color for obj in scene.spec.objects], dtype=np.float64)[nearest]
    textured = np.array([obj.material.texture is not None for obj in scene.spec.objects])[nearest]
    if textured.any():
        albedo[textured] = scene.query(points[textured])["albedo"]
    return {"sdf": sdf, "occupancy": sdf < 0, "object_id": (nearest + 1).astype(np.uint16), "albedo": albedo}
