"""Ground truth derived from the stored channels and the frame's spec, per pixel, so that "unexplained" means more
than "not one of the rendered channels". Each is a float32 (H, W) map (n_dot_l: (H, W, lights)); NaN where it is
undefined (background for surface quantities). Capture pools them like the other continuous channels.

  image_x, image_y          pixel centre / image width, height: 0 at the left / top edge, 1 at the right / bottom
  dist_silhouette           distance to the nearest silhouette pixel (edges bit 1), in image heights
  dist_occlusion            distance to the nearest occlusion-boundary pixel (edges bit 2), in image heights
  dist_shadow_edge          distance to the nearest shadow edge: a surface pixel whose shadow (any light) differs
                            from a 4-neighbour's on the same object, in image heights
  dist_object               distance to the nearest object pixel, in image heights (0 on objects)
  object_size               the share of the image's pixels covered by the pixel's object (NaN on background)
  n_dot_v                   N . V, V the unit vector from the surface point to the camera centre (1: faces the camera)
  n_dot_l                   N . L per light, L towards the light (unclipped and without shadowing, unlike `shading`)
  normal_change             mean angle (radians) between the pixel's normal and its right and lower neighbours' on the
                            same object: a screen-space curvature
  depth_gradient            |grad depth_z| over the right and lower neighbours on the same object, scene units per pixel
  texture_fine              |albedo luminance - its 3 x 3 mean| on the same object: the texture's high band
  texture_coarse            |3 x 3 mean - 9 x 9 mean| of the albedo luminance on the same object: its middle band
Distances are exact Euclidean distance transforms (`scipy.ndimage.distance_transform_edt`); with no such pixel in
the frame they are NaN. Not derived (it needs a ray cast per light): how many objects block a shadow ray.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from frobnoscope.scenes.spec import SceneSpec

NAMES = ("image_x", "image_y", "dist_silhouette", "dist_occlusion", "dist_shadow_edge", "dist_object", "object_size",
         "n_dot_v", "n_dot_l", "normal_change", "depth_gradient", "texture_fine", "texture_coarse")
NEEDS = ("object_id", "edges", "shadow", "position_world", "normal_world", "depth_z", "albedo")
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (pixels) of every pixel to the nearest True pixel of `mask` (NaN if there is none)."""
    if not mask.any():
        return np.full(mask.shape, np.nan)
    return ndimage.distance_transform_edt(~mask)


def _neighbour_pairs(ids: np.ndarray):
    """[(slice of pixels, slice of their right / lower neighbours, same-object mask)] over both directions."""
    pairs = []
    for here, there in (((slice(None), slice(0, -1)), (slice(None), slice(1, None))),
                        ((slice(0, -1), slice(None)), (slice(1, None), slice(None)))):
        pairs.append((here, there, (ids[here] == ids[there]) & (ids[here] != 0)))
    return pairs


def _mean_over_neighbours(values_of, ids: np.ndarray) -> np.ndarray:
    """Per pixel, the mean of `values_of(here, there)` over its same-object right and lower neighbours (NaN: none)."""
    total, count = np.zeros(ids.shape), np.zeros(ids.shape)
    for here, there, same in _neighbour_pairs(ids):
        total[here] += np.where(same, values_of(here, there), 0.0)
        count[here] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _box_mean(values: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """Mean of `values` over the size x size window, counting only pixels of the centre pixel's object (each object
    filtered within its bounding box)."""
    out = np.full(ids.shape, np.nan)
    for label, box in enumerate(ndimage.find_objects(ids), start=1):
        if box is None:
            continue
        inside = ids[box] == label
        sums = ndimage.uniform_filter(np.where(inside, values[box], 0.0), size, mode="constant")
        counts = ndimage.uniform_filter(inside.astype(float), size, mode="constant")
        out[box][inside] = sums[inside] / counts[inside]
    return out


def derive_frame(channels: dict[str, np.ndarray], spec: SceneSpec) -> dict[str, np.ndarray]:
    """Every derived map of one frame from its channels ({name: (H, W[, C])}, as stored) and its spec."""
    with np.errstate(invalid="ignore", over="ignore"):  # background pixels hold inf: their results are NaN
        return _derive(channels, spec)


def _derive(channels: dict[str, np.ndarray], spec: SceneSpec) -> dict[str, np.ndarray]:
    ids = channels["object_id"].astype(np.int64)
    height, width = ids.shape
    surface = ids != 0
    rows, cols = np.mgrid[0:height, 0:width]
    out = {"image_x": (cols + 0.5) / width, "image_y": (rows + 0.5) / height}
    edges, shadow = channels["edges"], channels["shadow"].reshape(height, width, -1)
    shadow_edge = np.zeros((height, width), bool)
    for here, there, same in _neighbour_pairs(ids):
        differs = same & (shadow[here] != shadow[there]).any(axis=-1)
        shadow_edge[here] |= differs
        shadow_edge[there] |= differs
    for name, mask in (("dist_silhouette", (edges & 1) != 0), ("dist_occlusion", (edges & 2) != 0),
                       ("dist_shadow_edge", shadow_edge), ("dist_object", surface)):
        out[name] = _distance_to(mask) / height
    sizes = np.bincount(ids.ravel(), minlength=ids.max() + 1) / ids.size
    out["object_size"] = np.where(surface, sizes[ids], np.nan)
    normals, points = channels["normal_world"].astype(np.float64), channels["position_world"].astype(np.float64)
    eye = np.asarray(spec.camera.camera_to_world)[:3, 3]
    view = eye - points
    view /= np.maximum(np.linalg.norm(view, axis=-1, keepdims=True), 1e-12)
    out["n_dot_v"] = np.where(surface, np.einsum("ijk,ijk->ij", normals, view), np.nan)
    if spec.lights:  # no lights, no n_dot_l
        out["n_dot_l"] = np.stack([np.where(surface, np.einsum("ijk,ijk->ij", normals, _towards(light, points)), np.nan)
                                   for light in spec.lights], axis=-1)
    out["normal_change"] = _mean_over_neighbours(
        lambda a, b: np.arccos(np.clip(np.einsum("ijk,ijk->ij", normals[a], normals[b]), -1.0, 1.0)), ids)
    depth = channels["depth_z"].astype(np.float64)
    out["depth_gradient"] = _mean_over_neighbours(lambda a, b: np.abs(depth[a] - depth[b]), ids)
    luminance = channels["albedo"].astype(np.float64) @ LUMINANCE
    fine, coarse = _box_mean(luminance, ids, 3), _box_mean(luminance, ids, 9)
    out["texture_fine"] = np.where(surface, np.abs(luminance - fine), np.nan)
    out["texture_coarse"] = np.abs(fine - coarse)
    return {name: value.astype(np.float32) for name, value in out.items()}


def _towards(light, points: np.ndarray) -> np.ndarray:
    """Unit vectors from `points` (H, W, 3) towards `light`."""
    if light.kind == "directional":
        direction = -np.asarray(light.direction, dtype=np.float64)
        return np.broadcast_to(direction / np.linalg.norm(direction), points.shape)
    vector = np.asarray(light.position, dtype=np.float64) - points
    return vector / np.maximum(np.linalg.norm(vector, axis=-1, keepdims=True), 1e-12)


def derive_block(channels: dict[str, np.ndarray], specs: list[SceneSpec]) -> dict[str, np.ndarray]:
    """{name: (N, H, W[, lights])} for a block of frames ({name: (N, H, W[, C])}) and their specs."""
    frames = [derive_frame({name: values[i] for name, values in channels.items()}, spec)
              for i, spec in enumerate(specs)]
    return {name: np.stack([frame[name] for frame in frames]) for name in frames[0]}
