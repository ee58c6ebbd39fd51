"""Point-level judgement of a coordinate MLP against the scene's exact 3D ground truth: arrays in, numbers out.

Units: densities in 1 / scene units, SDF and depths in scene units, colours linear RGB in [0, 1].
- Occupancy: a point counts as solid for the network where its density exceeds `threshold`; the default,
  ln 2 / 0.05, makes a 0.05-unit step (under a pixel's footprint at the orbit's distance and 64 px) half opaque.
  IoU = |predicted solid and truly solid| / |either|, over the points given (true solid: sdf < 0).
- Density against SDF: points grouped by signed distance to the nearest surface (`SDF_EDGES`, negative inside),
  each group's median density and the share of it the network calls solid; a perfect field is solid exactly
  in the negative groups.
- Termination: per ray that truly hits a surface, the network's expected, median and peak termination distances
  minus the true `depth_ray`; per ray that misses, the network's accumulated opacity (ideally 0).
- Surface colour: the network's colour at true surface points, seen along the true ray, against the true radiance
  there (the ideal answer) and against the albedo (how much of the shading it has baked in).
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_THRESHOLD = math.log(2.0) / 0.05
THRESHOLD_SWEEP = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
SDF_EDGES = (-0.2, -0.1, -0.05, -0.02, -0.01, 0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
DEPTH_TOLERANCES = (0.01, 0.05, 0.1)  # scene units


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks (NaN when both are empty)."""
    union = np.count_nonzero(predicted | truth)
    return float(np.count_nonzero(predicted & truth) / union) if union else float("nan")


def occupancy_iou(density: np.ndarray, sdf: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> float:
    return iou(density > threshold, sdf < 0)


def iou_sweep(density: np.ndarray, sdf: np.ndarray, thresholds=THRESHOLD_SWEEP) -> list[dict]:
    """[{threshold, iou}] for each threshold."""
    return [{"threshold": float(t), "iou": occupancy_iou(density, sdf, t)} for t in thresholds]


def sdf_bin_labels(edges=SDF_EDGES) -> list[str]:
    bounds = [-np.inf, *edges, np.inf]
    return [f"[{low:g}, {high:g})" for low, high in zip(bounds[:-1], bounds[1:])]


def density_by_sdf(density: np.ndarray, sdf: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                   edges=SDF_EDGES) -> list[dict]:
    """One row per SDF bin: points, the bin's centre (its finite bound for the open ends), the true state (solid
    when the bin is inside), median and mean density, and the share the network calls solid."""
    bins = np.digitize(sdf, edges)
    bounds = [edges[0], *edges, edges[-1]]
    rows = []
    for index, label in enumerate(sdf_bin_labels(edges)):
        mine = bins == index
        count = int(mine.sum())
        values = density[mine]
        rows.append({
            "sdf_bin": label, "sdf_centre": 0.5 * (bounds[index] + bounds[index + 1]), "points": count,
            "truly_solid": index < len(edges) and edges[index] <= 0.0,
            "median_density": float(np.median(values)) if count else float("nan"),
            "mean_density": float(values.mean()) if count else float("nan"),
            "predicted_solid": float((values > threshold).mean()) if count else float("nan"),
        })
    return rows


def termination_errors(predicted: dict[str, np.ndarray], depth_ray: np.ndarray, accumulation: np.ndarray) -> dict:
    """`predicted`: {name: (R,) termination distance} (e.g. expected, median, peak); `depth_ray` (R,) true first hit
    (inf where the ray misses); `accumulation` (R,). Errors are predicted - true, over the hitting rays."""
    hit = np.isfinite(depth_ray)
    out = {"rays": int(hit.size), "hit_rays": int(hit.sum()),
           "miss_accumulation_mean": float(accumulation[~hit].mean()) if (~hit).any() else float("nan"),
           "hit_accumulation_mean": float(accumulation[hit].mean()) if hit.any() else float("nan")}
    for name, depth in predicted.items():
        error = depth[hit] - depth_ray[hit]
        finite = np.isfinite(error)
        error = error[finite]
        out[f"{name}_rays_without_depth"] = int((~finite).sum())
        out[f"{name}_mean_error"] = float(error.mean()) if error.size else float("nan")
        out[f"{name}_median_abs_error"] = float(np.median(np.abs(error))) if error.size else float("nan")
        for tolerance in DEPTH_TOLERANCES:
            out[f"{name}_within_{tolerance:g}"] = float((np.abs(error) <= tolerance).sum() / max(1, hit.sum()))
    return out


def color_errors(rgb: np.ndarray, radiance: np.ndarray, albedo: np.ndarray) -> dict:
    """Network colour (N, 3) at true surface points against the true radiance and the albedo (both (N, 3))."""
    valid = np.isfinite(radiance).all(axis=1)

    def rmse(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")

    radiance_mse = float(np.mean((rgb[valid] - radiance[valid]) ** 2)) if valid.any() else float("nan")
    return {
        "surface_points": int(valid.sum()),
        "rmse_vs_radiance": rmse(rgb[valid], radiance[valid]),
        "psnr_vs_radiance": float(-10 * np.log10(max(radiance_mse, 1e-10))),
        "rmse_vs_albedo": rmse(rgb[valid], albedo[valid]),
        "correlation_with_albedo": _correlation(rgb[valid], albedo[valid]),
        "correlation_with_radiance": _correlation(rgb[valid], radiance[valid]),
    }


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
