"""The attribution run directory (format frobnoscope.attribution/1): the one module that writes and reads its
manifest and opens its maps.

Run directory:
  manifest.json   format frobnoscope.attribution/1: command, config, model, dataset (path, manifest hash), the
                  inputs attributed to (`PIXELS`, or `NERF_SAMPLES` for a NeRF), the target as parsed, the default
                  cause, methods, frame size; `complete` once every block is written
  maps.zarr/      one array per method, `maps.zarr/<method>`: (N, H, W) float32, frame k's map at index k, chunks
                  of `batch_size` frames, NaN until written. Image models: input maps summed over colour channels,
                  layer maps summed over channels and spread over each cell's pixels (`methods`). A NeRF
                  (`--model nerf:RUN_DIR`, `nerf_methods`) has per-sample arrays besides: `<method>_along_ray`
                  (N, H, W, K) per sample, and `sample_t` (N, H, W, K) the samples' distances along the ray
                  (scene units)
  progress.jsonl  the journal of finished blocks while the job runs (`engine.journal`)
  scores.csv      with `--score`: see `scores`
The manifest's config is `AttributeConfig.to_dict()` (`config`); another config (naming the fields that differ), or
another dataset, is refused in an existing run directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from frobnoscope.engine.runs import MANIFEST, existing_run, load_manifest, run_header, write_json_atomic
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.scenes.store import COMPRESSOR, DatasetStore, dataset_reference

ATTRIBUTION_FORMAT = "frobnoscope.attribution/1"
PIXELS, NERF_SAMPLES = "pixels", "nerf samples"  # what a run attributes to (its manifest's `inputs`)
MAPS = "maps.zarr"
SAMPLE_T = "sample_t"
MAPS_OF_PIXELS = (f"{MAPS}/<method>: (N, H, W) float32, input maps summed over colour channels, layer maps summed "
                  "over channels and spread over each cell's pixels (see frobnoscope.interp.attribution.methods)")
MAPS_OF_NERF_SAMPLES = (f"{MAPS}/<method>: (N, H, W) per pixel, <method>_along_ray: (N, H, W, K) per sample, "
                        "sample_t: (N, H, W, K) sample distances (see frobnoscope.interp.attribution.nerf_methods)")


def along_ray(method: str) -> str:
    """The name of a NeRF run's per-sample array of `method`."""
    return f"{method}_along_ray"


def create_or_resume_run(out: Path, config: AttributeConfig, store: DatasetStore, frames: int, model_name: str,
                         arrays: dict[str, tuple[int, ...]], inputs: str) -> dict:
    """The manifest of the run in `out`: the existing one if it was made with this config and dataset, else a new
    run directory with empty (NaN) `arrays` ({name: shape of one frame's entry}) for `frames` frames."""
    dataset = dataset_reference(store)
    manifest = existing_run(out, run_format=ATTRIBUTION_FORMAT, what="an attribution run", make_with="frob attribute",
                            config=config.to_dict(), dataset=dataset, error=InterpError)
    if manifest is not None:
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(str(out / MAPS), mode="w")
    for name, shape in arrays.items():
        group.create_array(name, shape=(frames, *shape), chunks=(config.batch_size, *shape), dtype="float32",
                           compressors=COMPRESSOR, fill_value=np.nan)
    spec = parse_target(config.target)
    nerf = inputs == NERF_SAMPLES
    cause = "surface" if nerf else spec.default_cause()  # a NeRF pixel's cause: the surface its ray meets
    manifest = {
        **run_header(ATTRIBUTION_FORMAT), "config": config.to_dict(),
        "model": {"spec": config.model, "name": model_name},
        "dataset": dataset, "frames": frames,
        "height": store.manifest["height"], "width": store.manifest["width"],
        "inputs": inputs, "target": str(spec), "default_cause": None if cause is None else str(cause),
        "methods": list(config.methods), "maps": MAPS_OF_NERF_SAMPLES if nerf else MAPS_OF_PIXELS,
        "complete": False,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def writable_maps(run) -> zarr.Group:
    """maps.zarr of a run that `create_or_resume_run` made, open for writing blocks of frames."""
    return zarr.open_group(str(Path(run) / MAPS), mode="r+")


def read_run_manifest(run) -> dict:
    return load_manifest(run, expected_format=ATTRIBUTION_FORMAT, what="an attribution run",
                         make_with="frob attribute DATA --model SPEC --target TARGET --out RUN", error=InterpError)


def open_maps(run) -> zarr.Group:
    """maps.zarr of a finished attribution run, read-only (arrays: the module docstring)."""
    if not read_run_manifest(run).get("complete"):
        raise InterpError(f"{run} is unfinished; finish it with the `frob attribute` command that made it")
    return zarr.open_group(str(Path(run) / MAPS), mode="r")


def read_maps(run, method: str) -> zarr.Array:
    """The (N, H, W) maps of `method` in a finished attribution run."""
    maps = open_maps(run)
    methods = read_run_manifest(run)["methods"]
    if method not in methods:
        raise InterpError(f"{run} has no maps of {method!r}; it has {', '.join(methods)}")
    return maps[method]
