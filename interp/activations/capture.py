"""`frob capture`: stream a model's activations at chosen hook points over a dataset into an `ActivationStore`.

Frames are processed in blocks of `batch_size`: read from the dataset (only that block), run through the adapter's
`capture`, transposed to channels last, cast to `dtype`, and written with the ground truth pooled onto each hook's
grid (`gt_pooling`). Each finished block is journalled in progress.jsonl, so a rerun of the same command resumes
where it stopped and writes identical arrays; a different config into the same run directory is refused. A rerun
first checks what is there and redoes damaged blocks (`activations.repair`).
Memory is one block of frames and its activations per worker, whatever the dataset's length.
Blocks run in this process, in local worker processes or on a Ray cluster (`engine.journal`):
each `CaptureWorker` loads the model (on the job's device; a Ray actor gets a GPU of its own) and reads its frames
itself and returns the block's arrays, on the CPU; only this process writes the run directory.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import zarr
from pydantic import Field

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.config import Config
from frobnoscope.engine.executor import check_workers
from frobnoscope.engine.journal import run_journalled_blocks
from frobnoscope.engine.runs import MANIFEST, existing_run, run_header, write_json_atomic
from frobnoscope.interp.activations import derived_gt, gt_pooling
from frobnoscope.interp.activations.repair import check_capture
from frobnoscope.interp.activations.store import (
    ACTIVATIONS_FORMAT,
    ACTS,
    FACTORS,
    GT,
    ZARR,
    check_manifest,
    frame_factors,
)
from frobnoscope.interp.errors import InterpError
from frobnoscope.models import load_model
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.device import device_record, gpus_per_worker, resolve_device, to_numpy, worker_device
from frobnoscope.models.loading.random_weights import reinitialise
from frobnoscope.models.loading.registry import IMAGE_MODEL_HELP
from frobnoscope.scenes.spec import parse_spec
from frobnoscope.scenes.store import COMPRESSOR, DatasetStore, dataset_reference

FLOAT16_MAX = float(np.finfo(np.float16).max)
WORKER_THREADS = 1


class CaptureConfig(Config):
    """What `frob capture` records; stored in the run's manifest as `to_dict()`."""

    model: str = Field(description=IMAGE_MODEL_HELP)
    hooks: str = Field(description="comma-separated globs over the model's hook points (`frob models hooks`)")
    dtype: Literal["float16", "float32"] = Field("float16", description="stored activation dtype: float16 or float32")
    batch_size: int = Field(8, ge=1, description="frames per forward pass (and per zarr chunk)")
    frames: int | None = Field(None, ge=1, description="capture only the first N frames (default: all)")
    random_weights_seed: int | None = Field(
        None, description="re-initialise the model's weights with this seed (control run)")


def select_hooks(available: list[str], pattern: str) -> list[str]:
    """Hook points matching any of the comma-separated globs in `pattern`, in execution order."""
    globs = [p.strip() for p in pattern.split(",") if p.strip()]
    chosen = [name for name in available if any(fnmatch.fnmatchcase(name, g) for g in globs)]
    if not chosen:
        shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        raise InterpError(f"no hook point matches {pattern!r}; the model has {shown} (see `frob models hooks`)")
    return chosen


def load_capture_model(config: CaptureConfig, device: str | torch.device | None = "cpu") -> AutoencoderAdapter:
    adapter = load_model(config.model, device=device)
    if config.random_weights_seed is not None:
        reinitialise(adapter, config.random_weights_seed)
    return adapter


def capture(data_dir, out, config: CaptureConfig, on_progress: Callable[[int, int], None] | None = None, *,
            workers: int = 1, ray_address: str | None = None, device: str | torch.device | None = "cpu") -> Path:
    """Capture (or resume, or return at once if finished) on `device` in `workers` local processes (1: this one)
    or, with `ray_address`, on `workers` actors of that Ray cluster (one GPU each when `device` is a CUDA device);
    returns the run directory."""
    check_workers(workers)
    device = resolve_device(device)
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise InterpError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    out = Path(out)
    n = len(store) if config.frames is None else min(config.frames, len(store))
    manifest = _prepare(out, store, config, n, device)
    if manifest["complete"]:
        return out
    manifest["device"] = device_record(device)  # of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    hooks = list(manifest["hooks"])
    group = zarr.open_group(str(out / ZARR), mode="r+")
    spec = WorkerSpec(CaptureWorker, (str(store.path), config.to_dict(), hooks, worker_device(device, ray_address)),
                      num_gpus=gpus_per_worker(device, ray_address))
    run_journalled_blocks(out, manifest, n, config.batch_size, spec, workers=workers, ray_address=ray_address,
                          write_block=lambda start, stop, result: _write_block(group, *result, start, stop),
                          on_progress=on_progress)
    return out


def image_like_hooks(store: DatasetStore, adapter: AutoencoderAdapter, hooks: list[str],
                     pattern: str) -> tuple[list[str], list[str]]:
    """(hooks whose output is (B, C, h, w), the others): a glob may match hook points that are not image-like (an
    attention's (B, tokens, C)), which are skipped; one named exactly, or none image-like at all, is an error."""
    rgb = torch.from_numpy(store.channel("rgb")[0:1]).permute(0, 3, 1, 2)
    captured = capture_until_last(adapter, rgb, hooks)
    named = {part.strip() for part in pattern.split(",")}
    other = [hook for hook in hooks if captured[hook].ndim != 4]
    if not other:
        return hooks, []
    if other[0] in named or len(other) == len(hooks):
        raise InterpError(f"hook point {other[0]!r} outputs shape {tuple(captured[other[0]].shape)}, not "
                          "(B, C, h, w); choose image-like hooks (`frob models hooks`)")
    return [hook for hook in hooks if hook not in other], other


class _StopForward(Exception):
    pass


def capture_until_last(adapter: AutoencoderAdapter, batch: torch.Tensor, hooks: list[str]) -> dict[str, torch.Tensor]:
    """`adapter.capture(batch, hooks)`, but the forward pass stops at the call site after the last of `hooks` in
    execution order (hook points fire when a call returns, so every hook has its output by then): capturing
    encoder layers does not pay for the decoder."""
    names = adapter.hook_points()
    last = max(names.index(hook) for hook in hooks)
    if last + 1 == len(names):
        return adapter.capture(batch, hooks)

    def stop(output):
        raise _StopForward

    with adapter.hooks.capturing(hooks) as captured, adapter.intervene(names[last + 1], stop):
        try:
            adapter.forward(batch)
        except _StopForward:
            pass
        return {hook: captured[hook] for hook in hooks}


def _run_block(store: DatasetStore, adapter: AutoencoderAdapter, hooks: list[str], start: int, stop: int):
    """(activations {hook: (B, h, w, C) float32}, pooled ground truth {(h, w): {name: array}})."""
    rgb = torch.from_numpy(store.channel("rgb")[start:stop]).permute(0, 3, 1, 2)
    captured = capture_until_last(adapter, rgb, hooks)
    activations = {}
    for hook, tensor in captured.items():
        if tensor.ndim != 4:
            raise InterpError(f"hook point {hook!r} outputs shape {tuple(tensor.shape)}, not (B, C, h, w); "
                              "choose image-like hooks")
        activations[hook] = to_numpy(tensor.permute(0, 2, 3, 1).float())
    frames = {name: store.channel(name)[start:stop] for name in gt_pooling.SOURCE_CHANNELS}
    specs = [parse_spec(store.manifest["frames"][k]["spec"]) for k in range(start, stop)]
    frames.update(derived_gt.derive_block(frames, specs))
    grids = {acts.shape[1:3] for acts in activations.values()}
    pooled = {grid: gt_pooling.pool_frames(frames, *grid) for grid in grids}
    return activations, pooled


class CaptureWorker:
    """Per-process state: the dataset and the model. `block(start, stop)` returns the block's activations
    `{hook: (B, h, w, C)}` in the stored dtype and the ground truth pooled to each hook's grid.

    Every worker computes with `WORKER_THREADS` intra-op threads, in this process or another: oneDNN's
    convolutions round differently with another thread count, and the arrays must not depend on where a block
    ran (use --workers to use more cores). `close` gives this process its thread count back."""

    def __init__(self, data_dir: str, config: dict, hooks: list[str], device: str = "cpu"):
        self.config = CaptureConfig.model_validate(config)
        self.store = DatasetStore.open(data_dir)
        self.adapter = load_capture_model(self.config, device)
        self.hooks = hooks
        self.threads_before = torch.get_num_threads()
        torch.set_num_threads(WORKER_THREADS)

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)

    def block(self, start: int, stop: int):
        activations, pooled = _run_block(self.store, self.adapter, self.hooks, start, stop)
        dtype = self.config.dtype
        for hook, acts in activations.items():
            if dtype == "float16" and np.abs(acts).max(initial=0.0) > FLOAT16_MAX:
                raise InterpError(f"hook point {hook!r} outputs values beyond float16's range in frames "
                                  f"{start}-{stop - 1}; capture with dtype float32")
            activations[hook] = acts.astype(dtype)
        return activations, pooled


def _write_block(group: zarr.Group, activations: dict, pooled: dict, start: int, stop: int) -> None:
    for hook, acts in activations.items():
        group[hook][ACTS][start:stop] = acts
        for name, values in pooled[acts.shape[1:3]].items():
            group[hook][GT][name][start:stop] = values


def _prepare(out: Path, store: DatasetStore, config: CaptureConfig, n: int, device: torch.device) -> dict:
    dataset = dataset_reference(store)
    manifest = existing_run(out, run_format=ACTIVATIONS_FORMAT, what="an activation run", make_with="frob capture",
                            config=config.to_dict(), dataset=dataset, error=InterpError)
    if manifest is not None:
        manifest = check_capture(out, check_manifest(out, manifest))  # None: an array is damaged, start over
    if manifest is not None:
        return manifest
    adapter = load_capture_model(config, device)
    hooks, skipped = image_like_hooks(store, adapter, select_hooks(adapter.hook_points(), config.hooks), config.hooks)
    activations, pooled = _run_block(store, adapter, hooks, 0, 1)  # shapes and dtypes from the first frame
    out.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(out / ZARR), mode="w")
    block = config.batch_size
    for hook, acts in activations.items():
        hook_group = group.create_group(hook)
        hook_group.create_array(ACTS, shape=(n, *acts.shape[1:]), chunks=(block, *acts.shape[1:]), dtype=config.dtype,
                                compressors=COMPRESSOR, fill_value=np.nan)
        gt_group = hook_group.create_group(GT)
        for name, values in pooled[acts.shape[1:3]].items():
            gt_group.create_array(name, shape=(n, *values.shape[1:]), chunks=(block, *values.shape[1:]),
                                  dtype=values.dtype, compressors=COMPRESSOR, fill_value=_fill(values.dtype))
    factors = _write_factors(group, store.manifest["frames"][:n])
    frames = store.manifest["frames"][:n]
    manifest = {
        **run_header(ACTIVATIONS_FORMAT), "config": config.to_dict(),
        "model": {"spec": config.model, "name": adapter.name, "random_weights_seed": config.random_weights_seed},
        "dataset": dataset, "frames": n, "splits": [frame.get("split") for frame in frames],
        "hooks": {hook: {"shape": list(acts.shape[1:])} for hook, acts in activations.items()},
        "gt": list(next(iter(pooled.values()))), "gt_pooling": "see frobnoscope.interp.activations.gt_pooling",
        "factors": factors, "skipped_hooks": skipped, "complete": False,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _fill(dtype: np.dtype):
    return np.nan if np.issubdtype(dtype, np.floating) else 0


def _write_factors(group: zarr.Group, frames: list[dict]) -> list[str]:
    per_frame = [frame_factors(frame) for frame in frames]
    names = sorted({name for factors in per_frame for name in factors})
    factor_group = group.create_group(FACTORS)
    for name in names:
        values = np.array([factors.get(name, np.nan) for factors in per_frame], dtype=np.float64)
        factor_group.create_array(name, data=values, chunks=(max(len(values), 1),))
    return names
