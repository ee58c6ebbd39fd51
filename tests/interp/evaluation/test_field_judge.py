"""Judging a field model (`frob eval-field`): its numbers on a few points worked by hand, the best constant, the
whole judgement of a short run beside its baselines, and the CLI's errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml

from frobnoscope.interp.evaluation.field import FieldJudgeConfig, band_labels, band_rows, judge_field
from frobnoscope.models.device import torch_threads
from frobnoscope.models.field.config import FieldModelConfig, FieldTrainConfig, PointSamplingConfig
from frobnoscope.models.field.metrics import best_constant, constant_predictions
from frobnoscope.models.field.train import train_field

# five points, one per band and two in the first: true sdf, albedo, id; and a prediction for each
TRUTH = {"sdf": np.array([-0.01, 0.015, 0.05, -0.2, 0.9]), "albedo": np.zeros((5, 3)),
         "object_id": np.array([1, 1, 2, 2, 2])}
PREDICTED = (np.array([0.01, 0.015, 0.06, -0.1, 0.1]), np.full((5, 3), 0.5), np.array([1, 2, 2, 2, 1]))


def test_band_numbers_on_five_points_by_hand():
    rows = {(r["model"], r["band"]): r for r in band_rows({"m": PREDICTED}, TRUTH, clamp=0.3)}
    assert band_labels() == ["[0, 0.02)", "[0.02, 0.1)", "[0.1, 0.3)", "[0.3, inf)"]
    everything = rows["m", "all"]
    # |clamped differences|: 0.02, 0, 0.01, 0.1, |0.1 - 0.3| = 0.2 -> mean 0.066
    assert everything["points"] == 5 and everything["sdf_mae"] == pytest.approx(0.066)
    # solid: predicted {3}, true {0, 3} -> IoU 1 / 2; signs agree at 1, 2, 3, 4
    assert everything["iou"] == 0.5 and everything["sign_accuracy"] == 0.8
    assert everything["albedo_rmse"] == pytest.approx(0.5) and everything["id_accuracy"] == 0.6
    first = rows["m", "[0, 0.02)"]
    assert first["points"] == 2 and first["sdf_mae"] == pytest.approx(0.01) and first["iou"] == 0.0
    assert first["sign_accuracy"] == 0.5 and first["id_accuracy"] == 0.5
    assert rows["m", "[0.02, 0.1)"]["sdf_mae"] == pytest.approx(0.01) and np.isnan(rows["m", "[0.02, 0.1)"]["iou"])
    assert rows["m", "[0.1, 0.3)"]["iou"] == 1.0 and rows["m", "[0.1, 0.3)"]["sdf_mae"] == pytest.approx(0.1)
    last = rows["m", "[0.3, inf)"]
    assert last["points"] == 1 and last["sdf_mae"] == pytest.approx(0.2) and last["id_accuracy"] == 0.0


def test_the_best_constant_is_the_median_clamped_sdf_the_mean_albedo_and_the_majority_id():
    truth = {**TRUTH, "albedo": np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]], float)}
    constant = best_constant(truth, clamp=0.3, n_objects=2)
    assert constant["sdf"] == pytest.approx(0.015) and constant["object_id"] == 2
    assert np.allclose(constant["albedo"], [0.4, 0.4, 0.4])
    sdf, albedo, object_id = constant_predictions(constant, 5)
    rows = {r["band"]: r for r in band_rows({"c": (sdf, albedo, object_id)}, truth, clamp=0.3)}
    assert rows["all"]["id_accuracy"] == 0.6 and rows["all"]["iou"] == 0.0  # a constant outside: nothing solid
    # any other constant SDF does worse on the mean absolute error
    assert all(band_rows({"c": (sdf + shift, albedo, object_id)}, truth, 0.3)[0]["sdf_mae"] > rows["all"]["sdf_mae"]
               for shift in (-0.02, 0.02))


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, two_objects):
    folder = tmp_path_factory.mktemp("field-judge")
    (folder / "two.yaml").write_text(yaml.safe_dump(two_objects))
    model = FieldModelConfig(hidden_width=32, hash_levels=4, hash_log2_table_size=14, hash_base_resolution=8,
                             hash_max_resolution=32)
    config = FieldTrainConfig(model=model, sampling=PointSamplingConfig(points_per_step=256), steps=150,
                              heldout_points=512, eval_every=150, checkpoint_every=150, threads=1)
    with torch_threads(1):
        train_field(folder / "two.yaml", folder / "run", config)
    return folder / "run"


def test_the_judgement_writes_bands_and_a_manifest_and_the_trained_model_beats_its_baselines(short_run, tmp_path):
    out = tmp_path / "eval"
    summary = judge_field(short_run, out, FieldJudgeConfig(near_points=1500, uniform_points=1500))
    assert set(summary) == {"trained", "untrained", "constant"}
    assert list(summary["trained"]) == ["all", *band_labels()]
    assert sum(summary["trained"][band]["points"] for band in band_labels()) == summary["trained"]["all"]["points"] == 3000
    trained, untrained, constant = (summary[name]["all"] for name in ("trained", "untrained", "constant"))
    assert trained["sdf_mae"] * 5 < min(untrained["sdf_mae"], constant["sdf_mae"])
    assert trained["id_accuracy"] > max(untrained["id_accuracy"], constant["id_accuracy"]) + 0.3
    assert trained["iou"] > 0.8 and trained["albedo_rmse"] < 0.5 * constant["albedo_rmse"]
    with open(out / "bands.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15 and rows[0]["model"] == "trained" and rows[0]["band"] == "all"
    assert float(rows[0]["sdf_mae"]) == pytest.approx(trained["sdf_mae"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "frobnoscope.field-eval/1" and manifest["run"]["manifest_blake2b"]
    assert manifest["sdf_clamp"] == 0.3 and manifest["constant"]["object_id"] in (1, 2)
    again = judge_field(short_run, tmp_path / "again", FieldJudgeConfig(near_points=1500, uniform_points=1500))
    assert json.dumps(again) == json.dumps(summary)  # seeded: the same points, the same numbers


def test_cli_errors_are_one_line_with_exit_code_2(short_run, tmp_path, frob_cli):
    for args, message in [(("eval-field", short_run, "--out", short_run), "exists and is not empty"),
                          (("eval-field", tmp_path, "--out", tmp_path / "e"), "is not a field-model run"),
                          (("eval-field", short_run, "--out", tmp_path / "e", "--near-points", "0"),
                           "--near-points: Input should be greater than or equal to 1")]:
        code, stderr = frob_cli(*args)
        assert code == 2 and message in stderr and stderr.strip().count("\n") == 0, (args, stderr)
