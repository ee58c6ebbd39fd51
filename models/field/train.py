"""`frob train field`: fit a `FieldModel` to a scene's exact 3D truth at sampled points, resumably and
deterministically.

The run directory (format frobnoscope.field/1) is laid out as `run` says.

Step s trains on `points_per_step` points from `sampling.step_rng(seed, s)` and their truth (`scene_truth`), with the
loss of `config`; the model is initialised from `seed`, so a resumed run takes exactly the steps an uninterrupted one
would. Adam (betas 0.9, 0.99; eps 1e-15); learning rate: linear warmup, then cosine decay to 10%. Every `eval_every`
steps the `heldout_points` of step 0 are measured (`metrics.field_errors`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.checkpoint import load_checkpoint, save_checkpoint
from frobnoscope.engine.config import validate_config
from frobnoscope.engine.runs import MANIFEST, existing_run, run_header, write_json_atomic
from frobnoscope.models.device import device_record, prepare_device, resolve_device, torch_threads
from frobnoscope.models.errors import ModelError
from frobnoscope.models.field.config import FieldTrainConfig
from frobnoscope.models.field.model import FieldModel, build_model, field_loss
from frobnoscope.models.field.run import CHECKPOINTS, FIELD_FORMAT, MAKE_WITH, MODEL_DIR, evaluate, save_field_model
from frobnoscope.models.field.sampling import field_box, sample_points, scene_truth, step_rng
from frobnoscope.models.field.source import load_source
from frobnoscope.models.training_steps import learning_rate
from frobnoscope.scenes.scene import Scene


@dataclass(frozen=True)
class FieldStepReport:
    step: int
    steps: int
    loss: float
    heldout: dict | None  # `metrics.field_errors` at the steps that measure the held-out points, else None


def train_field(data_or_spec, out, config: FieldTrainConfig | dict,
                on_step: Callable[[FieldStepReport], None] | None = None,
                device: str | torch.device | None = "cpu") -> dict:
    """Train (or resume, or return the results of a finished run) on `device`; returns the manifest's `results`."""
    config = validate_config(FieldTrainConfig, config, "field training settings")
    device = prepare_device(resolve_device(device))
    spec, reference = load_source(data_or_spec)
    scene, out = Scene(spec), Path(out)
    manifest = existing_run(out, run_format=FIELD_FORMAT, what="a field-model run", make_with=MAKE_WITH,
                            config=config.to_dict(), dataset=reference, error=ModelError)
    if manifest is not None and manifest.get("complete"):
        return manifest["results"]
    if manifest is None:
        out.mkdir(parents=True, exist_ok=True)
        manifest = {**run_header(FIELD_FORMAT), "kind": "field", "config": config.to_dict(), "dataset": reference,
                    "scene": spec.model_dump(mode="json"), "objects": [obj.name for obj in spec.objects],
                    "box": field_box(scene, config.sampling.box_padding).tolist(), "complete": False}
    manifest["device"] = device_record(device)  # the device of the latest session
    write_json_atomic(out / MANIFEST, manifest)
    with torch_threads(config.threads):
        return _fit(out, scene, config, manifest, on_step, device)


def heldout_set(scene: Scene, box: np.ndarray, config: FieldTrainConfig) -> tuple[np.ndarray, dict]:
    """The run's fixed held-out points ("step 0" of its seed) and their truth."""
    sampling = config.sampling
    points = sample_points(scene, box, config.heldout_points, sampling.near_fraction, sampling.near_sigma,
                           step_rng(config.seed, 0))
    return points, scene_truth(scene, points)


def _fit(out: Path, scene: Scene, config: FieldTrainConfig, manifest: dict, on_step, device: torch.device) -> dict:
    box = np.asarray(manifest["box"])
    model = build_model(config, box, len(scene.spec.objects)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=(0.9, 0.99), eps=1e-15)
    latest = load_checkpoint(out / CHECKPOINTS, model, optimizer)
    start, history = (latest["step"], latest["history"]) if latest else (0, [])
    session_start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    heldout_points, heldout_truth = heldout_set(scene, box, config)
    for step in range(start + 1, config.steps + 1):
        loss = _train_step(model, optimizer, scene, box, config, step)
        heldout = None
        if step % config.eval_every == 0 or step == config.steps:
            heldout = evaluate(model.eval(), heldout_points, heldout_truth, config.sdf_clamp)
            model.train()
            history.append({"step": step, "loss": loss, "heldout": heldout,
                            "seconds": time.perf_counter() - session_start})
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(out / CHECKPOINTS, step, model, optimizer, history)
        if on_step:
            on_step(FieldStepReport(step, config.steps, loss, heldout))
    model.eval()
    save_field_model(model, config, out / MODEL_DIR)
    manifest["results"] = {"heldout": evaluate(model, heldout_points, heldout_truth, config.sdf_clamp),
                           "steps": config.steps, "seconds": history[-1]["seconds"], "history": history}
    manifest["complete"] = True
    write_json_atomic(out / MANIFEST, manifest)
    return manifest["results"]


def _train_step(model: FieldModel, optimizer, scene: Scene, box: np.ndarray, config: FieldTrainConfig,
                step: int) -> float:
    sampling, device = config.sampling, model.box.device
    points = sample_points(scene, box, sampling.points_per_step, sampling.near_fraction, sampling.near_sigma,
                           step_rng(config.seed, step))
    truth = scene_truth(scene, points)
    target = {"sdf": torch.from_numpy(truth["sdf"]).float().to(device),
              "albedo": torch.from_numpy(truth["albedo"]).float().to(device),
              "object_id": torch.from_numpy(truth["object_id"].astype(np.int64)).to(device)}
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, step)
    loss = field_loss(model(torch.from_numpy(points).float().to(device)), target, config)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
