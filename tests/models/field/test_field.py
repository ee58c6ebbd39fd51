"""Field models (`frob train field`): where they sample, what they are fitted to, that training learns, resumes
exactly, and that the adapter and the CLI behave.

Training must learn: 200 steps of 256 points (hash grid of 4 levels, width 32, one torch thread, about 3 s) on a
sphere and a box, judged on 4,000 fresh points (half near the surfaces, half uniform in the box) against Scene.query.
Measured: SDF MAE (both clamped to 0.3 units) 0.0033 against 0.092 for an untrained copy and 0.081 for the best
constant; solid IoU 0.966 against 0.360 and 0.0; id accuracy 0.999 against 0.534 for both (the majority class). The
test asks for an SDF MAE under a fifth of the better baseline's (SDF_MARGIN), an IoU above 0.8 and 0.3 above either
baseline's, and an id accuracy 0.3 above either baseline's: a trainer whose optimizer never steps fails all three.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from frobnoscope.engine.tensor_files import load_state_dict
from frobnoscope.models.device import torch_threads
from frobnoscope.models.errors import ModelError
from frobnoscope.models.field.adapter import FieldAdapter, PointBatch, load_field
from frobnoscope.models.field.config import FieldModelConfig, FieldTrainConfig, PointSamplingConfig
from frobnoscope.models.field.model import build_model
from frobnoscope.models.field.sampling import TRUNCATION, field_box, sample_points, scene_truth, step_rng
from frobnoscope.models.field.train import train_field
from frobnoscope.models.loading.registry import load_any_model, load_model
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import load_spec

SDF_MARGIN = 5.0  # the trained SDF error must be this many times smaller than the better baseline's
CLAMP = 0.3


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory, two_objects):
    path = tmp_path_factory.mktemp("field-scene") / "two.yaml"
    path.write_text(yaml.safe_dump(two_objects))
    return path


def tiny_config(**changes) -> FieldTrainConfig:
    model = FieldModelConfig(hidden_width=32, hash_levels=4, hash_log2_table_size=14, hash_base_resolution=8,
                             hash_max_resolution=32)
    settings = {"model": model, "sampling": PointSamplingConfig(points_per_step=256), "steps": 200,
                "heldout_points": 1024, "eval_every": 100, "checkpoint_every": 100, "threads": 1, **changes}
    return FieldTrainConfig(**settings)


@pytest.fixture(scope="module")
def trained(spec_file, tmp_path_factory):
    run = tmp_path_factory.mktemp("field") / "run"
    reports = []
    results = train_field(spec_file, run, tiny_config(), on_step=reports.append)
    return run, results, reports


def test_near_surface_points_lie_within_three_sigma_of_the_surface_and_uniform_ones_fill_the_box(spec_file):
    scene = Scene(load_spec(spec_file))
    box, sigma = field_box(scene, 0.05), 0.05
    points = sample_points(scene, box, 8000, 0.5, sigma, step_rng(0, 1))
    near, uniform = points[:4000], points[4000:]
    sdf = scene.signed_distances(near).min(axis=1)
    assert np.abs(sdf).max() <= TRUNCATION * sigma + 2e-3
    assert 0.6 * sigma < np.abs(sdf).mean() < 1.0 * sigma  # E|N(0, sigma)| = 0.80 sigma: the offsets are used
    assert 0.4 < (sdf < 0).mean() < 0.6  # both sides of the surface
    nearest = scene.signed_distances(near).argmin(axis=1)
    assert abs((nearest == 0).mean() - 0.5) < 0.05  # stratified: each object gets an equal share
    assert ((uniform >= box[0]) & (uniform <= box[1])).all() and (np.ptp(uniform, axis=0) > 0.9 * np.ptp(box, axis=0)).all()
    assert np.array_equal(points, sample_points(scene, box, 8000, 0.5, sigma, step_rng(0, 1)))
    assert not np.array_equal(points, sample_points(scene, box, 8000, 0.5, sigma, step_rng(0, 2)))


def test_scene_truth_is_scene_query_also_for_textured_objects(two_objects):
    spec = dict(two_objects, objects=[*two_objects["objects"], {
        "name": "tile", "shape": {"kind": "box", "extents": [0.3, 0.3, 0.3]}, "transform": {"position": [0, 0.6, 0]},
        "material": {"texture": {"kind": "checker", "color_a": [1, 1, 0], "color_b": [0, 0, 1]}}}])
    from frobnoscope.scenes.spec import parse_spec

    scene = Scene(parse_spec(spec))
    points = sample_points(scene, field_box(scene, 0.05), 600, 0.5, 0.05, step_rng(3, 1))
    fast, query = scene_truth(scene, points), scene.query(points)
    assert (fast["object_id"] == 3).sum() > 50 and len(np.unique(fast["albedo"][fast["object_id"] == 3], axis=0)) == 2
    for key in ("sdf", "occupancy", "object_id", "albedo"):
        assert np.array_equal(fast[key], query[key]), key


def errors(sdf, object_id, truth) -> tuple[float, float, float]:
    """(SDF MAE of both clamped to CLAMP, solid IoU, id accuracy), from their definitions."""
    mae = float(np.mean(np.abs(np.clip(sdf, -CLAMP, CLAMP) - np.clip(truth["sdf"], -CLAMP, CLAMP))))
    solid, true_solid = np.asarray(sdf) < 0, truth["sdf"] < 0
    return mae, float((solid & true_solid).sum() / max(1, (solid | true_solid).sum())), \
        float(np.mean(np.asarray(object_id) == truth["object_id"]))


def test_training_beats_an_untrained_copy_and_the_best_constant_on_fresh_points(trained, spec_file):
    run, results, _ = trained
    adapter = load_field(run)
    scene = adapter.scene
    rng = np.random.default_rng(12345)  # not a stream the trainer draws from
    points = sample_points(scene, adapter.model.box.numpy().astype(float), 4000, 0.5, 0.05, rng).astype(np.float32)
    truth = scene.query(points.astype(np.float64))
    out = adapter.forward(points)
    trained_errors = errors(out["sdf"].numpy(), out["object_logits"].argmax(1).numpy() + 1, truth)
    untrained = build_model(tiny_config(), adapter.model.box, 2).eval()
    with torch.no_grad():
        raw = untrained(torch.from_numpy(points))
    untrained_errors = errors(raw["sdf"].numpy(), raw["object_logits"].argmax(1).numpy() + 1, truth)
    majority = np.bincount(truth["object_id"]).argmax()
    constant = np.full(len(points), np.median(np.clip(truth["sdf"], -CLAMP, CLAMP)))
    constant_errors = errors(constant, np.full(len(points), majority), truth)
    print(f"trained {trained_errors}, untrained {untrained_errors}, constant {constant_errors}")
    assert trained_errors[0] * SDF_MARGIN < min(untrained_errors[0], constant_errors[0])
    assert trained_errors[1] > max(0.8, untrained_errors[1] + 0.3, constant_errors[1] + 0.3)
    assert trained_errors[2] > max(untrained_errors[2], constant_errors[2]) + 0.3
    assert results["heldout"]["sdf_mae"] < 0.01 and results["heldout"]["id_accuracy"] > 0.9


def test_training_reports_progress_and_writes_checkpoints_a_model_and_a_manifest(trained, spec_file):
    run, results, reports = trained
    assert [r.step for r in reports] == list(range(1, 201))
    assert [r.step for r in reports if r.heldout is not None] == [100, 200]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["format"] == "frobnoscope.field/1" and manifest["complete"] and manifest["objects"] == ["ball", "block"]
    assert manifest["dataset"]["kind"] == "spec" and manifest["dataset"]["manifest_blake2b"]
    assert (run / "model" / "model.safetensors").is_file() and (run / "checkpoints" / "latest.json").is_file()
    assert train_field(spec_file, run, tiny_config()) == results  # a finished run is not trained again
    with pytest.raises(ModelError, match=r"other settings \(seed\)") as error:
        train_field(spec_file, run, tiny_config(seed=1))
    assert "\n" not in str(error.value)


def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_weights(spec_file, tmp_path):
    config = tiny_config(steps=6, eval_every=2, checkpoint_every=2)
    train_field(spec_file, tmp_path / "whole", config)

    def stop_after_step_3(report):
        if report.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_field(spec_file, tmp_path / "resumed", config, on_step=stop_after_step_3)
    reports = []
    train_field(spec_file, tmp_path / "resumed", config, on_step=reports.append)
    assert [r.step for r in reports] == [3, 4, 5, 6]  # from the checkpoint of step 2
    whole, resumed = (load_state_dict(tmp_path / name / "model" / "model.safetensors") for name in ("whole", "resumed"))
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[key], resumed[key]) for key in whole)
    start = build_model(config, whole["box"], 2).state_dict()
    assert not torch.equal(start["sdf_head.weight"], whole["sdf_head.weight"])  # it did train


def test_the_adapter_answers_with_the_scene_as_its_optimum_and_has_hook_points(trained):
    run = trained[0]
    adapter = load_any_model(f"field:{run}")
    assert isinstance(adapter, FieldAdapter) and adapter.objects == ["ball", "block"]
    with pytest.raises(ModelError, match="coordinate MLP"):  # image-model commands refuse it in one line
        load_model(f"field:{run}")
    points = np.array([[-0.45, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.45, 0.41, 0.0]])
    truth = adapter.optimal_output(PointBatch.of(points))
    query = adapter.scene.query(points.astype(np.float32).astype(np.float64))
    for key in ("sdf", "occupancy", "object_id", "albedo"):
        assert np.array_equal(truth[key], query[key]), key
    assert truth["sdf"][0] == pytest.approx(-0.4) and list(truth["object_id"][:2]) == [1, 2]
    out = adapter.forward(points)
    assert out["sdf"].shape == (4,) and out["albedo"].shape == (4, 3) and out["object_logits"].shape == (4, 2)
    assert list(out["object_logits"].argmax(1)[:2] + 1) == [1, 2] and float(out["sdf"][0]) < 0 < float(out["sdf"][2])
    names = adapter.hook_points()
    assert names == ["position_encoding", "trunk.linear0", "trunk.act0", "trunk.out", "trunk", "trunk_activation",
                     "sdf_head", "albedo_head", "albedo_activation", "object_head"]
    captured = adapter.capture(points, ["trunk_activation", "albedo_activation"])
    assert captured["trunk_activation"].shape == (4, 32) and torch.equal(captured["albedo_activation"], out["albedo"])
    with adapter.intervene("albedo_activation", lambda value: torch.zeros_like(value)):
        assert float(adapter.forward(points)["albedo"].abs().sum()) == 0.0
    assert torch.equal(adapter.forward(points)["albedo"], out["albedo"])


def test_an_orbit_dataset_gives_its_scene_and_is_referenced_by_its_manifest_hash(tiny_orbit, tmp_path):
    config = tiny_config(steps=2, eval_every=2, checkpoint_every=2, heldout_points=64,
                         sampling=PointSamplingConfig(points_per_step=64))
    results = train_field(tiny_orbit.path, tmp_path / "run", config)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    spec = tiny_orbit.manifest["frames"][0]["spec"]
    assert manifest["dataset"]["kind"] == "orbit" and manifest["dataset"]["path"] == str(tiny_orbit.path.resolve())
    assert manifest["objects"] == [obj["name"] for obj in spec["objects"]] and manifest["scene"]["objects"] == spec["objects"]
    assert results["heldout"]["points"] == 64 and load_field(tmp_path / "run").n_objects == len(spec["objects"])


def test_bad_inputs_are_one_line_errors_with_exit_code_2(spec_file, tmp_path, frob_cli):
    from frobnoscope.scenes.generate import generate

    tabletop = generate("tabletop", n=1, seed=0, out=tmp_path / "tabletop", settings={"res": "8"})
    (tmp_path / "notes.txt").write_text("")
    cases = [
        (("train", "field", tabletop.path, "--out", tmp_path / "r1"), "'tabletop' dataset; a field model needs one scene"),
        (("train", "field", tmp_path / "missing.yaml", "--out", tmp_path / "r2"), "missing.yaml does not exist"),
        (("train", "field", tmp_path / "notes.txt", "--out", tmp_path / "r3"), "neither a dataset directory nor a scene spec"),
        (("train", "field", tmp_path, "--out", tmp_path / "r4"), "is not a dataset (no manifest.json)"),
        (("train", "field", spec_file, "--out", tmp_path / "r5", "--encoding", "fourier"), "--encoding: Input should be"),
        (("eval-field", tabletop.path, "--out", tmp_path / "e1"), "is not a field-model run"),
    ]
    for args, message in cases:
        code, stderr = frob_cli(*args)
        assert code == 2 and message in stderr and stderr.strip().count("\n") == 0, (args, stderr)
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3", "r4", "r5", "e1"))
