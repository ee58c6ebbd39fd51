"""`frob train nerf`: fit a `NerfModel` to an orbit dataset's train views, resumably and deterministically.

Run directory:
  manifest.json   format frobnoscope.nerf/1: command, package version, config (`NerfTrainConfig.to_dict()`, seed
                  included), dataset (path and manifest hash), splits, the field's box and background, `complete`, and
                  at the end `results`
  checkpoints/    every `checkpoint_every` steps: model and Adam state in safetensors, step and history in
                  latest.json (`engine.checkpoint`); rerunning the same command resumes from the latest one
  model/          the final model: config.json + model.safetensors (`load_nerf_run`)

Determinism: the field is initialised from `seed`; step s draws its rays and its sample jitter from a torch
generator seeded by numpy.random.default_rng([seed, s]) alone, so the only random state is the step number, and a
resumed run takes exactly the steps an uninterrupted one would (same weights, bit for bit, on the same thread count).
Loss: mean squared error of linear RGB on the rays' pixels. Adam (betas 0.9, 0.99; eps 1e-15, as instant-NGP);
learning rate: linear warmup, then cosine decay to 10% (`models.training_steps.learning_rate`). Held-out PSNR
(dB, linear RGB, data range 1) is measured on the val views every `eval_every` steps; the final results cover val
and test.
`seconds` in the history is wall time spent in this run, evaluation included, summed over resumed sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from frobnoscope.engine.checkpoint import load_checkpoint, load_final_or_latest, save_checkpoint
from frobnoscope.engine.config import Config, validate_config
from frobnoscope.engine.runs import MANIFEST, existing_run, load_manifest, require_keys, run_header, write_json_atomic
from frobnoscope.engine.tensor_files import save_safetensors_atomic
from frobnoscope.models.device import device_record, prepare_device, resolve_device, torch_threads
from frobnoscope.models.errors import ModelError
from frobnoscope.models.metrics import mse_to_psnr
from frobnoscope.models.nerf.data import OrbitData, load_orbit
from frobnoscope.models.nerf.field import FieldConfig
from frobnoscope.models.nerf.model import NerfModel, SamplingConfig
from frobnoscope.models.training_steps import StepReport, learning_rate
from frobnoscope.scenes.store import dataset_reference

NERF_FORMAT = "frobnoscope.nerf/1"
CHECKPOINTS = "checkpoints"
MODEL_DIR = "model"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class NerfTrainConfig(Config):
    """The settings of `frob train nerf`, stored in the run's manifest: a rerun must give the same ones."""

    field: FieldConfig = Field(default_factory=FieldConfig, description="the field's architecture")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="samples per ray")
    steps: int = Field(1500, ge=1, description="optimizer steps")
    rays_per_step: int = Field(1024, ge=1, description="rays (pixels of the train views) per step")
    learning_rate: float = Field(1e-2, gt=0, description="peak Adam learning rate (linear warmup, cosine decay to 10%)")
    warmup_steps: int = Field(20, ge=0, description="steps of linear learning-rate warmup")
    seed: int = Field(0, ge=0, description="initialisation, ray batches and sample jitter")
    eval_every: int = Field(100, ge=1, description="steps between held-out (val) PSNR measurements")
    checkpoint_every: int = Field(250, ge=1, description="steps between checkpoints")
    threads: int = Field(2, ge=1, description="torch threads (results are reproducible for a fixed count)")


def build_model(config: NerfTrainConfig, box, background) -> NerfModel:
    """The model a run trains, initialised from `config.seed` alone (torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # nn.Linear initialises from the global generator
        return NerfModel(config.field, config.sampling, box, background, torch.Generator().manual_seed(config.seed))


def step_generator(seed: int, step: int) -> torch.Generator:
    """The only source of randomness of step `step` (1-based)."""
    return torch.Generator().manual_seed(int(np.random.default_rng([seed, step]).integers(2**62)))


def heldout_psnr(model: NerfModel, data: OrbitData, frames: list[int]) -> float:
    """PSNR (dB) of rendering `frames` against their rgb, over all their pixels together."""
    device = model.box.device
    origins, directions = (rays.reshape(-1, 3).to(device) for rays in data.rays(frames))
    rendered = model.render(origins, directions, keys=("rgb",))["rgb"].cpu()
    return float(mse_to_psnr((rendered.double() - data.rgb[frames].reshape(-1, 3).double()).pow(2).mean()))


def train_nerf(data_dir, out, config: NerfTrainConfig | dict,
               on_step: Callable[[StepReport], None] | None = None, device: str | torch.device | None = "cpu") -> dict:
    """Train (or resume, or return the results of a finished run) on `device`; returns the manifest's `results`.
    Settings that do not validate raise a `ConfigError` naming the field."""
    config = validate_config(NerfTrainConfig, config, "NeRF training settings")
    device = prepare_device(resolve_device(device))
    data = load_orbit(data_dir)
    out = Path(out)
    manifest = _prepare_run(out, data, config)
    if manifest["complete"]:
        return manifest["results"]
    manifest["device"] = device_record(device)  # the device of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    with torch_threads(config.threads):
        return _fit(out, data, config, manifest, on_step, device)


def _fit(out: Path, data: OrbitData, config: NerfTrainConfig, manifest: dict,
         on_step: Callable[[StepReport], None] | None, device: torch.device) -> dict:
    model = build_model(config, data.box, data.background).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99), eps=1e-15)
    latest = load_checkpoint(out / CHECKPOINTS, model, optimizer)
    start, history = (latest["step"], latest["history"]) if latest else (0, [])
    seconds = history[-1]["seconds"] if history else 0.0
    train_frames = data.splits["train"]
    origins, directions = (rays.reshape(-1, 3).to(device) for rays in data.rays(train_frames))
    pixels = data.rgb[train_frames].reshape(-1, 3).to(device)
    eval_frames = data.splits["val"] or data.splits["test"]
    session_start = time.perf_counter() - seconds
    for step in range(start + 1, config.steps + 1):
        loss = _train_step(model, optimizer, config, step, origins, directions, pixels)
        psnr = float(mse_to_psnr(torch.tensor(loss)))
        heldout = None
        if step % config.eval_every == 0 or step == config.steps:
            model.eval()
            heldout = heldout_psnr(model, data, eval_frames)
            model.train()
            history.append({"step": step, "loss": loss, "psnr": psnr, "heldout_psnr": heldout,
                            "seconds": time.perf_counter() - session_start})
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(out / CHECKPOINTS, step, model, optimizer, history)
        if on_step:
            on_step(StepReport(step, config.steps, loss, psnr, heldout))
    model.eval()
    save_nerf_model(model, config, out / MODEL_DIR)
    results = {split: heldout_psnr(model, data, frames) for split, frames in data.splits.items() if frames and split != "train"}
    manifest["results"] = {"psnr": results, "steps": config.steps, "seconds": history[-1]["seconds"],
                           "seconds_to_25db": seconds_to(history, 25.0), "history": history}
    manifest["complete"] = True
    write_json_atomic(out / MANIFEST, manifest)
    return manifest["results"]


def seconds_to(history: list[dict], psnr: float) -> float | None:
    """Wall seconds until the first evaluation at or above `psnr` dB held out (None if never)."""
    return next((entry["seconds"] for entry in history if entry["heldout_psnr"] >= psnr), None)


def _train_step(model: NerfModel, optimizer, config: NerfTrainConfig, step: int, origins, directions, pixels) -> float:
    generator = step_generator(config.seed, step)
    rays = torch.randint(len(origins), (config.rays_per_step,), generator=generator).to(origins.device)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, step)
    rendered = model.render_rays(origins[rays], directions[rays], generator)
    loss = (rendered["rgb"] - pixels[rays]).pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _prepare_run(out: Path, data: OrbitData, config: NerfTrainConfig) -> dict:
    dataset = dataset_reference(data.store)
    manifest = existing_run(out, run_format=NERF_FORMAT, what="a NeRF run", make_with="frob train nerf",
                            config=config.to_dict(), dataset=dataset, error=ModelError)
    if manifest is not None:
        return manifest
    out.mkdir(parents=True, exist_ok=True)
    manifest = {**run_header(NERF_FORMAT), "kind": "nerf", "config": config.to_dict(), "dataset": dataset,
                "split": data.splits, "scene": data.specs[0].model_dump(mode="json"), "box": data.box.tolist(), "background": data.background.tolist(), "complete": False}
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def read_nerf_manifest(run_dir) -> dict:
    manifest = load_manifest(run_dir, expected_format=NERF_FORMAT, what="a NeRF run", make_with="frob train nerf",
                             error=ModelError)
    return require_keys(run_dir, manifest, {"config": dict, "dataset": dict, "split": dict, "box": list,
                                            "background": list}, make_with="frob train nerf", error=ModelError)


def save_nerf_model(model: NerfModel, config: NerfTrainConfig, directory: Path) -> None:
    """config.json (the training config, box, background) + model.safetensors, written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(model.state_dict(), directory / WEIGHTS_FILE)
    write_json_atomic(directory / CONFIG_FILE, {"config": config.to_dict(), "box": model.box.tolist(),
                                                "background": model.background.tolist()})


def load_nerf_run(run_dir) -> tuple[NerfModel, dict]:
    """The model of a `frob train nerf` run (model/ when finished, else its latest checkpoint), in eval mode, and
    the run's manifest. Weights load through safetensors only."""
    run_dir = Path(run_dir)
    manifest = read_nerf_manifest(run_dir)
    config = validate_config(NerfTrainConfig, manifest["config"], f"settings in {run_dir / MANIFEST}")
    model = build_model(config, manifest["box"], manifest["background"])
    load_final_or_latest(model, run_dir / MODEL_DIR / WEIGHTS_FILE, run_dir / CHECKPOINTS, run_dir, "frob train nerf",
                         ModelError)
    return model.eval(), manifest
