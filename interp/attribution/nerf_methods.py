"""Attribution of a NeRF's rendered pixels to the field's input coordinates, the positions of the samples along
each pixel's ray.

A pixel's ray (`NerfAdapter`'s `rays_of_camera`, exactly as the ground truth casts it) is sampled as the model
renders it (deterministic coarse + fine intervals between where the ray enters and leaves the field's box, t_0 and
t_K, K in all), and the field is evaluated at the K interval midpoints p_k = o + t_k d. The attribution inputs are
the offsets (t_k - t_0) d of those points from the ray's entry point e = o + t_0 d (K x 3 numbers per ray); the
interval edges, the view directions and the composite over the background stay fixed. So:
  integrated_gradients  moves every sample along its ray from the entry point (offset 0: all K samples at the
                        box's edge, which a fitted field leaves empty, so the pixel shows about the background) out
                        to its place, never leaving the box (the field is 0 outside it, a jump no gradient sees): a
                        ray's attributions add up to its share of the target's change from that baseline (its own
                        change / the region's pixel count), a frame's to the target's change (completeness)
  saliency              |d target / d offset|, summed over the three axes
  input_x_gradient      offset . gradient (the first-order version of the above)
  smoothgrad            saliency averaged over `smoothgrad_samples` copies with Gaussian noise on the offsets, of
                        standard deviation `smoothgrad_stdev` x the field box's diagonal
Targets, per pixel of the region (default: the frame), averaged over the region's pixels:
  error[:REGION]        squared error of the rendered colour against the frame's `rgb` (linear, mean over colours)
  output[:X,Y|REGION]   the rendered colour (linear, mean over colours)
  feature:HOOK:ID[:REGION]  channel ID of the field's hook point HOOK (`frob models hooks nerf:RUN`), summed over
                        the ray's K samples
A pixel outside the region does not move the target: its attributions are exactly 0 and it is not computed.
Integrated gradients moves the samples in from the entry point, so the first to cross a surface on the way are the
deepest ones: on a sharp surface its mass lies on the samples behind the surface rather than on the one at it,
while the local methods (saliency, input x gradient, SmoothGrad) find the surface sample itself
(`tests/interp/attribution/test_nerf_attribution.py` plants a surface).
"""

from __future__ import annotations

import torch
from torch import nn

from frobnoscope.interp.attribution.methods import MethodSettings, frame_noise_seed
from frobnoscope.interp.attribution.targets import TargetSpec
from frobnoscope.models.nerf.adapter import NerfAdapter

NERF_METHODS = ("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad")
NERF_TARGETS = ("error", "output", "feature")
POINTS_PER_PASS = 2**16  # sample points per forward and backward pass


class RayTarget(nn.Module):
    """forward(offsets (R, K, 3), entries (R, 3), directions (R, 3), edges (R, K + 1), truth (R, 3)) -> (R,): the
    target of each ray (module docstring) with its samples at entries + offsets."""

    def __init__(self, adapter: NerfAdapter, spec: TargetSpec):
        super().__init__()
        self.adapter, self.spec = adapter, spec

    def forward(self, offsets, entries, directions, edges, truth) -> torch.Tensor:
        points = entries[:, None] + offsets
        if self.spec.kind == "feature":
            captured = {}
            with self.adapter.intervene(self.spec.hook, lambda output: captured.setdefault("output", output)):
                self.adapter.evaluate_field(points, directions[:, None].expand_as(points))
            values = captured["output"]
            return (values if values.ndim == 2 else values[..., self.spec.index]).sum(dim=-1)
        density, rgb = self.adapter.evaluate_field(points, directions[:, None].expand_as(points))
        colour = self.adapter.composite_colour(self.adapter.sample_weights(density, edges), rgb)
        if self.spec.kind == "output":
            return colour.mean(dim=-1)
        return (colour - truth).pow(2).mean(dim=-1)


def attribute_rays(method: str, forward: RayTarget, distances: torch.Tensor, entries, directions, edges, truth,
                   settings: MethodSettings, *, frame: int, box: torch.Tensor) -> torch.Tensor:
    """(R, K) attributions of `method` per sample (summed over the three axes) of each ray's own target; the
    samples lie `distances` (R, K) past the rays' entry points."""
    from captum import attr

    rays_per_pass = max(1, POINTS_PER_PASS // distances.shape[-1])
    parts = []
    for first in range(0, len(distances), rays_per_pass):
        part = slice(first, first + rays_per_pass)
        offsets = (directions[part, None] * distances[part, :, None]).requires_grad_(True)
        args = (entries[part], directions[part], edges[part], truth[part])
        if method == "integrated_gradients":
            values = attr.IntegratedGradients(forward).attribute(
                offsets, baselines=0.0, additional_forward_args=args, n_steps=settings.n_steps,
                internal_batch_size=len(offsets))
        elif method == "saliency":
            values = attr.Saliency(forward).attribute(offsets, additional_forward_args=args)
        elif method == "input_x_gradient":
            values = attr.InputXGradient(forward).attribute(offsets, additional_forward_args=args)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(frame_noise_seed(settings.seed, frame, part=first + 1))
                values = attr.NoiseTunnel(attr.Saliency(forward)).attribute(
                    offsets, nt_type="smoothgrad", nt_samples=settings.smoothgrad_samples, nt_samples_batch_size=1,
                    stdevs=settings.smoothgrad_stdev * float((box[1] - box[0]).norm()), additional_forward_args=args)
        parts.append(values.detach().sum(dim=-1))
    return torch.cat(parts)
