"""Where along each ray the field is evaluated: stratified intervals, then importance intervals.

Samples are intervals [start, end) of t (scene units along the unit ray direction); the field is evaluated at
each interval's midpoint and its density is taken as constant over the interval (`rendering`). Every random
draw comes from an explicit `torch.Generator`, so a step is reproducible from its seed; `generator=None` gives
the deterministic version used at evaluation (bin midpoints, evenly spaced CDF quantiles).
"""

from __future__ import annotations

import torch


def stratified_edges(near: torch.Tensor, far: torch.Tensor, n_intervals: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """(R,) near and far -> (R, n_intervals + 1) increasing edges from near to far.

    Without a generator the edges are evenly spaced; with one, each inner edge moves to a uniform random position
    between the midpoints of its two neighbouring even bins, which keeps the edges ordered."""
    fractions = torch.linspace(0.0, 1.0, n_intervals + 1, device=near.device).expand(len(near), -1)
    if generator is not None:
        mids = 0.5 * (fractions[:, 1:] + fractions[:, :-1])
        lower = torch.cat([fractions[:, :1], mids], dim=-1)
        upper = torch.cat([mids, fractions[:, -1:]], dim=-1)
        jitter = uniform(fractions.shape, generator, near.device)
        fractions = lower + (upper - lower) * jitter
        fractions = torch.cat([fractions[:, :1].zero_(), fractions[:, 1:-1], torch.ones_like(fractions[:, :1])], dim=-1)
    return near[:, None] + (far - near)[:, None] * fractions


def importance_edges(edges: torch.Tensor, weights: torch.Tensor, n_samples: int,
                     generator: torch.Generator | None = None, histogram_padding: float = 0.01) -> torch.Tensor:
    """Draw `n_samples` new edges per ray from the piecewise-constant density that `weights` (R, K) put on the
    intervals `edges` (R, K + 1), by inverse transform sampling; returns (R, n_samples), sorted.

    `histogram_padding` is added to every weight (relative to the mean) so that empty rays still spread samples.
    Without a generator the quantiles are evenly spaced (deterministic); with one, stratified in [k/n, (k+1)/n)."""
    weights = weights.detach() + histogram_padding * weights.detach().mean(dim=-1, keepdim=True) + 1e-12
    pdf = weights / weights.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), pdf.cumsum(dim=-1)], dim=-1).clamp(max=1.0)  # (R, K + 1)
    base = torch.arange(n_samples, device=edges.device, dtype=edges.dtype).expand(len(edges), -1)
    if generator is None:
        quantiles = (base + 0.5) / n_samples
    else:
        quantiles = (base + uniform(base.shape, generator, edges.device)) / n_samples
    above = torch.searchsorted(cdf.contiguous(), quantiles.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)
    below = above - 1
    cdf_low, cdf_high = cdf.gather(-1, below), cdf.gather(-1, above)
    t_low, t_high = edges.detach().gather(-1, below), edges.detach().gather(-1, above)
    fraction = ((quantiles - cdf_low) / (cdf_high - cdf_low).clamp_min(1e-12)).clamp(0.0, 1.0)
    return t_low + fraction * (t_high - t_low)


def merge_edges(edges: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Union of two sets of edges per ray, sorted: (R, K + 1) and (R, M) -> (R, K + M + 1)."""
    return torch.sort(torch.cat([edges, extra], dim=-1), dim=-1).values


def uniform(shape, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """U[0, 1) numbers from a CPU `generator`, on `device`: the same numbers whatever the device."""
    return torch.rand(shape, generator=generator).to(device)
