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

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.executor import check_workers
from frobnoscope.engine.journal import run_journalled_blocks
from frobnoscope.interp.attribution.config import AttributeConfig, is_nerf_spec
from frobnoscope.interp.attribution.image_job import ImageAttributeWorker, prepare_image_attribution
from frobnoscope.interp.attribution.nerf_job import NerfAttributeWorker, prepare_nerf_attribution
from frobnoscope.interp.attribution.run_format import NERF_SAMPLES, PIXELS, create_or_resume_run, writable_maps
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.interp.errors import InterpError
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


def prepare_attribution(data_dir, config: AttributeConfig) -> AttributionJob:
    """Check the dataset and the target against the model (loading it once) before any work starts."""
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise InterpError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    n = len(store) if config.frames is None else min(config.frames, len(store))
    spec = parse_target(config.target)
    spec.region.mask({name: np.asarray(store.channel(name)[:1]) for name in spec.region.channels()},
                     (1, store.manifest["height"], store.manifest["width"]))
    if is_nerf_spec(config.model):
        model_name, arrays = prepare_nerf_attribution(store, config, n)
        return AttributionJob(store, n, model_name, arrays, NERF_SAMPLES, NerfAttributeWorker)
    model_name, arrays = prepare_image_attribution(store, config)
    return AttributionJob(store, n, model_name, arrays, PIXELS, ImageAttributeWorker)


def attribute(data_dir, out, config: AttributeConfig, *, workers: int = 1, ray_address: str | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Attribute (or resume, or return at once if finished); returns the run directory. `workers` > 1 runs blocks
    in a local process pool; with `ray_address`, on `workers` actors of that Ray cluster."""
    check_workers(workers)
    job = prepare_attribution(data_dir, config)
    out = Path(out)
    manifest = create_or_resume_run(out, config, job.store, job.frames, job.model_name, job.arrays, job.inputs)
    if manifest["complete"]:
        if on_progress:
            on_progress(job.frames, job.frames)
        return out
    group = writable_maps(out)

    def write_maps(start: int, stop: int, maps: dict) -> None:
        for name, values in maps.items():
            group[name][start:stop] = values

    spec = WorkerSpec(job.worker, (str(job.store.path), config.to_dict(), THREADS_PER_WORKER),
                      pool_env={"OMP_NUM_THREADS": str(THREADS_PER_WORKER)})
    run_journalled_blocks(out, manifest, job.frames, config.batch_size, spec, workers=workers,
                          ray_address=ray_address, write_block=write_maps, on_progress=on_progress)
    return out
