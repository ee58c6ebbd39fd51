"""`frob attribute`: attribution maps of one target by one or more captum methods over a dataset, into a run
directory (`run_format`: manifest.json, maps.zarr, progress.jsonl).

The job is cut into blocks of `batch_size` frames. A worker (`image_job.ImageAttributeWorker`, or
`nerf_job.NerfAttributeWorker` for a NeRF), built in each worker process from picklable settings, returns a block's
maps; the driver writes them and journals the block, so a rerun of the same command resumes where it stopped and
writes identical maps, and a different config into the same run directory is refused. Maps do not depend on the
worker count: each block is computed the same way wherever it runs, with `THREADS_PER_WORKER` intra-op threads
(oneDNN rounds differently with other thread counts; use more workers for more cores), and SmoothGrad's noise is
seeded per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.executor import check_workers
from frobnoscope.engine.journal import run_journalled_blocks
from frobnoscope.engine.runs import MANIFEST, write_json_atomic
from frobnoscope.interp.attribution.config import AttributeConfig, is_nerf_spec
from frobnoscope.interp.attribution.image_job import ImageAttributeWorker, prepare_image_attribution
from frobnoscope.interp.attribution.nerf_job import NerfAttributeWorker, prepare_nerf_attribution
from frobnoscope.interp.attribution.run_format import NERF_SAMPLES, PIXELS, create_or_resume_run, writable_maps
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.device import device_record, gpus_per_worker, prepare_device, resolve_device, worker_device
from frobnoscope.scenes.store import DatasetStore

THREADS_PER_WORKER = 1


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


def prepare_attribution(data_dir, config: AttributeConfig, device: torch.device | None = None) -> AttributionJob:
    """Check the dataset and the target against the model (loading it once, on `device`: default the CPU) before
    any work starts."""
    device = torch.device("cpu") if device is None else device
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise InterpError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    n = len(store) if config.frames is None else min(config.frames, len(store))
    spec = parse_target(config.target)
    spec.region.mask({name: np.asarray(store.channel(name)[:1]) for name in spec.region.channels()},
                     (1, store.manifest["height"], store.manifest["width"]))
    if is_nerf_spec(config.model):
        model_name, arrays = prepare_nerf_attribution(store, config, n, device)
        return AttributionJob(store, n, model_name, arrays, NERF_SAMPLES, NerfAttributeWorker)
    model_name, arrays = prepare_image_attribution(store, config, device)
    return AttributionJob(store, n, model_name, arrays, PIXELS, ImageAttributeWorker)


def attribute(data_dir, out, config: AttributeConfig, *, workers: int = 1, ray_address: str | None = None,
              on_progress: Callable[[int, int], None] | None = None, device: str | torch.device | None = "cpu") -> Path:
    """Attribute on `device` (or resume, or return at once if finished); returns the run directory. `workers` > 1
    runs blocks in a local process pool; with `ray_address`, on `workers` actors of that Ray cluster (one GPU each
    when `device` is a CUDA device)."""
    check_workers(workers)
    device = prepare_device(resolve_device(device))
    job = prepare_attribution(data_dir, config, device)
    out = Path(out)
    manifest = create_or_resume_run(out, config, job.store, job.frames, job.model_name, job.arrays, job.inputs)
    if manifest["complete"]:
        if on_progress:
            on_progress(job.frames, job.frames)
        return out
    manifest["device"] = device_record(device)  # of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    group = writable_maps(out)

    def write_maps(start: int, stop: int, maps: dict) -> None:
        for name, values in maps.items():
            group[name][start:stop] = values

    spec = WorkerSpec(job.worker, (str(job.store.path), config.to_dict(), THREADS_PER_WORKER,
                                   worker_device(device, ray_address)),
                      pool_env={"OMP_NUM_THREADS": str(THREADS_PER_WORKER)},
                      num_gpus=gpus_per_worker(device, ray_address))
    run_journalled_blocks(out, manifest, job.frames, config.batch_size, spec, workers=workers,
                          ray_address=ray_address, write_block=write_maps, on_progress=on_progress)
    return out
