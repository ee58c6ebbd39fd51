"""`frob train ae`: train an autoencoder on a dataset's `rgb` frames, resumably and deterministically.

Run directory:
  manifest.json        format frobnoscope.train/1: command, config (`AutoencoderTrainConfig.to_dict()`), dataset (path,
                       manifest hash), split, results
  checkpoints/         every `checkpoint_every` steps (see `checkpoint`); a rerun of the same command resumes from
                       the latest one
  model/               the final model (`save_pretrained`: config.json + safetensors), loaded by `run:RUN_DIR`

Held-out split: a dataset with splits (orbit) trains on `train` and holds out the rest; otherwise frame k is held out
when k % holdout_every == holdout_every - 1. Determinism: the model is initialised from `seed`; step s draws its
batch (and horizontal flips, and the KL sample) from numpy.random.default_rng([seed, s]) alone, so a resumed run
takes exactly the steps an uninterrupted one would. Loss: MSE in the model's range (plus `kl_weight` x KL for
kl-small); gradients are clipped to norm `clip_grad_norm`; the learning rate warms up linearly, then follows a
cosine to 10%. PSNR (dB) is measured on linear [0, 1].
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from frobnoscope.engine.checkpoint import load_checkpoint, read_latest, save_checkpoint
from frobnoscope.engine.config import Config, validate_config
from frobnoscope.engine.runs import MANIFEST, existing_run, load_manifest, require_keys, run_header, write_json_atomic
from frobnoscope.models import metrics
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.models.autoencoders.architectures import ArchitectureName, architecture
from frobnoscope.models.device import device_record, prepare_device, resolve_device
from frobnoscope.models.errors import ModelError, WeightsError
from frobnoscope.models.images import Encoding, check_images
from frobnoscope.models.training_steps import StepReport, learning_rate
from frobnoscope.scenes.store import DatasetStore, dataset_reference

TRAIN_FORMAT = "frobnoscope.train/1"
CHECKPOINTS = "checkpoints"
MODEL_DIR = "model"
EVAL_BATCH = 32


class AutoencoderTrainConfig(Config):
    """The settings of `frob train ae`, stored in the run's manifest: a rerun must give the same ones."""

    arch: ArchitectureName = Field("conv", description="kl-small (diffusers AutoencoderKL, small config) or conv")
    steps: int = Field(1500, ge=1, description="optimizer steps")
    batch_size: int = Field(4, ge=1, description="frames per step")
    learning_rate: float = Field(1e-3, gt=0, description="peak Adam learning rate (linear warmup, cosine decay to 10%)")
    warmup_steps: int = Field(50, ge=0, description="steps of linear learning-rate warmup")
    seed: int = Field(0, ge=0, description="initialisation and batch order")
    holdout_every: int = Field(10, ge=2, description="hold out every n-th frame (datasets without splits)")
    checkpoint_every: int = Field(250, ge=1, description="steps between checkpoints and held-out evaluations")
    encoding: Encoding = Field("linear", description="what the model sees: linear (our data as is) or display "
                                                     "(1/2.2 gamma)")
    kl_weight: float = Field(1e-6, ge=0, description="weight of the KL term in the loss (kl-small)")
    clip_grad_norm: float = Field(1.0, gt=0, description="gradients are clipped to this norm")


def split_frames(manifest: dict, holdout_every: int) -> tuple[list[int], list[int]]:
    """(train, held-out) frame indices."""
    frames = manifest["frames"]
    if any(frame["split"] is not None for frame in frames):
        train = [f["index"] for f in frames if f["split"] == "train"]
        heldout = [f["index"] for f in frames if f["split"] != "train"]
    else:
        heldout = [k for k in range(len(frames)) if k % holdout_every == holdout_every - 1]
        train = [k for k in range(len(frames)) if k % holdout_every != holdout_every - 1]
    if not train or not heldout:
        raise ModelError(f"the dataset's {len(frames)} frames leave no {'training' if not train else 'held-out'} frames; "
                         "generate more frames or change holdout_every")
    return train, heldout


def evaluate_frames(adapter: AutoencoderAdapter, frames: torch.Tensor) -> dict[str, float]:
    """Mean PSNR and SSIM of reconstructing `frames` (linear [0, 1], (N, 3, H, W))."""
    psnrs, ssims = [], []
    adapter.module.eval()
    for start in range(0, len(frames), EVAL_BATCH):
        batch = frames[start:start + EVAL_BATCH]
        output = adapter.forward(batch)
        psnrs.append(metrics.psnr(output, batch))
        ssims.append(metrics.ssim(output, batch))
    return {"psnr": float(torch.cat(psnrs).mean()), "ssim": float(torch.cat(ssims).mean())}


@dataclass
class TrainJob:
    store: DatasetStore
    out: Path
    config: AutoencoderTrainConfig
    manifest: dict
    device: torch.device


def prepare_training(data_dir, out, config: AutoencoderTrainConfig | dict,
                     device: str | torch.device | None = "cpu") -> TrainJob:
    """Check the settings (a `ConfigError` naming the field), the device, the dataset and the run directory, and
    write the run's manifest; one-line errors."""
    config = validate_config(AutoencoderTrainConfig, config, "autoencoder training settings")
    device = prepare_device(resolve_device(device))
    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise ModelError(f"{data_dir} is unfinished; finish it with the `frob scenes generate` command that made it")
    check_images(torch.zeros(1, 3, store.manifest["height"], store.manifest["width"]),
                 architecture(config.arch).downsampling_factor, config.arch)
    out = Path(out)
    return TrainJob(store, out, config, _prepare_run(out, store, config), device)


def run_training(job: TrainJob, on_step: Callable[[StepReport], None] | None = None) -> dict:
    """Train from the latest checkpoint (if any) to the last step; returns the manifest's `results`."""
    store, out, config, manifest = job.store, job.out, job.config, job.manifest
    if manifest["complete"]:
        return manifest["results"]
    manifest["device"] = device_record(job.device)  # the device of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    train_ids, heldout_ids = manifest["split"]["train"], manifest["split"]["heldout"]
    frames = torch.from_numpy(store.channel("rgb")[:]).permute(0, 3, 1, 2).contiguous().to(job.device)
    arch = architecture(config.arch)
    torch.manual_seed(config.seed)
    model = arch.build().to(job.device)
    adapter = arch.make_adapter(model, f"run:{out}", config.encoding)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    latest = load_checkpoint(out / CHECKPOINTS, model, optimizer)
    start, history = (latest["step"], latest["history"]) if latest else (0, [])
    heldout = frames[heldout_ids]
    started = time.perf_counter()
    for step in range(start + 1, config.steps + 1):
        loss, batch_psnr = _train_step(adapter, optimizer, frames, train_ids, config, step)
        heldout_psnr = None
        if step % config.checkpoint_every == 0 or step == config.steps:
            heldout_psnr = evaluate_frames(adapter, heldout)["psnr"]
            history.append({"step": step, "loss": loss, "psnr": batch_psnr, "heldout_psnr": heldout_psnr})
            save_checkpoint(out / CHECKPOINTS, step, model, optimizer, history)
        if on_step:
            on_step(StepReport(step, config.steps, loss, batch_psnr, heldout_psnr))
    final = evaluate_frames(adapter, heldout)
    _save_model(model, out / MODEL_DIR)
    manifest["results"] = {"heldout_psnr": final["psnr"], "heldout_ssim": final["ssim"], "heldout_frames": len(heldout_ids),
                           "steps": config.steps, "seconds_this_session": time.perf_counter() - started, "history": history}
    manifest["complete"] = True
    write_json_atomic(out / MANIFEST, manifest)
    return manifest["results"]


def train_autoencoder(data_dir, out, config: AutoencoderTrainConfig | dict,
                      on_step: Callable[[StepReport], None] | None = None,
                      device: str | torch.device | None = "cpu") -> dict:
    """Train (or resume, or return the results of a finished run) on `device`; returns the manifest's `results`."""
    return run_training(prepare_training(data_dir, out, config, device), on_step)


def _train_step(adapter: AutoencoderAdapter, optimizer, frames: torch.Tensor, train_ids: list[int],
                config: AutoencoderTrainConfig, step: int) -> tuple[float, float]:
    rng = np.random.default_rng([config.seed, step])
    picks = rng.choice(train_ids, size=config.batch_size, replace=len(train_ids) < config.batch_size)
    batch = frames[np.sort(picks)]
    flip = torch.from_numpy(rng.random(config.batch_size) < 0.5).to(frames.device)
    batch = torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, step)
    adapter.module.train()
    x = adapter.preprocess(batch)
    output, regulariser = adapter.training_reconstruction(x, generator)
    loss = F.mse_loss(output, x) + config.kl_weight * regulariser
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(adapter.module.parameters(), config.clip_grad_norm)
    optimizer.step()
    with torch.no_grad():
        batch_psnr = metrics.psnr(adapter.postprocess(output.detach()), batch).mean()
    return float(loss.detach()), float(batch_psnr)


def _prepare_run(out: Path, store: DatasetStore, config: AutoencoderTrainConfig) -> dict:
    dataset = dataset_reference(store)
    manifest = existing_run(out, run_format=TRAIN_FORMAT, what="a training run", make_with="frob train ae",
                            config=config.to_dict(), dataset=dataset, error=ModelError)
    if manifest is not None:
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    train, heldout = split_frames(store.manifest, config.holdout_every)
    manifest = {**run_header(TRAIN_FORMAT), "kind": "autoencoder", "config": config.to_dict(), "dataset": dataset,
                "split": {"train": train, "heldout": heldout}, "complete": False}
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def read_manifest_of_run(run_dir: Path) -> dict:
    manifest = load_manifest(run_dir, expected_format=TRAIN_FORMAT, what="a training run", make_with="frob train ae",
                             error=ModelError)
    return require_keys(run_dir, manifest, {"config": dict}, make_with="frob train ae", error=ModelError)


def _save_model(model, directory: Path) -> None:
    """save_pretrained into a temporary directory, then rename it into place."""
    temp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    model.save_pretrained(temp)
    shutil.rmtree(directory, ignore_errors=True)
    temp.rename(directory)


def load_run(run_dir, *, latent: str = "mean", seed: int = 0) -> AutoencoderAdapter:
    """The model of a training run: `model/` when finished, else the latest checkpoint."""
    run_dir = Path(run_dir)
    manifest = read_manifest_of_run(run_dir)
    config = validate_config(AutoencoderTrainConfig, manifest["config"], f"settings in {run_dir / MANIFEST}")
    arch = architecture(config.arch)
    if (run_dir / MODEL_DIR / "config.json").is_file():
        from frobnoscope.models.autoencoders.pretrained import load_pretrained

        try:
            model = load_pretrained(arch.model_class(), str(run_dir / MODEL_DIR), "run")
        except WeightsError as error:
            raise WeightsError(f"{error}; delete {run_dir} and train it again with `frob train ae`") from None
    else:
        model = arch.build()
        if read_latest(run_dir / CHECKPOINTS) is None:
            raise ModelError(f"{run_dir} has no checkpoint yet; let `frob train ae` run to its first checkpoint")
        load_checkpoint(run_dir / CHECKPOINTS, model)
    return arch.make_adapter(model.eval(), f"run:{run_dir}", config.encoding, latent, seed)
