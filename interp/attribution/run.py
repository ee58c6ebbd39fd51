"""`frob attribute`: attribution maps of one target by one or more captum methods over a dataset, into a run directory.

Run directory:
  manifest.json   format frobnoscope.attribution/1: command, config, model, dataset (path, manifest hash), the
                  inputs attributed to ("pixels", or "nerf samples" for a NeRF), the target as parsed, methods,
                  frame size; `complete` once every block is written
  maps.zarr/      one array per method, `maps.zarr/<method>`: (N, H, W) float32, frame k's map at index k
                  (how channels are reduced: `attribution_methods`); chunks of `batch_size` frames. A NeRF
                  (`--model nerf:RUN_DIR`) is attributed to its input coordinates, the sample positions along
                  each pixel's ray, with per-sample arrays besides: see `nerf_attribution`
  progress.jsonl  the journal of finished blocks while the job runs
  scores.csv      with `--score`: see `attribution_scores`

The job is cut into blocks of `batch_size` frames. `AttributeWorker` (`NerfAttributeWorker` for a NeRF), built in
each worker process from picklable settings (it loads the model and opens the dataset itself), returns a block's
maps; the driver writes them and journals the block, so a rerun of the same command resumes where it stopped and
writes identical maps, and a different config into the same run directory is refused. Maps do not depend on the
worker count: each block is computed the same way wherever it runs, with one intra-op thread (oneDNN rounds
differently with other thread counts; use `--workers` for more cores), and SmoothGrad's noise is seeded per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import zarr

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.journal import run_journalled_blocks
from frobnoscope.engine.runs import MANIFEST, load_manifest, run_header, write_json_atomic
from frobnoscope.interp.attribution.methods import LAYER_METHODS, LayerTap, MethodSettings, parse_methods
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
from frobnoscope.models import load_model
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.errors import ModelError
from frobnoscope.scenes.store import COMPRESSOR, DatasetStore, dataset_reference

ATTRIBUTION_FORMAT = "frobnoscope.attribution/1"
PIXELS, NERF_SAMPLES = "pixels", "nerf samples"  # what a run attributes to (its manifest's `inputs`)
THREADS_PER_WORKER = 1
MAPS = "maps.zarr"


@dataclass(frozen=True)
class AttributeConfig:
    model: str
    target: str
    methods: tuple[str, ...] = ("integrated_gradients",)
    batch_size: int = 8
    frames: int | None = None  # the first N frames; None = all
    layer: str | None = None  # hook point of the layer methods
    sae: str | None = None  # SAE directory: feature ids are its latents
    probes: str | None = None  # `frob probe` output directory (probe targets)
    settings: MethodSettings = field(default_factory=MethodSettings)

    def check(self) -> None:
        parse_methods(",".join(self.methods))
        parse_target(self.target)
        self.settings.check()
        if self.batch_size < 1:
            raise ModelError("--batch-size must be at least 1")
        if self.frames is not None and self.frames < 1:
            raise ModelError("--frames must be at least 1")
        if any(method in LAYER_METHODS for method in self.methods) and not self.layer:
            raise ModelError(f"{', '.join(m for m in self.methods if m in LAYER_METHODS)} need --layer HOOK")

    def to_dict(self) -> dict:
        return {**asdict(self), "methods": list(self.methods)}

    @classmethod
    def from_dict(cls, values: dict) -> AttributeConfig:
        return cls(**{**values, "methods": tuple(values["methods"]), "settings": MethodSettings(**values["settings"])})


def load_attribution_model(spec: str) -> AutoencoderAdapter:
    """The adapter for `spec` with its parameters frozen: attribution needs gradients for inputs only, so the
    backward pass skips the weights' gradients."""
    adapter = load_model(spec)
    for parameter in adapter.module.parameters():
        parameter.requires_grad_(False)
    return adapter


def build_target(adapter: AutoencoderAdapter, spec: TargetSpec, frame_size: tuple[int, int], *, sae: str | None = None,
                 probes: str | None = None, layer: str | None = None) -> torch.nn.Module:
    """The target wrapper for `spec`, checked against the model: hook points exist, feature ids are in range, the
    probe or SAE fits the hook, and `layer` runs before the target's hook point."""
    if sae is not None and spec.kind != "feature":
        raise ModelError("--sae applies to feature targets (feature:HOOK:ID)")
    if probes is not None and spec.kind != "probe":
        raise ModelError("--probes applies to probe targets (probe:FACTOR)")
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
            what = f"hook point {hook!r} has {channels} channels (or give --sae DIR for SAE latents)"
        if spec.index >= count:
            raise ModelError(f"feature id {spec.index} is out of range: {what}, ids 0 to {count - 1}")
        target = FeatureTarget(adapter, hook, spec.index, spec.region.is_point, sae_module)
    else:
        if probes is None:
            raise ModelError("probe targets need --probes DIR (the output directory of `frob probe`)")
        from frobnoscope.interp.probes.run import load_fitted

        factor, _, label = spec.factor.partition("=")
        hook, fitted = load_fitted(probes, factor, spec.hook)
        channels = _hook_channels(adapter, hook, frame_size)
        if fitted.weights.shape[0] != channels:
            raise ModelError(f"the probe of {factor!r} at {hook!r} reads {fitted.weights.shape[0]} channels, but the "
                             f"model's hook point has {channels}: fitted on another model")
        if fitted.level == "frame" and spec.region.kind != "all":
            raise ModelError(f"{factor!r} is a per-frame factor: its probe reads the whole frame, so it takes "
                             "no region")
        column, categorical = 0, fitted.classes is not None
        if categorical:
            classes = [str(int(c)) if float(c).is_integer() else str(c) for c in fitted.classes]
            if label not in classes:
                raise ModelError(f"{factor!r} is categorical: name a class, probe:{factor}=K with K one of "
                                 f"{', '.join(classes)}")
            column = classes.index(label)
        elif label:
            raise ModelError(f"{factor!r} is not categorical; name it without =")
        target = ProbeTarget(adapter, hook, fitted.weights, fitted.intercept, fitted.level, spec.region.is_point,
                             column, categorical)
    if layer is not None and names.index(layer) > names.index(target.hook):
        raise ModelError(f"--layer {layer!r} runs after the target's hook point {target.hook!r}: it cannot affect it")
    return target


def _hook_channels(adapter: AutoencoderAdapter, hook: str, frame_size: tuple[int, int]) -> int:
    adapter.hooks.site(hook)  # a one-line error naming similar hook points
    with torch.no_grad():
        return hook_output(adapter, torch.zeros(1, 3, *frame_size), hook).shape[1]


def _load_sae(directory: str, hook: str, channels: int):
    from frobnoscope.interp.sae.training import load_sae, read_manifest

    trained_on = read_manifest(directory).get("source", {}).get("hook")
    if trained_on != hook:
        raise ModelError(f"the SAE in {directory} was trained on hook point {trained_on!r}, not {hook!r}")
    sae = load_sae(directory)
    if sae.config.d_in != channels:
        raise ModelError(f"the SAE in {directory} reads {sae.config.d_in} channels, the hook point has {channels}")
    for parameter in sae.parameters():
        parameter.requires_grad_(False)
    return sae, sae.config.width


class AttributeWorker:
    """One process's model, target and dataset. `block(start, stop)` returns {method: (stop - start, H, W) float32
    maps} for those frames; it writes nothing. It computes with `threads` intra-op threads (restored by `close`)."""

    def __init__(self, data_dir: str, config: dict, threads: int = THREADS_PER_WORKER):
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.config = AttributeConfig.from_dict(config)
        self.store = DatasetStore.open(data_dir)
        self.adapter = load_attribution_model(self.config.model)
        self.spec = parse_target(self.config.target)
        size = (self.store.manifest["height"], self.store.manifest["width"])
        self.forward = build_target(self.adapter, self.spec, size, sae=self.config.sae, probes=self.config.probes,
                                    layer=self.config.layer)
        self.tap = LayerTap() if self.config.layer else None

    def block(self, start: int, stop: int) -> dict[str, np.ndarray]:
        rgb = np.asarray(self.store.channel("rgb")[start:stop])
        images = torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()
        region = self.spec.region
        gt = {name: np.asarray(self.store.channel(name)[start:stop]) for name in region.channels()}
        mask = torch.from_numpy(region.mask(gt, rgb.shape[:3]))
        frames = range(start, stop)
        tapping = self.adapter.intervene(self.config.layer, self.tap) if self.tap is not None else nullcontext()
        with tapping:
            return {method: attribute_maps(method, self.forward, images, mask, frames, self.config.settings, self.tap)
                    for method in self.config.methods}

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)


@dataclass
class AttributionJob:
    """What `prepare_attribution` checked: the dataset, the frame count, the model's name, the arrays of the run's
    maps.zarr ({name: shape of one frame's entry}), the inputs attributed to, and the worker class."""

    store: DatasetStore
    frames: int
    model_name: str
    arrays: dict[str, tuple[int, ...]]
    inputs: str  # PIXELS or NERF_SAMPLES
    worker: type


def prepare_attribution(data_dir, config: AttributeConfig) -> AttributionJob:
    """Check the config, the dataset and the target against the model (loading it once) before any work starts."""
    from frobnoscope.interp.attribution.nerf import (  # it imports this
        NerfAttributeWorker,
        is_nerf_spec,
        prepare_nerf_attribution,
    )

    config.check()
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise ModelError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    n = len(store) if config.frames is None else min(config.frames, len(store))
    spec = parse_target(config.target)
    spec.region.mask({name: np.asarray(store.channel(name)[:1]) for name in spec.region.channels()},
                     (1, store.manifest["height"], store.manifest["width"]))
    if is_nerf_spec(config.model):
        model_name, arrays = prepare_nerf_attribution(store, config, n)
        return AttributionJob(store, n, model_name, arrays, NERF_SAMPLES, NerfAttributeWorker)
    size = (store.manifest["height"], store.manifest["width"])
    adapter = load_attribution_model(config.model)
    adapter.preprocess(torch.zeros(1, 3, *size))  # a frame size the model cannot take fails here
    build_target(adapter, spec, size, sae=config.sae, probes=config.probes, layer=config.layer)
    return AttributionJob(store, n, adapter.name, {method: size for method in config.methods}, PIXELS,
                          AttributeWorker)


def attribute(data_dir, out, config: AttributeConfig, *, workers: int = 1, ray_address: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Attribute (or resume, or return at once if finished); returns the run directory. `workers` > 1 runs blocks
    in a local process pool; with `ray_address`, on `workers` actors of that Ray cluster."""
    if workers < 1:
        raise ModelError("--workers must be at least 1")
    job = prepare_attribution(data_dir, config)
    out = Path(out)
    manifest = _prepare(out, job, config)
    if manifest["complete"]:
        if on_progress:
            on_progress(job.frames, job.frames)
        return out
    group = zarr.open_group(str(out / MAPS), mode="r+")

    def write_maps(start: int, stop: int, maps: dict) -> None:
        for name, values in maps.items():
            group[name][start:stop] = values

    spec = WorkerSpec(job.worker, (str(job.store.path), config.to_dict()),
                      pool_env={"OMP_NUM_THREADS": str(THREADS_PER_WORKER)})
    run_journalled_blocks(out, manifest, job.frames, config.batch_size, spec, workers=workers,
                          ray_address=ray_address, write_block=write_maps, on_progress=on_progress)
    return out


MAPS_OF_PIXELS = (f"{MAPS}/<method>: (N, H, W) float32, input maps summed over colour channels, layer maps summed "
                  "over channels and spread over each cell's pixels (see frobnoscope.interp.attribution.methods)")
MAPS_OF_NERF_SAMPLES = (f"{MAPS}/<method>: (N, H, W) per pixel, <method>_along_ray: (N, H, W, K) per sample, "
                        "sample_t: (N, H, W, K) sample distances (see frobnoscope.interp.attribution.nerf)")


def _prepare(out: Path, job: AttributionJob, config: AttributeConfig) -> dict:
    dataset = dataset_reference(job.store)
    if (out / MANIFEST).is_file():
        manifest = read_run_manifest(out)
        same_data = manifest["dataset"]["manifest_blake2b"] == dataset["manifest_blake2b"]
        if manifest["config"] != config.to_dict() or not same_data:
            raise ModelError(f"{out} holds attributions with other settings or data; choose another --out or delete it")
        return manifest
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"{out} exists and is not an attribution run; choose an empty or new --out")
    out.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(out / MAPS), mode="w")
    for name, shape in job.arrays.items():
        group.create_array(name, shape=(job.frames, *shape), chunks=(config.batch_size, *shape), dtype="float32",
                           compressors=COMPRESSOR, fill_value=np.nan)
    spec = parse_target(config.target)
    nerf = job.inputs == NERF_SAMPLES
    cause = "surface" if nerf else spec.default_cause()
    manifest = {
        **run_header(ATTRIBUTION_FORMAT), "config": config.to_dict(),
        "model": {"spec": config.model, "name": job.model_name},
        "dataset": dataset, "frames": job.frames,
        "height": job.store.manifest["height"], "width": job.store.manifest["width"],
        "inputs": job.inputs, "target": str(spec), "default_cause": None if cause is None else str(cause),
        "methods": list(config.methods), "maps": MAPS_OF_NERF_SAMPLES if nerf else MAPS_OF_PIXELS,
        "complete": False,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def read_run_manifest(run) -> dict:
    return load_manifest(run, expected_format=ATTRIBUTION_FORMAT, what="an attribution run",
                         make_with="frob attribute DATA --model SPEC --target TARGET --out RUN", error=ModelError)


def read_maps(run, method: str) -> zarr.Array:
    """The (N, H, W) maps of `method` in a finished attribution run."""
    manifest = read_run_manifest(run)
    if not manifest.get("complete"):
        raise ModelError(f"{run} is unfinished; finish it with the `frob attribute` command that made it")
    if method not in manifest["methods"]:
        raise ModelError(f"{run} has no maps of {method!r}; it has {', '.join(manifest['methods'])}")
    return zarr.open_group(str(Path(run) / MAPS), mode="r")[method]

