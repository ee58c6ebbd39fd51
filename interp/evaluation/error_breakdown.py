"""Where an image model's error falls, by ground-truth factor.

Each factor sorts a frame's pixels into named bins (or leaves them out, label -1) using the dataset's ground-truth
channels; the error of a bin is the mean over its pixels of the per-pixel squared error (RGB mean, linear [0, 1]),
summed over frames before dividing, so big and small frames weigh by their pixel counts.

- region: object (object_id > 0) or background.
- edges: within `edge_radius` pixels (Chebyshev) of a silhouette pixel (edges bit 1); else within it of an occlusion
  or self-occlusion boundary (bits 2, 4); else object interior or background interior.
- shadow: object pixels lit by every light, or in the shadow of at least one (the `shadow` channel).
- specular: object pixels by specular strength, the largest RGB component of the `specular` channel (linear
  radiance): none < 0.001 <= weak < 0.05 <= medium < 0.25 <= strong.
- depth_z: object pixels in depth bands; `depth_edges` are the dataset's 25/50/75% quantiles of object depth_z.
- material: object pixels by their object's material: metal (metallic >= 0.5) or dielectric, and texture
  (plain, checker, stripes), read from the frame's spec through object_id. (material_id numbers materials per
  frame, in order of first use, so it names no material across frames; the spec does.)
- texture: object pixels by local texture frequency: the gradient magnitude of albedo luminance (Rec. 709 weights,
  forward differences, per pixel), averaged over a 5x5 window; pixels whose 3x3 neighbourhood touches another
  object or the background are left out (that gradient is an object edge, not texture). Bins: flat < 0.001 <= low
  < 0.03 <= medium < 0.1 <= high (luminance change per pixel; untextured surfaces are flat).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field
from scipy import ndimage

from frobnoscope.engine.config import Config

GT_CHANNELS = ("object_id", "edges", "shadow", "specular", "depth_z", "albedo")
SILHOUETTE, OCCLUSION, SELF_OCCLUSION = 1, 2, 4
SPECULAR_EDGES = (0.001, 0.05, 0.25)
TEXTURE_EDGES = (0.001, 0.03, 0.1)
TEXTURE_WINDOW = 5
LUMINANCE = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
DEPTH_QUANTILES = (0.25, 0.5, 0.75)
DEPTH_SAMPLE_FRAMES = 32

FACTOR_BINS = {
    "region": ("object", "background"),
    "edges": ("near silhouette", "near occlusion boundary", "object interior", "background interior"),
    "shadow": ("lit", "in shadow"),
    "specular": ("none", "weak", "medium", "strong"),
    "depth_z": ("near", "mid-near", "mid-far", "far"),
    "material": ("dielectric plain", "dielectric checker", "dielectric stripes", "metal plain", "metal checker", "metal stripes"),
    "texture": ("flat", "low", "medium", "high"),
}


EdgeRadius = Annotated[int, Field(ge=0, description="pixels counted as near an edge, around the edges channel's marks")]


class BreakdownConfig(Config):
    """How pixels are binned; stored in an evaluation's manifest (`breakdown`) as `to_dict()`."""

    depth_edges: tuple[float, float, float] = Field(description="depth_z band edges (scene units): the dataset's "
                                                                "25/50/75% quantiles of object depth_z")
    edge_radius: EdgeRadius = 1


def depth_edges_of(depth_z: np.ndarray, object_id: np.ndarray) -> tuple[float, float, float]:
    """The 25/50/75% quantiles of depth_z over object pixels ((N, H, W) arrays of a sample of frames)."""
    depths = depth_z[(object_id > 0) & np.isfinite(depth_z)]
    if depths.size == 0:
        return (np.inf, np.inf, np.inf)
    return tuple(float(q) for q in np.quantile(depths, DEPTH_QUANTILES))


def depth_bin_names(edges: tuple[float, float, float]) -> list[str]:
    a, b, c = edges
    ranges = (f"< {a:.2f}", f"{a:.2f}-{b:.2f}", f"{b:.2f}-{c:.2f}", f">= {c:.2f}")
    return [f"{name} ({span})" for name, span in zip(FACTOR_BINS["depth_z"], ranges)]


def factor_labels(gt: dict[str, np.ndarray], objects: list[dict], config: BreakdownConfig) -> dict[str, np.ndarray]:
    """{factor: (H, W) int8 bin index, -1 where the factor does not apply} for one frame.
    `gt` holds the frame's GT_CHANNELS; `objects` is its spec's object list (object id k is objects[k - 1])."""
    object_id = gt["object_id"].astype(np.int64)
    on_object = object_id > 0
    labels = {"region": np.where(on_object, 0, 1)}
    labels["edges"] = _edge_labels(gt["edges"], on_object, config.edge_radius)
    in_shadow = (np.nan_to_num(gt["shadow"], posinf=0.0) > 0.5).any(axis=-1)
    labels["shadow"] = np.where(on_object, in_shadow.astype(np.int64), -1)
    strength = np.nan_to_num(gt["specular"], posinf=0.0).max(axis=-1)
    labels["specular"] = np.where(on_object, np.digitize(strength, SPECULAR_EDGES), -1)
    labels["depth_z"] = np.where(on_object & np.isfinite(gt["depth_z"]), np.digitize(gt["depth_z"], config.depth_edges), -1)
    material_of_object = np.array([-1] + [_material_bin(o["material"]) for o in objects])
    labels["material"] = np.where(on_object, material_of_object[np.clip(object_id, 0, len(objects))], -1)
    labels["texture"] = texture_labels(gt["albedo"], object_id)
    return {name: label.astype(np.int8) for name, label in labels.items()}


def _edge_labels(edges: np.ndarray, on_object: np.ndarray, radius: int) -> np.ndarray:
    size = 2 * radius + 1
    near_silhouette = ndimage.maximum_filter((edges & SILHOUETTE) > 0, size=size)
    near_occlusion = ndimage.maximum_filter((edges & (OCCLUSION | SELF_OCCLUSION)) > 0, size=size)
    return np.select([near_silhouette, near_occlusion, on_object], [0, 1, 2], default=3)


def _material_bin(material: dict) -> int:
    texture = material.get("texture")
    kind = 0 if texture is None else {"checker": 1, "stripes": 2}[texture["kind"]]
    return 3 * int(material["metallic"] >= 0.5) + kind


def texture_labels(albedo: np.ndarray, object_id: np.ndarray) -> np.ndarray:
    """(H, W) texture bin of each object pixel (0 flat, 1 low, 2 medium, 3 high; see the module docstring), -1 for
    background and pixels next to another object."""
    luminance = np.nan_to_num(albedo, posinf=0.0) @ LUMINANCE
    grad_rows = np.diff(luminance, axis=0, append=luminance[-1:])  # forward differences: central ones miss
    grad_cols = np.diff(luminance, axis=1, append=luminance[:, -1:])  # a pattern alternating every pixel
    magnitude = np.hypot(grad_rows, grad_cols)
    same_object = (ndimage.maximum_filter(object_id, size=3) == object_id) & (ndimage.minimum_filter(object_id, size=3) == object_id)
    valid = same_object & (object_id > 0)
    weight = ndimage.uniform_filter(valid.astype(np.float64), size=TEXTURE_WINDOW)
    total = ndimage.uniform_filter(np.where(valid, magnitude, 0.0), size=TEXTURE_WINDOW)
    local = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    return np.where(valid, np.digitize(local, TEXTURE_EDGES), -1)


def bin_sums(squared_error: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """{factor: {"sum": per-bin sum of squared error, "count": per-bin pixel count}} for one frame."""
    out = {}
    for factor, label in labels.items():
        bins = len(FACTOR_BINS[factor])
        keep = label >= 0
        out[factor] = {
            "sum": np.bincount(label[keep], weights=squared_error[keep], minlength=bins).tolist(),
            "count": np.bincount(label[keep], minlength=bins).astype(float).tolist(),
        }
    return out


def combine(per_frame: list[dict], config: BreakdownConfig) -> list[dict]:
    """Rows {factor, bin, pixels, pixel_share, mse, psnr, mse_vs_overall} summed over frames."""
    overall_sum = sum(sum(f["region"]["sum"]) for f in per_frame)
    overall_count = sum(sum(f["region"]["count"]) for f in per_frame)
    overall_mse = overall_sum / overall_count if overall_count else float("nan")
    rows = []
    for factor, names in FACTOR_BINS.items():
        names = depth_bin_names(config.depth_edges) if factor == "depth_z" else list(names)
        sums = np.sum([f[factor]["sum"] for f in per_frame], axis=0)
        counts = np.sum([f[factor]["count"] for f in per_frame], axis=0)
        factor_pixels = counts.sum()
        for name, total, count in zip(names, sums, counts):
            mse = total / count if count else float("nan")
            rows.append({
                "factor": factor, "bin": name, "pixels": int(count),
                "pixel_share": float(count / factor_pixels) if factor_pixels else 0.0,
                "mse": float(mse), "psnr": float(-10 * np.log10(max(mse, 1e-10))) if count else float("nan"),
                "mse_vs_overall": float(mse / overall_mse) if count and overall_mse > 0 else float("nan"),
            })
    return rows
