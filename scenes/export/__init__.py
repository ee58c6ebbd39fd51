"""Export a dataset store to the formats researchers already use: nerfstudio, NeRF-synthetic (Blender),
Hugging Face parquet and WebDataset. One module per format; each provides an `ExportFormat`.

    from frobnoscope.scenes.export import export
    export("data/orbit", "nerfstudio", "exports/orbit-ns", channels=["rgb", "depth_z"], split=None)

or, to fail before any work and then write with progress:

    job = plan_export("data/orbit", "nerfstudio", "exports/orbit-ns")
    run_export(job, on_progress=lambda done, total: ...)

The output directory is written beside its final place and renamed when complete: it is never half
there, and an existing one is never touched. Every export holds a `manifest.json` naming its source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from frobnoscope.engine.runs import MANIFEST
from frobnoscope.scenes.channels import CHANNELS
from frobnoscope.scenes.errors import StoreError
from frobnoscope.scenes.export.encodings import write_json
from frobnoscope.scenes.export.job import SPLITS, ExportError, ExportFormat, ExportJob, dataset_has_splits
from frobnoscope.scenes.export.output import atomic_directory, check_new_output, export_manifest, require
from frobnoscope.scenes.store import CAMERA_ARRAYS, DatasetStore


def formats() -> dict[str, ExportFormat]:
    """Every export format, by name, in the order `frob export --help` lists them."""
    from frobnoscope.scenes.export import hf, nerf_synthetic, nerfstudio, webdataset

    return {module.FORMAT.name: module.FORMAT for module in (nerfstudio, nerf_synthetic, hf, webdataset)}


def format_names() -> list[str]:
    return list(formats())


def get_format(name: str) -> ExportFormat:
    registry = formats()
    if name not in registry:
        raise ExportError(f"unknown export format {name!r}; choose one of {', '.join(registry)}")
    return registry[name]


def plan_export(data_dir, format_name: str, out, channels: Sequence[str] | None = None, split: str | None = None) -> ExportJob:
    """Check everything that can be checked before writing a byte, and return the job."""
    fmt = get_format(format_name)
    check_new_output(Path(out))
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise StoreError(f"{data_dir} is unfinished; rerun the `frob scenes generate` command that made it to finish it")
    for library in fmt.libraries:
        require(library, fmt.name)
    job = ExportJob(store=store, fmt=fmt, out=Path(out), indices=_select_frames(store, fmt, split, data_dir),
                    channels=_select_channels(store, fmt, channels, data_dir), split=split)
    if fmt.check:
        fmt.check(job)
    return job


def _select_channels(store: DatasetStore, fmt: ExportFormat, requested: Sequence[str] | None, data_dir) -> tuple[str, ...]:
    available = [c.name for c in CHANNELS if c.name in store.manifest["channels"]]
    for name in requested or ():
        if name in CAMERA_ARRAYS:
            raise ExportError(f"{name} is not a channel: every export writes the cameras; leave it out of the channels")
        if name not in available:
            raise ExportError(f"{data_dir} has no channel {name!r}; channels: {', '.join(available)}")
    chosen = set(requested) if requested else set(fmt.default_channels or available)
    chosen |= set(fmt.required_channels)
    return tuple(name for name in available if name in chosen)


def _select_frames(store: DatasetStore, fmt: ExportFormat, split: str | None, data_dir) -> tuple[int, ...]:
    frames = store.manifest["frames"]
    has_splits = dataset_has_splits(store.manifest)
    family = store.manifest["params"]["family"]
    if fmt.needs_every_split:
        if split is not None:
            raise ExportError(f"format {fmt.name} always writes train, val and test (its loader opens all three); "
                              "leave out the split")
        if not has_splits:
            raise ExportError(f"format {fmt.name} needs train/val/test splits and {data_dir} ({family}) has none; "
                              "export an orbit dataset or choose format nerfstudio, hf or webdataset")
        empty = [name for name in SPLITS if not any(frame["split"] == name for frame in frames)]
        if empty:
            raise ExportError(f"format {fmt.name} needs frames in every split and {data_dir} has no {' or '.join(empty)} "
                              "frames (its loader fails on an empty split); generate more views or choose format nerfstudio, "
                              "hf or webdataset")
    if split is None:
        return tuple(range(len(frames)))
    if not has_splits:
        raise ExportError(f"{data_dir} ({family}) has no splits; leave out the split")
    if split not in SPLITS:
        raise ExportError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    indices = tuple(k for k, frame in enumerate(frames) if frame["split"] == split)
    if not indices:
        raise ExportError(f"{data_dir} has no {split} frames; choose another split")
    return indices


def run_export(job: ExportJob, on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Write a planned export into `job.out` atomically; `on_progress(done, total)` after every frame."""
    total, done = len(job.indices), 0

    def advance() -> None:
        nonlocal done
        done += 1
        if on_progress:
            on_progress(done, total)

    if on_progress:
        on_progress(0, total)
    with atomic_directory(job.out) as directory:
        job.fmt.write(job, directory, advance)
        write_json(directory / MANIFEST, export_manifest(job))
    return job.out


def export(data_dir, format_name: str, out, channels: Sequence[str] | None = None, split: str | None = None,
           on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Export `data_dir` (a complete dataset store) to `out` (which must not exist) in `format_name`."""
    return run_export(plan_export(data_dir, format_name, out, channels, split), on_progress)


__all__ = ["ExportError", "ExportFormat", "ExportJob", "export", "format_names", "formats", "get_format", "plan_export",
           "run_export"]
