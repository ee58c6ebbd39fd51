"""Attribution along one pixel's ray: its rendered colour (or its error) attributed to the positions of the samples
on the ray, one ray of what `frob attribute --model nerf:RUN --target output:COL,ROW` computes (`nerf_methods`,
`nerf_job`), for the app's NeRF page; and how much of it lies on the surface the ray truly meets (`nerf_scores`).

The ray is sampled as the render samples it (edges t_0 < ... < t_K, midpoints m_k); the inputs are the samples'
offsets (m_k - t_0) d from the ray's entry point, and a sample's attribution is summed over the three axes. Targets:
  output   the pixel's rendered colour, mean over the three channels
  error    its squared error against the true colour `truth` (linear RGB), mean over the channels
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from frobnoscope.interp.attribution.methods import MethodSettings
from frobnoscope.interp.attribution.nerf_methods import NERF_METHODS, RayTarget, attribute_rays
from frobnoscope.interp.attribution.nerf_scores import DEFAULT_SURFACE_TOLERANCE, SURFACE, surface_scores
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.evaluation.nerf_ray import pixel_ray
from frobnoscope.models.nerf.adapter import NerfAdapter, midpoints
from frobnoscope.scenes.spec import Camera

RAY_TARGETS = ("output", "error")


@dataclass(frozen=True)
class RayAttribution:
    """`values` (K,) per-sample attributions of `method` at distances `t` (K,) along the ray."""

    method: str
    target: str
    t: np.ndarray
    values: np.ndarray


def attribute_ray(adapter: NerfAdapter, camera: Camera, row: int, col: int, method: str, target: str = "output",
                  truth=None, settings: MethodSettings | None = None, frame: int = 0) -> RayAttribution:
    """Per-sample attributions of pixel (row, col)'s `target` by `method` (`frame`: the view's index, which seeds
    SmoothGrad's noise as a run's frame would)."""
    if method not in NERF_METHODS:
        raise InterpError(f"unknown NeRF attribution method {method!r}; choose from {', '.join(NERF_METHODS)}")
    if target not in RAY_TARGETS:
        raise InterpError(f"unknown ray target {target!r}; choose from {', '.join(RAY_TARGETS)}")
    if target == "error" and truth is None:
        raise InterpError("the error target needs the pixel's true colour")
    settings = settings or MethodSettings()
    origin, direction = pixel_ray(camera, row, col)
    edges = adapter.sample_intervals(origin, direction)
    t = midpoints(edges)
    entry = origin + direction * edges[:, :1]
    truth = torch.zeros(1, 3) if truth is None else torch.as_tensor(np.asarray(truth, dtype=np.float32)).reshape(1, 3)
    forward = RayTarget(adapter, parse_target(f"output:{col},{row}" if target == "output" else f"error:at={col},{row}"))
    values = attribute_rays(method, forward, t - edges[:, :1], entry, direction, edges, truth, settings,
                            frame=frame, box=adapter.box)
    return RayAttribution(method, target, t[0].double().numpy(), values[0].double().numpy())


def surface_share(attribution: RayAttribution, depth_ray: float,
                  tolerance: float = DEFAULT_SURFACE_TOLERANCE) -> dict[str, float]:
    """The ray's scores on the true surface (`nerf_scores.surface_scores`, cause `surface`): `energy_abs` (share of
    |a| on samples within `tolerance` of depth_ray), `pointing` (1 if the largest |a| is one of them) and `area`
    (their share of the samples: what an even spread would score); NaN for a ray that meets nothing."""
    scores = surface_scores(attribution.values[None], attribution.t[None], np.array([depth_ray], dtype=np.float64),
                            tolerance, SURFACE)
    return {name: float(values[0]) for name, values in scores.items()}
