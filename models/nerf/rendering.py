"""Volume rendering of intervals along rays (Max 1995; NeRF's quadrature).

For interval i of a ray, [t_i, t_{i+1}) with length delta_i and constant density sigma_i (1 / scene units):
    alpha_i = 1 - exp(-sigma_i delta_i)                  probability that the ray stops inside interval i
    T_i     = prod_{j < i} (1 - alpha_j)                  transmittance: probability that it reaches interval i
    w_i     = T_i alpha_i                                 sum_i w_i = 1 - T_K = accumulation (opacity) <= 1
    colour  = sum_i w_i c_i + (1 - accumulation) background
    depth   = sum_i w_i m_i / accumulation                expected termination distance (m_i: interval midpoint)
A ray stops somewhere before leaving the box with probability `accumulation`; the rest of it sees the background
colour (the dataset's constant `spec.background`, linear RGB). Distances are scene units along the unit ray, so
`depth` compares with the ground truth's `depth_ray`.
"""

from __future__ import annotations

import torch


def midpoints(edges: torch.Tensor) -> torch.Tensor:
    return 0.5 * (edges[..., 1:] + edges[..., :-1])


def render_weights(density: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(R, K) densities on the intervals of (R, K + 1) edges -> (R, K) weights w_i = T_i alpha_i."""
    optical_depth = density * (edges[..., 1:] - edges[..., :-1])
    alpha = 1.0 - torch.exp(-optical_depth)
    # T_i = exp(-sum_{j<i} sigma_j delta_j): an exclusive cumulative sum, exact and stable
    before = torch.cumsum(optical_depth, dim=-1) - optical_depth
    return alpha * torch.exp(-before)


def composite(weights: torch.Tensor, values: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """sum_i w_i v_i over (R, K, C) values, plus (1 - sum_i w_i) x background (C,) when given."""
    out = (weights[..., None] * values).sum(dim=-2)
    if background is not None:
        out = out + (1.0 - weights.sum(dim=-1, keepdim=True)) * background
    return out


def expected_depth(weights: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(R,) expected termination distance given that the ray stops (NaN where it never does)."""
    accumulation = weights.sum(dim=-1)
    depth = (weights * midpoints(edges)).sum(dim=-1) / accumulation
    return torch.where(accumulation > 1e-6, depth, torch.full_like(depth, float("nan")))


def peak_depth(weights: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(R,) midpoint of each ray's heaviest interval (its mode)."""
    return midpoints(edges).gather(-1, weights.argmax(dim=-1, keepdim=True))[..., 0]


def median_depth(weights: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(R,) first distance at which the accumulated weight reaches half the ray's total (interpolated within
    the interval)."""
    cumulative = torch.cumsum(weights, dim=-1)
    half = 0.5 * cumulative[..., -1:]
    index = torch.searchsorted(cumulative.contiguous(), half.contiguous()).clamp(max=weights.shape[-1] - 1)
    before = torch.where(index > 0, cumulative.gather(-1, (index - 1).clamp_min(0)), torch.zeros_like(half))
    inside = weights.gather(-1, index).clamp_min(1e-12)
    fraction = ((half - before) / inside).clamp(0.0, 1.0)
    start, end = edges.gather(-1, index), edges.gather(-1, index + 1)
    return (start + fraction * (end - start))[..., 0]
