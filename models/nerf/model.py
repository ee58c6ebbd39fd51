"""`NerfModel`: a `NerfField` plus how rays are sampled and composited: rays in, pixels out.

Per ray (world frame, unit direction): near/far where it crosses the field's box (`rays.near_far`);
`coarse_samples` stratified intervals, whose densities (no gradient) give weights; `fine_samples` more edges
drawn from those weights; the field evaluated (density and colour) on the union of both sets of intervals;
composited over the constant `background` colour (`rendering`). One field serves both passes.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from frobnoscope.engine.config import Config
from frobnoscope.models.nerf.field import FieldConfig, NerfField
from frobnoscope.models.nerf.rays import near_far
from frobnoscope.models.nerf.rendering import composite, expected_depth, median_depth, peak_depth, render_weights
from frobnoscope.models.nerf.sampling import importance_edges, merge_edges, stratified_edges

RENDER_CHUNK = 4096  # rays per forward pass when rendering whole images
DERIVED = {"peak_depth": peak_depth, "median_depth": median_depth}  # more outputs `render` can give, from weights and edges


class SamplingConfig(Config):
    """How many points each ray samples: `coarse_samples` stratified, then `fine_samples` by importance."""

    coarse_samples: int = Field(32, ge=1, description="stratified samples per ray")
    fine_samples: int = Field(32, ge=0, description="importance samples per ray, drawn from the coarse weights")


class NerfModel(nn.Module):
    def __init__(self, field_config: FieldConfig, sampling: SamplingConfig, box, background,
                 generator: torch.Generator | None = None):
        """`box` (2, 3): world-frame region the field models; `background` (3,): linear RGB seen by rays that do not
        stop inside it."""
        super().__init__()
        self.sampling = sampling
        self.field = NerfField(field_config, box, generator)
        self.register_buffer("background", torch.as_tensor(background, dtype=torch.float32).reshape(3).clone())

    @property
    def box(self) -> torch.Tensor:
        return self.field.box

    def sample_edges(self, origins: torch.Tensor, directions: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """(R, coarse + fine + 1) interval edges along each ray (t, scene units): stratified, then importance."""
        near, far = near_far(origins, directions, self.box)
        coarse = stratified_edges(near, far, self.sampling.coarse_samples, generator)
        if self.sampling.fine_samples == 0:
            return coarse
        with torch.no_grad():
            points = origins[:, None] + directions[:, None] * (0.5 * (coarse[:, 1:] + coarse[:, :-1]))[..., None]
            weights = render_weights(self.field.density(points), coarse)
        return merge_edges(coarse, importance_edges(coarse, weights, self.sampling.fine_samples, generator))

    def render_rays(self, origins: torch.Tensor, directions: torch.Tensor,
                    generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Render (R, 3) rays: `rgb` (R, 3) linear, `accumulation` (R,), `depth` (R,) expected termination distance
        (NaN where nothing is hit), and the samples: `edges` (R, K + 1), `weights` (R, K), `density` (R, K)."""
        edges = self.sample_edges(origins, directions, generator)
        mids = 0.5 * (edges[:, 1:] + edges[:, :-1])
        points = origins[:, None] + directions[:, None] * mids[..., None]
        density, rgb = self.field(points, directions[:, None].expand_as(points))
        weights = render_weights(density, edges)
        return {"rgb": composite(weights, rgb, self.background), "accumulation": weights.sum(dim=-1),
                "depth": expected_depth(weights, edges), "edges": edges, "weights": weights, "density": density}

    @torch.no_grad()
    def render(self, origins: torch.Tensor, directions: torch.Tensor, keys=("rgb", "accumulation", "depth"),
               chunk: int = RENDER_CHUNK) -> dict[str, torch.Tensor]:
        """Deterministic rendering of any number of rays, `chunk` rays at a time; returns the chosen outputs:
        any of `render_rays`' per-ray outputs, `peak_depth` (midpoint of the heaviest interval) and `median_depth`
        (where the accumulated weight reaches half its total)."""
        parts = []
        for start in range(0, len(origins), chunk):
            part = self.render_rays(origins[start:start + chunk], directions[start:start + chunk])
            parts.append({key: DERIVED[key](part["weights"], part["edges"]) if key in DERIVED else part[key] for key in keys})
        return {key: torch.cat([part[key] for part in parts]) for key in keys}
