"""Per-pixel ground truth by ray casting the scene through every pixel centre.

Every channel is (H, W) or (H, W, C), row 0 at the top of the image. Float channels hold `inf` at
background pixels; integer channels hold 0 there. See `scenes.channels` for units and conventions.
"""

from __future__ import annotations

import numpy as np

from .scene import Scene
from .spec import Camera

EDGE_SILHOUETTE = 1  # neighbour is background
EDGE_OCCLUSION = 2  # neighbour is another object
EDGE_SELF_OCCLUSION = 4  # same object, but the neighbour's surface is not the continuation of this one
SELF_OCCLUSION_JUMP = 0.05  # relative depth gap, beyond the tangent plane's prediction, that is an edge


def camera_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """World-frame origins (H*W, 3) and unit directions (H*W, 3) through the pixel centres, row-major."""
    rows, cols = np.meshgrid(np.arange(camera.height) + 0.5, np.arange(camera.width) + 0.5, indexing="ij")
    directions_cam = np.stack(
        [(cols - camera.cx) / camera.fx, -(rows - camera.cy) / camera.fy, -np.ones_like(rows)], axis=-1
    ).reshape(-1, 3)
    directions_cam /= np.linalg.norm(directions_cam, axis=1, keepdims=True)
    pose = camera.pose()
    directions = directions_cam @ pose[:3, :3].T
    return np.broadcast_to(pose[:3, 3], directions.shape), directions


def _fill(mask: np.ndarray, values: np.ndarray, background, dtype) -> np.ndarray:
    out = np.full(mask.shape + values.shape[1:], background, dtype=dtype)
    out[mask] = values
    return out


def ground_truth(scene: Scene, camera: Camera) -> dict[str, np.ndarray]:
    """Every ground-truth channel for one camera (see `scenes.channels.CHANNELS`)."""
    height, width = camera.height, camera.width
    origins, directions = camera_rays(camera)
    hits = scene.intersect(origins, directions)
    mask = hits.hit.reshape(height, width)
    hit_rays = np.flatnonzero(hits.hit)
    surface = scene.surface(hits.face[hit_rays], hits.bary_u[hit_rays], hits.bary_v[hit_rays])
    rotation = camera.pose()[:3, :3]
    offset = surface.position - camera.pose()[:3, 3]
    inf = np.float32(np.inf)

    out = {
        "depth_z": _fill(mask, -(offset @ rotation)[:, 2], inf, np.float32),
        "depth_ray": _fill(mask, np.linalg.norm(offset, axis=1), inf, np.float32),
        "position_world": _fill(mask, surface.position, inf, np.float32),
        "normal_world": _fill(mask, surface.normal, inf, np.float32),
        "normal_cam": _fill(mask, surface.normal @ rotation, inf, np.float32),
        "object_id": _fill(mask, surface.object_index + 1, 0, np.uint16),
        "shape_id": _fill(mask, scene.shape_ids[surface.object_index], 0, np.uint8),
        "material_id": _fill(mask, scene.material_ids[surface.object_index], 0, np.uint16),
        "albedo": _fill(mask, surface.albedo, inf, np.float32),
        "uv": _fill(mask, surface.uv, inf, np.float32),
    }
    lighting = [scene.light_visibility(surface, light) for light in scene.spec.lights]
    shading = np.zeros((len(hit_rays), len(lighting)))
    shadow = np.zeros((len(hit_rays), len(lighting)))
    for index, (visible, sample) in enumerate(lighting):
        facing = np.clip(np.einsum("ij,ij->i", surface.normal, sample.to_light), 0, None)
        shading[:, index] = facing * visible
        shadow[:, index] = 1 - visible
    out["shading"] = _fill(mask, shading, inf, np.float32)
    out["shadow"] = _fill(mask, shadow, inf, np.float32)
    _, specular = scene.shade(surface, -directions[hit_rays], lighting)
    out["specular"] = _fill(mask, specular, inf, np.float32)
    out["edges"] = edges(out["object_id"], out["position_world"], out["normal_world"], origins[0], directions.reshape(height, width, 3))
    return out


def _plane_gap(position, normal, eye, directions, here, there) -> np.ndarray:
    """Relative gap between where the `there` pixel's ray hits and where it meets `here`'s tangent plane."""
    n = normal[here]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_plane = np.einsum("...i,...i", n, position[here] - eye) / np.einsum("...i,...i", n, directions[there])
        t_real = np.linalg.norm(position[there] - eye, axis=-1)
        return np.abs(t_plane - t_real) / t_real


def edges(object_id, position, normal, eye, directions) -> np.ndarray:
    """Bitmask per pixel: silhouette (1), occlusion boundary with another object (2), self-occlusion (4).

    A pixel is marked when a 4-neighbour across the boundary differs; both sides are marked.
    Self-occlusion: each pixel's ray meets the other's tangent plane more than `SELF_OCCLUSION_JUMP`
    (relative) away from where it really hits, both ways round.
    """
    out = np.zeros(object_id.shape, dtype=np.uint8)
    for a, b in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                 ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        id_a, id_b = object_id[a], object_id[b]
        silhouette = (id_a == 0) != (id_b == 0)
        occlusion = (id_a != id_b) & (id_a != 0) & (id_b != 0)
        same = (id_a == id_b) & (id_a != 0)
        # NaN (background, or a ray parallel to the plane) never passes the `<=` test: a jump
        jump = same & ~(_plane_gap(position, normal, eye, directions, a, b) <= SELF_OCCLUSION_JUMP)
        jump &= ~(_plane_gap(position, normal, eye, directions, b, a) <= SELF_OCCLUSION_JUMP)
        marks = (silhouette * EDGE_SILHOUETTE | occlusion * EDGE_OCCLUSION | jump * EDGE_SELF_OCCLUSION).astype(np.uint8)
        out[a] |= marks
        out[b] |= marks
    return out
