"""`frob attribute` for a NeRF (`--model nerf:RUN_DIR`): what such a run can take, and the worker that computes a
block of frames' maps of sample positions (`nerf_methods`).

Per frame (H x W pixels, K samples per ray), the worker returns the arrays of `run_format`: `<method>` (H, W) each
pixel's attributions summed over its samples and axes, `<method>_along_ray` (H, W, K) per sample summed over the
three axes, and `sample_t` (H, W, K) the samples' distances t_k along the ray (scene units; compare `depth_ray`).
"""

from __future__ import annotations

import numpy as np
import torch

from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.nerf_methods import RayTarget, attribute_rays
from frobnoscope.interp.attribution.run_format import SAMPLE_T, along_ray
from frobnoscope.interp.attribution.targets import TargetSpec, parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.device import to_numpy
from frobnoscope.models.loading.registry import parse_spec as parse_model_spec
from frobnoscope.models.nerf.adapter import NerfAdapter, load_nerf, midpoints, rays_of_camera, read_nerf_manifest
from frobnoscope.scenes.spec import parse_spec as parse_scene_spec
from frobnoscope.scenes.store import DatasetStore


def prepare_nerf_attribution(store: DatasetStore, config: AttributeConfig, frames: int,
                             device: torch.device) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Check the run (finished), the first `frames` frames of the dataset and the target against each other before
    any work starts (`AttributeConfig` has checked what a NeRF can take); returns the model's name and the maps'
    arrays {name: shape of one frame's entry}."""
    location = parse_model_spec(config.model)[1]
    if not read_nerf_manifest(location).get("complete"):
        raise InterpError(f"the NeRF run {location} is unfinished (its weights would change under a resumed "
                          "attribution); finish it with the `frob train nerf` command that started it")
    adapter = load_nerf(location, device=device)
    run_scene = {**read_nerf_manifest(location)["scene"], "camera": None}
    for frame in store.manifest["frames"][:frames]:
        if {**parse_scene_spec(frame["spec"]).model_dump(mode="json"), "camera": None} != run_scene:
            raise InterpError(f"frame {frame['index']} of {store.path} shows another scene than the NeRF {location} "
                              "was trained on; attribute on views of its own scene (its training dataset, or more "
                              "views from the same orbit)")
    spec = parse_target(config.target)
    if spec.kind == "feature":
        _check_feature(adapter, spec)
    height, width = store.manifest["height"], store.manifest["width"]
    samples = adapter.samples_per_ray
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
        raise InterpError(f"feature id {spec.index} is out of range: hook point {spec.hook!r} has {channels} "
                          f"channels, ids 0 to {channels - 1}")


class NerfAttributeWorker:
    """One process's NeRF, target and dataset; `block(start, stop)` returns the maps of those frames (module
    docstring) and writes nothing. Computes with `threads` intra-op threads (restored by `close`)."""

    def __init__(self, data_dir: str, config: dict, threads: int, device: str = "cpu"):
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.config = AttributeConfig.model_validate(config)
        self.store = DatasetStore.open(data_dir)
        self.adapter = load_nerf(parse_model_spec(self.config.model)[1], device=device).freeze()
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
        device = self.adapter.device
        origins, directions = (rays.to(device) for rays in
                               rays_of_camera(parse_scene_spec(self.store.manifest["frames"][k]["spec"]).camera))
        edges = self.adapter.sample_intervals(origins, directions)
        t = midpoints(edges)
        out = {SAMPLE_T: to_numpy(t.reshape(height, width, -1))}
        rays = torch.from_numpy(np.flatnonzero(mask.reshape(-1))).to(device)
        truth = torch.from_numpy(rgb.reshape(-1, 3)).to(device)
        entries = origins + directions * edges[:, :1]
        inputs = (entries[rays], directions[rays], edges[rays], truth[rays])
        for method in self.config.methods:
            along = torch.zeros(height * width, t.shape[-1], device=device)
            if len(rays):
                along[rays] = attribute_rays(method, self.forward, t[rays] - edges[rays, :1], *inputs,
                                             self.config.settings, frame=k, box=self.adapter.box) / len(rays)
            out[along_ray(method)] = to_numpy(along.reshape(height, width, -1))
            out[method] = out[along_ray(method)].sum(axis=-1)
        return out

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)
