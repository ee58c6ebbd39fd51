"""One pixel's ray through a NeRF, sample by sample, beside the ground truth (what the app's NeRF page plots), and
a rendered termination-depth map against the true one.

The ray of pixel (row, col) is `rays_of_camera`'s ray number row * W + col (exactly as the ground truth casts it,
so t at the surface it meets is that pixel's `depth_ray`), sampled as a render samples it
(`NerfAdapter.sample_intervals`: edges t_0 < ... < t_K, midpoints m_k). The field gives density sigma_k at m_k, and
with delta_k = t_{k+1} - t_k (`models.nerf.rendering`):
  w_k         = exp(-sum_{j<k} sigma_j delta_j) (1 - exp(-sigma_k delta_k))   compositing weight of sample k
  opacity     = sum_k w_k                                                     the render's `accumulation`
  termination = sum_k w_k m_k / opacity (NaN if opacity <= 1e-6)             the render's `depth`
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from frobnoscope.interp.errors import InterpError
from frobnoscope.models.nerf.adapter import NerfAdapter, midpoints, rays_of_camera
from frobnoscope.scenes.spec import Camera

MIN_OPACITY = 1e-6  # below it a ray never stops: no termination depth (as `rendering.expected_depth`)


@dataclass(frozen=True)
class RayProfile:
    """One ray's samples: `t` (K,) midpoints and `edges` (K + 1,) in scene units along the unit direction,
    `density` (K,) in 1 / scene units, `weights` (K,), and the ray's `opacity` and `termination` (module docstring)."""

    origin: np.ndarray
    direction: np.ndarray
    edges: np.ndarray
    t: np.ndarray
    density: np.ndarray
    weights: np.ndarray
    opacity: float
    termination: float


def pixel_ray(camera: Camera, row: int, col: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 3) origin and unit direction of pixel (row, col), row 0 at the top; a one-line error outside the frame."""
    if not (0 <= row < camera.height and 0 <= col < camera.width):
        raise InterpError(f"pixel row {row}, col {col} is outside the {camera.height}x{camera.width} view "
                          "(rows and cols count from 0)")
    origins, directions = rays_of_camera(camera)
    index = row * camera.width + col
    return origins[index:index + 1], directions[index:index + 1]


def ray_profile(adapter: NerfAdapter, camera: Camera, row: int, col: int) -> RayProfile:
    """The density and compositing weights along pixel (row, col)'s ray, sampled as the render samples it."""
    origin, direction = pixel_ray(camera, row, col)
    edges = adapter.sample_intervals(origin, direction)
    t = midpoints(edges)
    points = origin[:, None] + direction[:, None] * t[..., None]
    with torch.no_grad():
        density, _ = adapter.evaluate_field(points, direction[:, None].expand_as(points))
        weights = adapter.sample_weights(density, edges)
    weights, t = weights[0].double().numpy(), t[0].double().numpy()
    opacity = float(weights.sum())
    termination = float((weights * t).sum() / opacity) if opacity > MIN_OPACITY else float("nan")
    return RayProfile(origin[0].numpy(), direction[0].numpy(), edges[0].numpy(), t, density[0].double().numpy(),
                      weights, opacity, termination)


def depth_difference(depth: np.ndarray, depth_ray: np.ndarray) -> np.ndarray:
    """Rendered termination depth minus the true `depth_ray` (scene units; > 0: the NeRF stops behind the surface);
    NaN where either is not finite (the render never stops, or the true ray meets nothing)."""
    depth, depth_ray = np.asarray(depth, dtype=np.float64), np.asarray(depth_ray, dtype=np.float64)
    both = np.isfinite(depth) & np.isfinite(depth_ray)
    return np.where(both, depth - np.where(both, depth_ray, 0.0), np.nan)


def termination_summary(depth: np.ndarray, accumulation: np.ndarray, depth_ray: np.ndarray) -> dict[str, float]:
    """A view's termination against the truth: `median_abs_error` (|depth - depth_ray| over pixels where both are
    finite), `hit_opacity` and `miss_opacity` (mean accumulation where the true ray meets a surface, and where it
    meets nothing: ideally 1 and 0)."""
    difference = depth_difference(depth, depth_ray)
    hit = np.isfinite(np.asarray(depth_ray))
    accumulation = np.asarray(accumulation, dtype=np.float64)
    finite = np.isfinite(difference)
    return {"median_abs_error": float(np.median(np.abs(difference[finite]))) if finite.any() else float("nan"),
            "hit_opacity": float(accumulation[hit].mean()) if hit.any() else float("nan"),
            "miss_opacity": float(accumulation[~hit].mean()) if (~hit).any() else float("nan")}
