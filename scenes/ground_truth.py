"""Per-pixel ground truth by ray casting the scene through every pixel centre.

Every channel is (H, W) or (H, W, C), row 0 at the top of the image. Float channels hold `inf` at
background pixels; integer channels hold 0 there. See `scenes.channels` for units and conventions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.shading import brdf_terms
from frobnoscope.scenes.spec import Camera

EDGE_SILHOUETTE = 1  # neighbour is background
EDGE_OCCLUSION = 2  # neighbour is another object
EDGE_SELF_OCCLUSION = 4  # same object, but the neighbour's surface is not the continuation of this one
SELF_OCCLUSION_JUMP = 0.05  # relative depth gap, beyond the tangent plane's prediction, that is an edge


@lru_cache(maxsize=8)
def _camera_frame_directions(width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    directions = np.stack([(cols - cx) / fx, -(rows - cy) / fy, -np.ones_like(rows)], axis=-1).reshape(-1, 3)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    directions.flags.writeable = False
    return directions


def camera_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """World-frame origins (H*W, 3) and unit directions (H*W, 3) through the pixel centres, row-major."""
    directions_cam = _camera_frame_directions(camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy)
    pose = camera.pose()
    directions = directions_cam @ pose[:3, :3].T
    return np.broadcast_to(pose[:3, 3], directions.shape), directions


class _Scatter:
    """Writes per-hit values into full images: background value where the ray missed."""

    def __init__(self, hit_rays: np.ndarray, height: int, width: int):
        self.hit_rays, self.shape = hit_rays, (height, width)

    def __call__(self, values: np.ndarray, background, dtype) -> np.ndarray:
        tail = values.shape[1:]
        out = np.full((self.shape[0] * self.shape[1], *tail), background, dtype=dtype)
        out[self.hit_rays] = values
        return out.reshape(*self.shape, *tail)


def ground_truth(scene: Scene, camera: Camera) -> dict[str, np.ndarray]:
    """Every ground-truth channel for one camera (see `scenes.channels.CHANNELS`)."""
    origins, directions = camera_rays(camera)
    hits = scene.intersect(origins, directions)
    hit_rays = np.flatnonzero(hits.hit)
    surface = scene.surface(hits.face[hit_rays], hits.bary_u[hit_rays], hits.bary_v[hit_rays])
    pose = camera.pose()
    rotation, eye = pose[:3, :3], pose[:3, 3]
    offset = surface.position - eye
    fill = _Scatter(hit_rays, camera.height, camera.width)
    inf = np.float32(np.inf)

    out = {
        "depth_z": fill(-(offset @ rotation[:, 2]), inf, np.float32),
        "depth_ray": fill(np.sqrt(np.einsum("ij,ij->i", offset, offset)), inf, np.float32),
        "position_world": fill(surface.position, inf, np.float32),
        "normal_world": fill(surface.normal, inf, np.float32),
        "normal_cam": fill(surface.normal @ rotation, inf, np.float32),
        "object_id": fill(surface.object_index + 1, 0, np.uint16),
        "shape_id": fill(scene.shape_ids[surface.object_index], 0, np.uint8),
        "material_id": fill(scene.material_ids[surface.object_index], 0, np.uint16),
        "albedo": fill(surface.albedo, inf, np.float32),
        "uv": fill(surface.uv, inf, np.float32),
    }
    n_lights = len(scene.spec.lights)
    shading = np.empty((len(hit_rays), n_lights))
    shadow = np.empty((len(hit_rays), n_lights))
    specular = np.zeros((len(hit_rays), 3))
    metallic, roughness = scene.material_arrays(surface.object_index)
    to_camera = -directions[hit_rays]
    for index, light in enumerate(scene.spec.lights):
        visible, sample = scene.light_visibility(surface, light)
        shading[:, index] = np.clip(np.einsum("ij,ij->i", surface.normal, sample.to_light), 0, None) * visible
        shadow[:, index] = 1 - visible
        _, light_specular = brdf_terms(surface.normal, to_camera, sample.to_light, sample.radiance, surface.albedo, metallic, roughness)
        specular += visible[:, None] * light_specular
    out["shading"] = fill(shading, inf, np.float32)
    out["shadow"] = fill(shadow, inf, np.float32)
    out["specular"] = fill(specular, inf, np.float32)
    out["edges"] = edges(out["object_id"], out["position_world"], out["normal_world"], eye, directions.reshape(*fill.shape, 3))
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def edges(object_id, position, normal, eye, directions) -> np.ndarray:
    """Bitmask per pixel: silhouette (1), occlusion boundary with another object (2), self-occlusion (4).

    A pixel is marked when a 4-neighbour across the boundary differs; both sides are marked.
    Self-occlusion: each pixel's ray meets the other's tangent plane more than `SELF_OCCLUSION_JUMP`
    (relative) away from where it really hits, both ways round.
    """
    with np.errstate(invalid="ignore"):  # background pixels hold inf
        plane_offset = _dot(normal, position - eye)  # n . (p - eye): the tangent plane, per pixel
        t_real = np.sqrt(_dot(position - eye, position - eye))

    def tangent_gap(here, there) -> np.ndarray:
        """Relative gap between where the `there` pixel's ray hits and where it meets `here`'s tangent plane."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t_plane = plane_offset[here] / _dot(normal[here], directions[there])
            return np.abs(t_plane - t_real[there]) / t_real[there]

    out = np.zeros(object_id.shape, dtype=np.uint8)
    for a, b in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                 ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        id_a, id_b = object_id[a], object_id[b]
        silhouette = (id_a == 0) != (id_b == 0)
        occlusion = (id_a != id_b) & (id_a != 0) & (id_b != 0)
        same = (id_a == id_b) & (id_a != 0)
        # NaN (background, or a ray parallel to the plane) never passes the `<=` test: a jump
        jump = same & ~(tangent_gap(a, b) <= SELF_OCCLUSION_JUMP) & ~(tangent_gap(b, a) <= SELF_OCCLUSION_JUMP)
        marks = (silhouette * EDGE_SILHOUETTE | occlusion * EDGE_OCCLUSION | jump * EDGE_SELF_OCCLUSION).astype(np.uint8)
        out[a] |= marks
        out[b] |= marks
    return out
