"""`frob eval`: judge an image model against its optimal output on a dataset, pixel by pixel.

Run directory:
  manifest.json    format frobnoscope.eval/1: command, config, model (spec, name, conventions), dataset (path,
                   manifest hash), and when complete a summary
  maps/            zarr group: `output` (N, H, W, 3) float32 linear [0, 1], the model's reconstruction, and
                   `squared_error` (N, H, W) float32, per-pixel squared error against the optimal output (RGB mean)
  frames.csv       per frame: index, split, psnr (dB), ssim, mse
  breakdown.csv    the error by ground-truth factor and bin (see `error_breakdown`)
  plots/           breakdown.png, frames.png, examples.png
All metrics are computed on linear [0, 1] RGB (see `frobnoscope.models.metrics`). Frames are processed in blocks;
each finished block is journalled in progress.jsonl, so a rerun of the same command resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import zarr
from pydantic import Field

from frobnoscope.engine.config import Config
from frobnoscope.engine.journal import JOURNAL, read_journal_entries
from frobnoscope.engine.runs import MANIFEST, existing_run, run_header, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.evaluation import error_breakdown
from frobnoscope.interp.evaluation.error_breakdown import BreakdownConfig, EdgeRadius
from frobnoscope.models import load_model, metrics
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.device import device_record, prepare_device, resolve_device, to_numpy
from frobnoscope.models.images import check_images
from frobnoscope.models.loading.registry import IMAGE_MODEL_HELP
from frobnoscope.scenes.store import COMPRESSOR, DatasetStore, dataset_reference

EVAL_FORMAT = "frobnoscope.eval/1"
MAPS = "maps"


class EvalConfig(Config):
    """What `frob eval` judges and how; stored in the run's manifest as `to_dict()`."""

    model: str = Field(description=IMAGE_MODEL_HELP)
    latent: Literal["mean", "sample"] = Field(
        "mean", description="KL models (sd-vae, kl-small runs): decode the posterior mean or a sample")
    seed: int = Field(0, ge=0, description="noise seed of the sampled latent (latent: sample)")
    batch_size: int = Field(8, ge=1, description="frames per forward pass")
    edge_radius: EdgeRadius = 1


@dataclass
class EvalJob:
    store: DatasetStore
    adapter: AutoencoderAdapter
    out: Path
    config: EvalConfig
    manifest: dict
    device: torch.device


def prepare_evaluation(data_dir, out, config: EvalConfig, device: str | torch.device | None = "cpu") -> EvalJob:
    """Check everything (dataset, model and device, resolution, run directory) and write the run's manifest;
    one-line errors."""
    device = prepare_device(resolve_device(device))
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise InterpError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    adapter = load_model(config.model, latent=config.latent, seed=config.seed, device=device)
    check_images(torch.zeros(1, 3, store.manifest["height"], store.manifest["width"]), adapter.downsampling_factor, adapter.name)
    out = Path(out)
    return EvalJob(store, adapter, out, config, _prepare(out, store, adapter, config), device)


def run_evaluation(job: EvalJob, on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate the frames not done yet, then write the tables and plots; returns the manifest's summary."""
    store, manifest, out, block = job.store, job.manifest, job.out, job.config.batch_size
    n = len(store)
    if manifest["complete"]:
        if on_progress:
            on_progress(n, n)
        return manifest["summary"]
    manifest["device"] = device_record(job.device)  # of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    breakdown = BreakdownConfig.model_validate(manifest["breakdown"])
    maps = _open_maps(out / MAPS, n, store.manifest["height"], store.manifest["width"], block)
    done = read_journal_entries(out / JOURNAL, "frames")
    finished = sum(len(records) for records in done.values())
    if on_progress:
        on_progress(finished, n)
    with open(out / JOURNAL, "a") as journal:
        for start in range(0, n, block):
            if start in done:
                continue
            stop = min(start + block, n)
            records = _evaluate_block(store, job.adapter, maps, start, stop, breakdown)
            journal.write(json.dumps({"start": start, "frames": records}) + "\n")
            journal.flush()
            done[start] = records
            finished += stop - start
            if on_progress:
                on_progress(finished, n)
    frames = [record for start in sorted(done) for record in done[start]]
    manifest["summary"] = _finish(out, store, frames, breakdown)
    manifest["complete"] = True
    write_json_atomic(out / MANIFEST, manifest)
    (out / JOURNAL).unlink(missing_ok=True)
    return manifest["summary"]


def evaluate(data_dir, out, config: EvalConfig, on_progress: Callable[[int, int], None] | None = None,
             device: str | torch.device | None = "cpu") -> dict:
    """Evaluate on `device` (or resume, or return the summary of a finished run); returns the manifest's summary."""
    return run_evaluation(prepare_evaluation(data_dir, out, config, device), on_progress)


def _evaluate_block(store: DatasetStore, adapter: AutoencoderAdapter, maps: zarr.Group, start: int, stop: int,
                    breakdown: BreakdownConfig) -> list[dict]:
    rgb = store.channel("rgb")[start:stop]
    gt = {name: store.channel(name)[start:stop] for name in error_breakdown.GT_CHANNELS}
    target = torch.from_numpy(rgb).permute(0, 3, 1, 2).to(adapter.device)
    output = adapter.forward(target)
    optimal = adapter.optimal_output(target)
    squared_error = metrics.squared_error_map(output, optimal)
    psnr = metrics.mse_to_psnr(squared_error.flatten(1).mean(dim=1))
    ssim = metrics.ssim(output, optimal)
    maps["output"][start:stop] = to_numpy(output.permute(0, 2, 3, 1))
    squared_error = squared_error.float().cpu()
    maps["squared_error"][start:stop] = squared_error.numpy()
    records = []
    for offset, k in enumerate(range(start, stop)):
        frame = store.manifest["frames"][k]
        labels = error_breakdown.factor_labels({name: gt[name][offset] for name in gt}, frame["spec"]["objects"], breakdown)
        error = squared_error[offset].numpy()
        records.append({"index": k, "split": frame["split"], "psnr": float(psnr[offset]), "ssim": float(ssim[offset]),
                        "mse": float(error.mean()), "bins": error_breakdown.bin_sums(error, labels)})
    return records


def _prepare(out: Path, store: DatasetStore, adapter: AutoencoderAdapter, config: EvalConfig) -> dict:
    dataset = dataset_reference(store)
    manifest = existing_run(out, run_format=EVAL_FORMAT, what="an evaluation", make_with="frob eval",
                            config=config.to_dict(), dataset=dataset, error=InterpError)
    if manifest is not None:
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    sample = np.linspace(0, len(store) - 1, min(len(store), error_breakdown.DEPTH_SAMPLE_FRAMES)).round().astype(int)
    depth_edges = error_breakdown.depth_edges_of(store.channel("depth_z").get_orthogonal_selection((sample,)),
                                                 store.channel("object_id").get_orthogonal_selection((sample,)))
    manifest = {
        **run_header(EVAL_FORMAT), "config": config.to_dict(),
        "model": {"spec": config.model, "name": adapter.name, "downsampling_factor": adapter.downsampling_factor,
                  "encoding": adapter.encoding, "value_range": list(adapter.value_range),
                  "hook_points": len(adapter.hook_points())},
        "dataset": dataset, "frames": len(store),
        "breakdown": BreakdownConfig(depth_edges=depth_edges, edge_radius=config.edge_radius).to_dict(),
        "metric_space": "linear RGB [0, 1]; optimal output = the input frame", "complete": False,
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _open_maps(path: Path, n: int, height: int, width: int, block: int) -> zarr.Group:
    group = zarr.open_group(str(path), mode="a")
    for name, tail in (("output", (height, width, 3)), ("squared_error", (height, width))):
        if name not in group:
            group.create_array(name, shape=(n, *tail), chunks=(block, *tail), dtype="float32",
                               compressors=COMPRESSOR, fill_value=np.nan)
    return group


def _finish(out: Path, store: DatasetStore, frames: list[dict], breakdown: BreakdownConfig) -> dict:
    from frobnoscope.interp.plots import evaluation as plots

    rows = error_breakdown.combine([f["bins"] for f in frames], breakdown)
    write_csv(out / "frames.csv", [{k: f[k] for k in ("index", "split", "psnr", "ssim", "mse")} for f in frames])
    write_csv(out / "breakdown.csv", rows)
    mse = float(np.mean([f["mse"] for f in frames]))
    summary = {
        "frames": len(frames), "mean_psnr": float(np.mean([f["psnr"] for f in frames])),
        "mean_ssim": float(np.mean([f["ssim"] for f in frames])), "mse": mse,
        "psnr_of_mean_mse": float(metrics.mse_to_psnr(torch.tensor(mse))),
        "worst_bins": [{k: r[k] for k in ("factor", "bin", "psnr", "mse_vs_overall")}
                       for r in sorted((r for r in rows if r["pixels"]), key=lambda r: -r["mse_vs_overall"])[:5]],
    }
    (out / "plots").mkdir(exist_ok=True)
    plots.plot_breakdown(rows, summary["psnr_of_mean_mse"], out / "plots" / "breakdown.png")
    plots.plot_frames(frames, out / "plots" / "frames.png")
    maps = zarr.open_group(str(out / MAPS), mode="r")
    plots.plot_examples(store, maps, frames, out / "plots" / "examples.png")
    return summary


def read_breakdown(run_dir) -> list[dict]:
    """breakdown.csv of a finished evaluation, numbers parsed."""
    with open(Path(run_dir) / "breakdown.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("pixels",):
            row[key] = int(row[key])
        for key in ("pixel_share", "mse", "psnr", "mse_vs_overall"):
            row[key] = float(row[key])
    return rows
