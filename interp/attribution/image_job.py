"""`frob attribute` for an image model: the target checked against the model, and the worker that computes a block
of frames' maps (pixels or a layer's grid; `methods`, `targets`).

`ImageAttributeWorker` is built in each worker process from picklable settings (it loads the model and opens the
dataset itself) and returns a block's maps; it writes nothing (`run` writes and journals them).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.methods import LayerTap
from frobnoscope.interp.attribution.methods import attribute as attribute_maps
from frobnoscope.interp.attribution.targets import (
    ErrorTarget,
    FeatureTarget,
    OutputTarget,
    ProbeTarget,
    TargetSpec,
    hook_output,
    parse_target,
)
from frobnoscope.interp.errors import InterpError
from frobnoscope.models import load_model
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.scenes.store import DatasetStore


def load_attribution_model(spec: str, device: str | torch.device | None = "cpu") -> AutoencoderAdapter:
    """The adapter for `spec` on `device` with its parameters frozen: attribution needs gradients for inputs only,
    so the backward pass skips the weights' gradients."""
    adapter = load_model(spec, device=device)
    for parameter in adapter.module.parameters():
        parameter.requires_grad_(False)
    return adapter


def prepare_image_attribution(store: DatasetStore, config: AttributeConfig,
                              device: torch.device) -> tuple[str, dict[str, tuple[int, int]]]:
    """Check the model against the frame size and the target (loading the model once, on `device`) before any
    work starts; returns the model's name and the maps' arrays {method: (H, W)}."""
    size = (store.manifest["height"], store.manifest["width"])
    adapter = load_attribution_model(config.model, device)
    adapter.preprocess(torch.zeros(1, 3, *size))  # a frame size the model cannot take fails here
    spec = parse_target(config.target)
    if config.sae is not None and spec.kind == "feature":  # an SAE of another model's activations: meaningless
        from frobnoscope.interp.sae.training import check_trained_on

        check_trained_on(config.sae, {"spec": config.model}, _hook_channels(adapter, spec.hook, size),
                         f"model {config.model} at {spec.hook}")
    build_target(adapter, spec, size, sae=config.sae, probes=config.probes, layer=config.layer)
    return adapter.name, {method: size for method in config.methods}


def build_target(adapter: AutoencoderAdapter, spec: TargetSpec, frame_size: tuple[int, int], *, sae: str | None = None,
                 probes: str | None = None, layer: str | None = None) -> torch.nn.Module:
    """The target wrapper for `spec`, checked against the model: hook points exist, feature ids are in range, the
    probe or SAE fits the hook, and `layer` runs before the target's hook point (`AttributeConfig` has checked that
    `sae` comes with feature targets only and `probes` with probe targets)."""
    names = adapter.hook_points()
    if layer is not None:
        adapter.hooks.site(layer)
    if spec.kind in ("error", "output"):
        return ErrorTarget(adapter) if spec.kind == "error" else OutputTarget(adapter)
    if spec.kind == "feature":
        hook = spec.hook
        channels = _hook_channels(adapter, hook, frame_size)
        sae_module = None
        if sae is not None:
            sae_module, count = _load_sae(sae, hook, channels)
            what = f"the SAE in {sae} has {count} latents"
        else:
            count = channels
            what = f"hook point {hook!r} has {channels} channels (or give an SAE directory for SAE latents)"
        if spec.index >= count:
            raise InterpError(f"feature id {spec.index} is out of range: {what}, ids 0 to {count - 1}")
        target = FeatureTarget(adapter, hook, spec.index, spec.region.is_point, sae_module)
    else:
        from frobnoscope.interp.probes.run import load_fitted

        factor, _, label = spec.factor.partition("=")
        hook, fitted = load_fitted(probes, factor, spec.hook)
        channels = _hook_channels(adapter, hook, frame_size)
        if fitted.weights.shape[0] != channels:
            raise InterpError(f"the probe of {factor!r} at {hook!r} reads {fitted.weights.shape[0]} channels, but the "
                              f"model's hook point has {channels}: fitted on another model")
        if fitted.level == "frame" and spec.region.kind != "all":
            raise InterpError(f"{factor!r} is a per-frame factor: its probe reads the whole frame, so it takes "
                              "no region")
        column, categorical = 0, fitted.classes is not None
        if categorical:
            classes = [str(int(c)) if float(c).is_integer() else str(c) for c in fitted.classes]
            if label not in classes:
                raise InterpError(f"{factor!r} is categorical: name a class, probe:{factor}=K with K one of "
                                  f"{', '.join(classes)}")
            column = classes.index(label)
        elif label:
            raise InterpError(f"{factor!r} is not categorical; name it without =")
        target = ProbeTarget(adapter, hook, fitted.weights, fitted.intercept, fitted.level, spec.region.is_point,
                             column, categorical)
    if layer is not None and names.index(layer) > names.index(target.hook):
        raise InterpError(f"layer {layer!r} runs after the target's hook point {target.hook!r}: it cannot affect it")
    return target.to(adapter.device)  # a probe's weights and an SAE join the model


def _hook_channels(adapter: AutoencoderAdapter, hook: str, frame_size: tuple[int, int]) -> int:
    adapter.hooks.site(hook)  # a one-line error naming similar hook points
    with torch.no_grad():
        return hook_output(adapter, torch.zeros(1, 3, *frame_size), hook).shape[1]


def _load_sae(directory: str, hook: str, channels: int):
    from frobnoscope.interp.sae.training import load_sae, read_manifest

    trained_on = read_manifest(directory).get("source", {}).get("hook")
    if trained_on != hook:
        raise InterpError(f"the SAE in {directory} was trained on hook point {trained_on!r}, not {hook!r}")
    sae = load_sae(directory)
    if sae.config.d_in != channels:
        raise InterpError(f"the SAE in {directory} reads {sae.config.d_in} channels, the hook point has {channels}")
    for parameter in sae.parameters():
        parameter.requires_grad_(False)
    return sae, sae.config.width


class ImageAttributeWorker:
    """One process's model, target and dataset. `block(start, stop)` returns {method: (stop - start, H, W) float32
    maps} for those frames; it writes nothing. It computes with `threads` intra-op threads (restored by `close`)."""

    def __init__(self, data_dir: str, config: dict, threads: int, device: str = "cpu"):
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.config = AttributeConfig.model_validate(config)
        self.store = DatasetStore.open(data_dir)
        self.adapter = load_attribution_model(self.config.model, device)
        self.spec = parse_target(self.config.target)
        size = (self.store.manifest["height"], self.store.manifest["width"])
        self.forward = build_target(self.adapter, self.spec, size, sae=self.config.sae, probes=self.config.probes,
                                    layer=self.config.layer)
        self.tap = LayerTap() if self.config.layer else None

    def block(self, start: int, stop: int) -> dict[str, np.ndarray]:
        rgb = np.asarray(self.store.channel("rgb")[start:stop])
        images = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous().to(self.adapter.device)
        region = self.spec.region
        gt = {name: np.asarray(self.store.channel(name)[start:stop]) for name in region.channels()}
        mask = torch.from_numpy(region.mask(gt, rgb.shape[:3])).to(self.adapter.device)
        frames = range(start, stop)
        tapping = self.adapter.intervene(self.config.layer, self.tap) if self.tap is not None else nullcontext()
        with tapping:
            return {method: attribute_maps(method, self.forward, images, mask, frames, self.config.settings, self.tap)
                    for method in self.config.methods}

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)
