"""The run directory of `frob train field` (format frobnoscope.field/1): reading, saving and loading its model.

  manifest.json   command, package version, config (`FieldTrainConfig.to_dict()`), dataset (the input's reference,
                  `source`: an orbit dataset or a spec file), scene (its spec), objects (names; id k is
                  objects[k - 1]), box ((2, 3) the field's box, scene units), device, `complete`, and at the end
                  `results`: heldout (`metrics.field_errors` on the held-out points), steps, seconds, history
  checkpoints/    every `checkpoint_every` steps: model and Adam state in safetensors, step and history in
                  latest.json (`engine.checkpoint`); rerunning the same command resumes from the latest one
  model/          the final model: config.json ({config, box, n_objects}) + model.safetensors
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.checkpoint import load_final_or_latest
from frobnoscope.engine.config import validate_config
from frobnoscope.engine.runs import MANIFEST, load_manifest, require_keys, write_json_atomic
from frobnoscope.engine.tensor_files import save_safetensors_atomic
from frobnoscope.models.errors import ModelError
from frobnoscope.models.field.config import FieldTrainConfig
from frobnoscope.models.field.metrics import field_errors
from frobnoscope.models.field.model import FieldModel, build_model

FIELD_FORMAT = "frobnoscope.field/1"
MAKE_WITH = "frob train field"
CHECKPOINTS = "checkpoints"
MODEL_DIR = "model"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
POINT_CHUNK = 65536


def read_field_manifest(run_dir) -> dict:
    manifest = load_manifest(run_dir, expected_format=FIELD_FORMAT, what="a field-model run", make_with=MAKE_WITH,
                             error=ModelError)
    return require_keys(run_dir, manifest, {"config": dict, "dataset": dict, "scene": dict, "objects": list,
                                            "box": list}, make_with=MAKE_WITH, error=ModelError)


def save_field_model(model: FieldModel, config: FieldTrainConfig, directory: Path) -> None:
    """config.json + model.safetensors, written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(model.state_dict(), directory / WEIGHTS_FILE)
    write_json_atomic(directory / CONFIG_FILE, {"config": config.to_dict(), "box": model.box.tolist(),
                                                "n_objects": model.n_objects})


def load_field_run(run_dir) -> tuple[FieldModel, dict]:
    """The model of a `frob train field` run (model/ when finished, else its latest checkpoint), in eval mode, and
    the run's manifest. Weights load through safetensors only."""
    run_dir = Path(run_dir)
    manifest = read_field_manifest(run_dir)
    config = validate_config(FieldTrainConfig, manifest["config"], f"settings in {run_dir / MANIFEST}")
    model = build_model(config, manifest["box"], len(manifest["objects"]))
    load_final_or_latest(model, run_dir / MODEL_DIR / WEIGHTS_FILE, run_dir / CHECKPOINTS, run_dir, MAKE_WITH,
                         ModelError)
    return model.eval(), manifest


@torch.no_grad()
def predict(model: FieldModel, points: np.ndarray, chunk: int = POINT_CHUNK) -> dict[str, np.ndarray]:
    """The model's answers at (N, 3) world points as float64 arrays: sdf (N,), albedo (N, 3), object_id (N,)
    (argmax of the logits + 1)."""
    parts = []
    for start in range(0, len(points), chunk):
        out = model(torch.as_tensor(points[start:start + chunk], dtype=torch.float32, device=model.box.device))
        parts.append({"sdf": out["sdf"], "albedo": out["albedo"], "object_id": out["object_logits"].argmax(dim=-1) + 1})
    return {key: torch.cat([part[key] for part in parts]).cpu().double().numpy() if key != "object_id"
            else torch.cat([part[key] for part in parts]).cpu().numpy() for key in ("sdf", "albedo", "object_id")}


def evaluate(model: FieldModel, points: np.ndarray, truth: dict, clamp: float) -> dict[str, float]:
    """`metrics.field_errors` of the model at `points` against their `truth`."""
    predicted = predict(model, points)
    return field_errors(predicted["sdf"], predicted["albedo"], predicted["object_id"], truth, clamp)
