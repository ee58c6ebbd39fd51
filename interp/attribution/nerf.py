"""`frob attribute` for a NeRF (`--model nerf:RUN_DIR`): each rendered pixel attributed to the field's input
coordinates, the positions of the samples along its ray.

A pixel's ray (`models.nerf.rays`, exactly as the ground truth casts it) is sampled as the model renders it
(deterministic coarse + fine intervals between where the ray enters and leaves the field's box, t_0 and t_K, K
in all), and the field is evaluated at the K interval midpoints p_k = o + t_k d. The attribution inputs are the
offsets (t_k - t_0) d of those points from the ray's entry point e = o + t_0 d (K x 3 numbers per ray); the
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

Arrays in RUN/maps.zarr (N frames, H x W pixels, K samples):
  <method>            (N, H, W) each pixel's attributions summed over its samples and axes
  <method>_along_ray  (N, H, W, K) per sample, summed over the three axes
  sample_t            (N, H, W, K) the samples' distances t_k along the ray (scene units; compare `depth_ray`)

Scores (`score_nerf_run`): the true cause of a pixel is the surface its ray meets first, at `depth_ray`. Per ray that
hits one, for the cause `surface` (samples within `tolerance` scene units of it) and `front` (samples in the empty
space before it, t < depth_ray - tolerance: mass there credits floaters): the share of the ray's |a| on the cause's
samples (energy), whether its largest |a| is there (pointing), and the share of its samples there (`area`: what a map
spread evenly would score); the `random` rows score uniform [0, 1] per-sample maps drawn from
numpy.random.default_rng([seed, frame]). A ray whose map is all zero is left out of that method's row (`rays`
counts the rest). Integrated gradients moves the samples in from the entry point, so the first to cross a surface
on the way are the deepest ones: on a sharp surface its mass lies on the samples behind the surface rather than on
the one at it, while the local methods (saliency, input x gradient, SmoothGrad) find the surface sample itself
(`tests/test_nerf_attribution.py` plants a surface)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from frobnoscope.interp.attribution.methods import MethodSettings, frame_noise_seed
from frobnoscope.interp.attribution.scores import RANDOM, mean_scores, random_maps
from frobnoscope.interp.attribution.targets import TargetSpec, parse_target
from frobnoscope.models.errors import ModelError
from frobnoscope.models.loading.registry import parse_spec as parse_model_spec
from frobnoscope.models.nerf.adapter import NerfAdapter, load_nerf
from frobnoscope.models.nerf.model import RENDER_CHUNK
from frobnoscope.models.nerf.rays import rays_of_camera
from frobnoscope.models.nerf.rendering import composite, midpoints, render_weights
from frobnoscope.models.nerf.train import read_nerf_manifest
from frobnoscope.scenes.spec import parse_spec as parse_scene_spec
from frobnoscope.scenes.store import DatasetStore

NERF_METHODS = ("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad")
NERF_TARGETS = ("error", "output", "feature")
POINTS_PER_PASS = 2**16  # sample points per forward and backward pass
SAMPLE_T = "sample_t"
SURFACE = "surface"  # causes of a NeRF pixel: the surface its ray meets, and the empty space in front of it
FRONT = "front"
CAUSE_NAMES = {SURFACE: "surface (|t - depth_ray| <= tolerance)", FRONT: "front (t < depth_ray - tolerance)"}
DEFAULT_SURFACE_TOLERANCE = 0.05  # scene units, as `nerf_points`' default occupancy step


def along_ray(method: str) -> str:
    return f"{method}_along_ray"


def is_nerf_spec(model: str) -> bool:
    return parse_model_spec(model)[0] in ("nerf", "nerfstudio")


class RayTarget(nn.Module):
    """forward(offsets (R, K, 3), entries (R, 3), directions (R, 3), edges (R, K + 1), truth (R, 3)) -> (R,): the
    target of each ray (module docstring) with its samples at entries + offsets."""

    def __init__(self, adapter: NerfAdapter, spec: TargetSpec):
        super().__init__()
        self.adapter, self.spec = adapter, spec

    def forward(self, offsets, entries, directions, edges, truth) -> torch.Tensor:
        model = self.adapter.model
        points = entries[:, None] + offsets
        if self.spec.kind == "feature":
            captured = {}
            with self.adapter.intervene(self.spec.hook, lambda output: captured.setdefault("output", output)):
                model.field(points, directions[:, None].expand_as(points))
            values = captured["output"]
            return (values if values.ndim == 2 else values[..., self.spec.index]).sum(dim=-1)
        density, rgb = model.field(points, directions[:, None].expand_as(points))
        colour = composite(render_weights(density, edges), rgb, model.background)
        if self.spec.kind == "output":
            return colour.mean(dim=-1)
        return (colour - truth).pow(2).mean(dim=-1)


def check_nerf_config(config) -> None:
    """One-line errors for what a NeRF run cannot take (`config`: an `AttributeConfig`)."""
    kind, location = parse_model_spec(config.model)
    if kind == "nerfstudio":
        raise ModelError("attribution to input coordinates works for `frob train nerf` runs (nerf:RUN_DIR); "
                         "nerfstudio runs are not supported")
    if not read_nerf_manifest(location).get("complete"):
        raise ModelError(f"the NeRF run {location} is unfinished (its weights would change under a resumed "
                         "attribution); finish it with the `frob train nerf` command that started it")
    others = [m for m in config.methods if m not in NERF_METHODS]
    if others:
        raise ModelError(f"{', '.join(others)} do not apply to a NeRF; its methods: {', '.join(NERF_METHODS)}")
    spec = parse_target(config.target)
    if spec.kind not in NERF_TARGETS:
        raise ModelError(f"a NeRF takes targets error[:REGION], output:X,Y|REGION or feature:HOOK:ID[:REGION], "
                         f"not {config.target!r}")
    for name in ("layer", "sae", "probes"):
        if getattr(config, name) is not None:
            raise ModelError(f"--{name} does not apply to a NeRF")
    for name in ("internal_batch_size", "perturbations_per_eval"):
        if getattr(config.settings, name) is not None:
            raise ModelError(f"--{name.replace('_', '-')} does not apply to a NeRF (it runs {POINTS_PER_PASS} "
                             "sample points per pass)")


def prepare_nerf_attribution(store: DatasetStore, config, frames: int) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Check the run, the first `frames` frames of the dataset and the target against each other before any work
    starts; returns the model's name and the maps' arrays {name: shape of one frame's entry}."""
    check_nerf_config(config)
    location = parse_model_spec(config.model)[1]
    adapter = load_nerf(location)
    run_scene = {**read_nerf_manifest(location)["scene"], "camera": None}
    for frame in store.manifest["frames"][:frames]:
        if {**parse_scene_spec(frame["spec"]).model_dump(mode="json"), "camera": None} != run_scene:
            raise ModelError(f"frame {frame['index']} of {store.path} shows another scene than the NeRF {location} was "
                             "trained on; attribute on views of its own scene (its training dataset, or more views "
                             "from the same orbit)")
    spec = parse_target(config.target)
    if spec.kind == "feature":
        _check_feature(adapter, spec)
    height, width = store.manifest["height"], store.manifest["width"]
    samples = _sample_count(adapter)
    arrays = {SAMPLE_T: (height, width, samples)}
    for method in config.methods:
        arrays[method] = (height, width)
        arrays[along_ray(method)] = (height, width, samples)
    return adapter.name, arrays


def _check_feature(adapter: NerfAdapter, spec: TargetSpec) -> None:
    adapter.hooks.site(spec.hook)  # a one-line error naming similar hook points
    captured = adapter.capture(np.zeros((1, 3), dtype=np.float32), [spec.hook])[spec.hook]
    channels = 1 if captured.ndim == 1 else captured.shape[-1]
    if spec.index >= channels:
        raise ModelError(f"feature id {spec.index} is out of range: hook point {spec.hook!r} has {channels} "
                         f"channels, ids 0 to {channels - 1}")


def _sample_count(adapter: NerfAdapter) -> int:
    sampling = adapter.model.sampling
    return sampling.coarse_samples + sampling.fine_samples


class NerfAttributeWorker:
    """One process's NeRF, target and dataset; `block(start, stop)` returns the maps of those frames (module
    docstring) and writes nothing. Computes with `threads` intra-op threads (restored by `close`)."""

    def __init__(self, data_dir: str, config: dict, threads: int = 1):
        from frobnoscope.interp.attribution.run import AttributeConfig

        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.config = AttributeConfig.from_dict(config)
        self.store = DatasetStore.open(data_dir)
        self.adapter = load_nerf(parse_model_spec(self.config.model)[1])
        for parameter in self.adapter.model.parameters():
            parameter.requires_grad_(False)
        self.spec = parse_target(self.config.target)
        self.forward = RayTarget(self.adapter, self.spec)

    def block(self, start: int, stop: int) -> dict[str, np.ndarray]:
        region = self.spec.region
        rgb = np.asarray(self.store.channel("rgb")[start:stop])
        gt = {name: np.asarray(self.store.channel(name)[start:stop]) for name in region.channels()}
        masks = region.mask(gt, rgb.shape[:3])
        frames = [self._frame(k, rgb[i], masks[i]) for i, k in enumerate(range(start, stop))]
        return {name: np.stack([frame[name] for frame in frames]) for name in frames[0]}

    def _frame(self, k: int, rgb: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        height, width = mask.shape
        origins, directions = rays_of_camera(parse_scene_spec(self.store.manifest["frames"][k]["spec"]).camera)
        with torch.no_grad():  # in chunks of rays, as the model renders
            edges = torch.cat([self.adapter.model.sample_edges(origins[i:i + RENDER_CHUNK],
                                                               directions[i:i + RENDER_CHUNK])
                               for i in range(0, len(origins), RENDER_CHUNK)])
        t = midpoints(edges)
        out = {SAMPLE_T: t.reshape(height, width, -1).numpy()}
        rays = torch.from_numpy(np.flatnonzero(mask.reshape(-1)))
        truth = torch.from_numpy(rgb.reshape(-1, 3))
        entries = origins + directions * edges[:, :1]
        inputs = (entries[rays], directions[rays], edges[rays], truth[rays])
        for method in self.config.methods:
            along = torch.zeros(height * width, t.shape[-1])
            if len(rays):
                along[rays] = attribute_rays(method, self.forward, t[rays] - edges[rays, :1], *inputs,
                                             self.config.settings, frame=k, box=self.adapter.model.box) / len(rays)
            out[along_ray(method)] = along.reshape(height, width, -1).numpy()
            out[method] = out[along_ray(method)].sum(axis=-1)
        return out

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)


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


# --- scores --------------------------------------------------------------------------------------------------------


def surface_scores(along: np.ndarray, t: np.ndarray, depth: np.ndarray, tolerance: float,
                   cause: str = SURFACE) -> dict[str, np.ndarray]:
    """Per ray (any leading shape; `along`, `t` (..., K), `depth` (...)): `energy_abs`, `energy_pos` (shares of |a|
    and max(a, 0) on the cause's samples: |t - depth| <= tolerance for `surface`, t < depth - tolerance for
    `front`), `pointing` (1 if the largest |a| is on one), `area` (share of samples there). NaN for a ray that
    misses (depth not finite) or has no mass of that kind."""
    along = along.astype(np.float64)
    with np.errstate(invalid="ignore"):
        near = (np.abs(t - depth[..., None]) <= tolerance if cause == SURFACE else
                t < depth[..., None] - tolerance)
    hit = np.isfinite(depth)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, mass in (("energy_abs", np.abs(along)), ("energy_pos", np.maximum(along, 0))):
            total = mass.sum(-1)
            out[name] = np.where(hit & (total > 0), (mass * near).sum(-1) / total, np.nan)
        peak = np.take_along_axis(near, np.abs(along).argmax(-1)[..., None], -1)[..., 0]
        out["pointing"] = np.where(hit & (np.abs(along).max(-1) > 0), peak.astype(np.float64), np.nan)
        out["area"] = np.where(hit, near.mean(-1), np.nan)
    return out


def nerf_causes(causes: Sequence[str] | None, tolerance: float | None) -> tuple[list[str], float]:
    """The checked causes (default: both) and surface tolerance (default 0.05) of a NeRF run's scores."""
    causes = list(causes or CAUSE_NAMES)
    unknown = [cause for cause in causes if cause not in CAUSE_NAMES]
    if unknown:
        raise ModelError(f"a NeRF run is scored against the surface each ray meets (--cause {SURFACE}) and the empty "
                         f"space in front of it (--cause {FRONT}); not {', '.join(unknown)}")
    tolerance = DEFAULT_SURFACE_TOLERANCE if tolerance is None else float(tolerance)
    if tolerance <= 0:
        raise ModelError(f"--surface-tolerance must be positive, got {tolerance}")
    return causes, tolerance


def score_nerf_run(run, manifest: dict, causes: Sequence[str] | None, tolerance: float | None, seed: int,
                   samples_per_block: int = 2**22) -> list[dict]:
    """Rows of scores.csv for a NeRF run (module docstring), over the rays of the target's region that hit a
    surface and have attribution mass; frames are read `samples_per_block` ray samples at a time."""
    import zarr

    causes, tolerance = nerf_causes(causes, tolerance)
    group = zarr.open_group(str(run / "maps.zarr"), mode="r")
    store = DatasetStore.open(manifest["dataset"]["path"])
    spec = parse_target(manifest["target"])
    n = manifest["frames"]
    block = max(1, samples_per_block // int(np.prod(group[SAMPLE_T].shape[1:])))
    names = [*manifest["methods"], RANDOM]
    sums = {(cause, name): {key: [] for key in ("energy_abs", "energy_pos", "pointing", "area")}
            for cause in causes for name in names}
    for start in range(0, n, block):
        stop = min(start + block, n)
        depth = np.asarray(store.channel("depth_ray")[start:stop])
        gt = {name: np.asarray(store.channel(name)[start:stop]) for name in spec.region.channels()}
        region = spec.region.mask(gt, depth.shape)
        t = np.asarray(group[SAMPLE_T][start:stop])
        for name in names:
            along = (np.asarray(group[along_ray(name)][start:stop]) if name != RANDOM else
                     random_maps(range(start, stop), t.shape[1:], seed))
            for cause in causes:
                for key, values in surface_scores(along, t, depth, tolerance, cause).items():
                    sums[cause, name][key].append(values[region])
    rows = []
    for (cause, name), entry in sums.items():
        count, means = mean_scores(entry)
        rows.append({"target": manifest["target"], "cause": CAUSE_NAMES[cause], "method": name, "frames": n,
                     "rays": count, **means, "tolerance": tolerance})
    return rows

