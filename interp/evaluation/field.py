"""`frob eval-field`: judge a field model (`frob train field`) against its scene's exact 3D truth, by distance band.

Points: `near_points` near the surfaces (offset along the normal by N(0, near_sigma) truncated to 3 sigma,
stratified by object: `models.field.sampling`) and `uniform_points` uniform in the field's box, fresh: drawn from
numpy.random.default_rng([seed, JUDGE_STREAM, 1]), a stream no training step uses (training seeds are two numbers).
Truth: the adapter's `optimal_output` (`Scene.query`). Bands: |true sdf| in [0, 0.02), [0.02, 0.1), [0.1, 0.3) and
[0.3, inf) scene units (`BAND_EDGES`), plus "all". Per band, `models.field.metrics.field_errors`: SDF mean absolute
error of both SDFs clamped to the run's sdf_clamp, solid IoU and sign accuracy, albedo RMSE, object-id accuracy.

Three predictions are judged on the same points: the trained model; an untrained copy (same config and seed, never
stepped); the best constant (median clamped SDF, mean albedo, majority id of these very points: the constant with
the least error for each metric; an optimistic baseline, since it is fitted to the points it is judged on).

Output directory:
  manifest.json   format frobnoscope.field-eval/1: command, config, run (path, manifest hash), model, device,
                  constant (the best constant's values), summary ({model: {band: errors}})
  bands.csv       one row per model (trained, untrained, constant) and band: points and the errors
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from frobnoscope.engine.config import Config, validate_config
from frobnoscope.engine.runs import MANIFEST, run_header, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.device import device_record, prepare_device, resolve_device
from frobnoscope.models.field.adapter import load_field
from frobnoscope.models.field.config import FieldTrainConfig
from frobnoscope.models.field.metrics import KEYS, best_constant, constant_predictions, field_errors
from frobnoscope.models.field.model import build_model
from frobnoscope.models.field.run import predict, read_field_manifest
from frobnoscope.models.field.sampling import near_surface_points

FIELD_JUDGE_FORMAT = "frobnoscope.field-eval/1"
BAND_EDGES = (0.02, 0.1, 0.3)  # scene units, on |true sdf|
JUDGE_STREAM = 27253
MODELS = ("trained", "untrained", "constant")


class FieldJudgeConfig(Config):
    """How many points `frob eval-field` judges; stored in its manifest."""

    near_points: int = Field(20_000, ge=1, description="points near the true surfaces")
    uniform_points: int = Field(20_000, ge=1, description="points uniform in the field's box")
    near_sigma: float = Field(0.05, gt=0, description="near points are offset along the normal by N(0, sigma), "
                                                      "truncated to 3 sigma (scene units)")
    seed: int = Field(0, ge=0, description="seed of the point samples")


def band_labels(edges=BAND_EDGES) -> list[str]:
    bounds = [0.0, *edges, float("inf")]
    return [f"[{low:g}, {high:g})" for low, high in zip(bounds[:-1], bounds[1:])]


def band_rows(predictions: dict[str, tuple], truth: dict[str, np.ndarray], clamp: float,
              edges=BAND_EDGES) -> list[dict]:
    """One row per model in `predictions` ({name: (sdf, albedo, object_id)}) and band ("all", then by |true sdf|)."""
    bands = np.digitize(np.abs(truth["sdf"]), edges)
    rows = []
    for name, (sdf, albedo, object_id) in predictions.items():
        for index, label in [(None, "all"), *enumerate(band_labels(edges))]:
            mine = np.ones(len(bands), bool) if index is None else bands == index
            part = {key: np.asarray(value)[mine] for key, value in truth.items()}
            rows.append({"model": name, "band": label,
                         **field_errors(np.asarray(sdf)[mine], np.asarray(albedo)[mine], np.asarray(object_id)[mine],
                                        part, clamp)})
    return rows


def check_inputs(run_dir, out) -> dict:
    """The run's manifest; one-line errors for a directory that is not a field run and an `out` already in use."""
    if Path(out).exists() and any(Path(out).iterdir()):
        raise InterpError(f"{out} exists and is not empty; choose a new output directory")
    return read_field_manifest(run_dir)


def judge_field(run_dir, out, config: FieldJudgeConfig | dict = FieldJudgeConfig(),
                device: str | torch.device | None = "cpu") -> dict:
    """Judge the run in `run_dir` on `device`, write `out` (see the module docstring); returns the summary."""
    config = validate_config(FieldJudgeConfig, config, "field judging settings")
    device = prepare_device(resolve_device(device))
    run_manifest = check_inputs(run_dir, out)
    adapter = load_field(run_dir, device=device)
    box = adapter.model.box.cpu().double().numpy()
    rng = np.random.default_rng([config.seed, JUDGE_STREAM, 1])
    points = np.concatenate([near_surface_points(adapter.scene, config.near_points, config.near_sigma, rng),
                             rng.uniform(box[0], box[1], size=(config.uniform_points, 3))])
    truth = adapter.optimal_output(points)
    train_config = validate_config(FieldTrainConfig, run_manifest["config"], f"settings in {Path(run_dir) / MANIFEST}")
    untrained = build_model(train_config, box, adapter.n_objects).to(device).eval()
    constant = best_constant(truth, adapter.sdf_clamp, adapter.n_objects)
    predicted = {name: predict(model, points) for name, model in (("trained", adapter.model), ("untrained", untrained))}
    predictions = {name: (p["sdf"], p["albedo"], p["object_id"]) for name, p in predicted.items()}
    predictions["constant"] = constant_predictions(constant, len(points))
    rows = band_rows(predictions, truth, adapter.sdf_clamp)
    summary = {name: {row["band"]: {key: row[key] for key in ("points", *KEYS)} for row in rows if row["model"] == name}
               for name in MODELS}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "bands.csv", rows)
    manifest = {**run_header(FIELD_JUDGE_FORMAT), "config": config.to_dict(),
                "run": {"path": str(Path(run_dir).resolve()),
                        "manifest_blake2b": hashlib.blake2b((Path(run_dir) / MANIFEST).read_bytes(),
                                                            digest_size=16).hexdigest()},
                "model": adapter.name, "device": device_record(device), "sdf_clamp": adapter.sdf_clamp,
                "constant": {"sdf": constant["sdf"], "albedo": constant["albedo"].tolist(),
                             "object_id": constant["object_id"]},
                "summary": summary, "conventions": "sdf in scene units, negative inside; albedo linear RGB [0, 1]; "
                                                   "object ids 1-based (objects[k - 1] of the run's manifest)"}
    write_json_atomic(out / MANIFEST, manifest)
    return summary
