"""Probes: a planted linear factor is recovered, the random-weights control and shuffled targets score lower."""

import shutil

import numpy as np
import pytest
import torch
import zarr

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ZARR, ActivationStore
from frobnoscope.interp.probes import ridge
from frobnoscope.interp.probes.linear import ProbeConfig
from frobnoscope.interp.probes.run import read_csv, run_probes

HOOK = "encoder.4"
CONFIG = ProbeConfig(tokens_per_frame=128, max_fit_tokens=4000, logistic_epochs=3)


@pytest.fixture(scope="module")
def runs(interp_dataset, tiny_model_spec, tmp_path_factory):
    """(trained-weights run, random-weights run, planted run) of one hook point."""
    root = tmp_path_factory.mktemp("probes")
    config = CaptureConfig(model=tiny_model_spec, hooks=HOOK, batch_size=8, dtype="float32")
    trained = capture(interp_dataset.path, root / "trained", config)
    control = capture(interp_dataset.path, root / "control",
                      config.model_copy(update={"random_weights_seed": 5}))
    planted = root / "planted"
    shutil.copytree(trained, planted)
    store = ActivationStore.open(planted)
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(len(store), *store.shape(HOOK))).astype(np.float32)
    depth = np.nan_to_num(store.gt(HOOK, "depth_z")[:], nan=0.0)
    acts[..., 0] += 10 * depth  # depth_z is linearly present on every surface token
    acts[..., 1] += store.factors()["camera_elevation_deg"][:, None, None] / 10  # and the elevation in every frame
    zarr.open_group(str(planted / ZARR), mode="r+")[HOOK]["acts"][:] = acts
    return trained, control, planted


def scores(rows, factor, metric="r2"):
    (row,) = [r for r in rows if r["factor"] == factor and r["metric"] == metric]
    return row


def test_planted_factors_are_probed_with_high_r2_and_shuffled_near_zero(runs, tmp_path):
    _, control, planted = runs
    rows = run_probes(planted, tmp_path / "out", control=control, config=CONFIG)
    depth = scores(rows, "depth_z")
    assert depth["score"] > 0.95
    assert depth["control_score"] < depth["score"] - 0.1  # the random-weights model carries depth less linearly
    elevation = scores(rows, "camera_elevation_deg")  # cross-validated over all 16 frames, folds of 3 or 4
    assert elevation["score"] > 0.8 and elevation["n_test"] == 16 and not elevation["note"]
    albedo = scores(rows, "albedo.r")  # planted noise carries no albedo: shuffled and real both ~0
    assert albedo["shuffled"] < 0.1 and albedo["selectivity"] < 0.1  # R^2 <= ~0: no better than the test mean
    assert scores(rows, "depth_z")["shuffled"] < depth["score"] - 0.3
    written = read_csv(tmp_path / "out" / "probes.csv")
    assert len(written) == len(rows) and (tmp_path / "out" / "heatmap.png").stat().st_size > 1000
    assert {"object_id", "edges", "normal_world.y", "n_objects"} <= {r["factor"] for r in rows}
    assert {r["metric"] for r in rows} == {"r2", "accuracy", "balanced_accuracy", "macro_f1", "average_precision"}
    assert all(r["baseline"] == 0.0 for r in rows if r["metric"] == "r2")
    assert read_csv(tmp_path / "out" / "disentanglement.csv")[0]["hook"] == "encoder.4"


def test_trained_model_beats_shuffled_targets_on_image_content(runs):
    trained, _, _ = runs
    from frobnoscope.interp.probes.linear import probe_store

    rows = probe_store(ActivationStore.open(trained), CONFIG)
    assert scores(rows, "rgb.g")["selectivity"] > 0.3
    assert scores(rows, "background_fraction")["score"] > 0.3


def test_streaming_ridge_equals_the_batch_solution():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 6))
    y = x @ rng.normal(size=(6, 2)) + 0.5 + 0.1 * rng.normal(size=(500, 2))
    stats = ridge.RidgeStats(6, 2)
    for start in range(0, 500, 64):
        stats.add(x[start:start + 64], y[start:start + 64])
    weights, intercept = ridge.fit(1e-6, stats)
    design = np.c_[x, np.ones(500)]
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(weights, expected[:6], atol=1e-4)
    np.testing.assert_allclose(intercept, expected[6], atol=1e-4)
    residual = y - x @ weights - intercept
    np.testing.assert_allclose(stats.sse(weights, intercept), (residual ** 2).sum(0), rtol=1e-6)


def test_probe_settings_take_zero_tokens_per_frame_as_all_and_name_bad_fields():
    assert validate_config(ProbeConfig, {"tokens_per_frame": 0}).to_dict() == {
        "tokens_per_frame": None, "max_fit_tokens": 50000, "logistic_epochs": 5, "seed": 0}  # the stored form
    with pytest.raises(ConfigError, match="tokens_per_frame: .*; max_fit_tokens: "):
        validate_config(ProbeConfig, {"tokens_per_frame": -1, "max_fit_tokens": 0})


def test_cli_names_the_flags_of_bad_settings_and_takes_its_defaults_from_the_config(frob_cli, cli_defaults, tmp_path):
    code, stderr = frob_cli("probe", tmp_path, "--tokens-per-frame", "-1")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--tokens-per-frame: Input should be greater than or equal to 0" in line
    defaults = cli_defaults(ProbeConfig, "probe")
    assert set(defaults) == {"tokens_per_frame", "seed"}
    assert all(cli == config for cli, config in defaults.values()), defaults


# --- every score against scikit-learn, computed from the fitted weights on the held-out frames -----------------------


@pytest.fixture(scope="module")
def labelled(runs, tmp_path_factory):
    """A copy of the run whose activations carry the pooled object_id one-hot (channels 0..), depth_z (channel 40)
    and the edge fraction (channel 41) over unit noise; probed with every token of every frame, so the held-out
    rows the scores were computed on are all tokens of the test frames."""
    trained, _, _ = runs
    copy = tmp_path_factory.mktemp("labelled") / "run"
    shutil.copytree(trained, copy)
    store = ActivationStore.open(copy)
    acts = np.random.default_rng(1).normal(size=(len(store), *store.shape(HOOK))).astype(np.float32)
    ids = store.gt(HOOK, "object_id")[:]
    assert ids.max() < 40
    acts[..., :40] += 4 * (ids[..., None] == np.arange(40))
    acts[..., 40] += 10 * np.nan_to_num(store.gt(HOOK, "depth_z")[:], nan=0.0)
    acts[..., 41] += 8 * store.gt(HOOK, "edges")[:]
    zarr.open_group(str(copy / ZARR), mode="r+")[HOOK]["acts"][:] = acts
    fitted = {}
    from frobnoscope.interp.probes.linear import probe_hook

    rows = probe_hook(ActivationStore.open(copy), HOOK, ProbeConfig(tokens_per_frame=0, max_fit_tokens=4096,
                                                                    logistic_epochs=60), fitted)
    return ActivationStore.open(copy), rows, fitted


def heldout(store, channel):
    """(x, target) of every token of the probes' test frames (k % 5 == 4)."""
    from frobnoscope.interp.probes.predict import heldout_frames

    frames = heldout_frames(len(store))
    x = store.acts(HOOK).get_orthogonal_selection((frames,)).reshape(-1, store.shape(HOOK)[2]).astype(np.float64)
    return x, store.gt(HOOK, channel).get_orthogonal_selection((frames,)).reshape(len(x), -1)


def test_held_out_r2_is_sklearns_r2_of_the_fitted_probe(labelled):
    from sklearn.metrics import r2_score

    store, rows, fitted = labelled
    for factor in ("depth_z", "albedo.g"):
        x, y = heldout(store, factor.split(".")[0])
        y = y[:, 1] if factor == "albedo.g" else y[:, 0]
        keep = np.isfinite(y)
        probe = fitted[HOOK, factor]
        expected = r2_score(y[keep], x[keep] @ probe.weights[:, 0] + probe.intercept[0])
        assert scores(rows, factor)["score"] == pytest.approx(expected, abs=1e-6), factor
    assert scores(rows, "depth_z")["score"] > 0.95


def test_categorical_scores_are_sklearns_of_the_fitted_probe_beside_the_majority_class(labelled):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

    store, rows, fitted = labelled
    x, labels = heldout(store, "object_id")
    truth = labels[:, 0]
    probe = fitted[HOOK, "object_id"]
    predicted = probe.classes[(x @ probe.weights + probe.intercept).argmax(1)]
    expected = {"accuracy": accuracy_score(truth, predicted),
                "balanced_accuracy": balanced_accuracy_score(truth, predicted),
                "macro_f1": f1_score(truth, predicted, average="macro")}
    # the baseline: the training tokens' majority class (the reservoir holds every train token) for every test token
    train = np.flatnonzero(np.arange(len(store)) % 5 < 3)
    train_labels = store.gt(HOOK, "object_id").get_orthogonal_selection((train,)).reshape(-1)
    majority = np.full(len(truth), np.bincount(train_labels.astype(int)).argmax())
    baseline = {"accuracy": accuracy_score(truth, majority),
                "balanced_accuracy": balanced_accuracy_score(truth, majority), "macro_f1": f1_score(truth, majority, average="macro")}
    for metric, value in expected.items():
        row = scores(rows, "object_id", metric)
        assert row["n_test"] == len(x)  # the reservoir holds every held-out token
        assert row["score"] == pytest.approx(value, abs=1 / len(x)), metric
        assert row["baseline"] == pytest.approx(baseline[metric], abs=1e-12), metric
    # most tokens are background: the majority class alone is accurate, but not balanced
    assert baseline["accuracy"] > 0.5 and baseline["balanced_accuracy"] < 0.5
    assert scores(rows, "object_id", "balanced_accuracy")["score"] > 0.9


def test_mask_average_precision_ranks_cells_holding_any_of_the_mask_as_sklearn_does(labelled):
    from sklearn.metrics import average_precision_score

    store, rows, fitted = labelled
    x, target = heldout(store, "edges")
    probe = fitted[HOOK, "edges"]
    keep = np.isfinite(target[:, 0])
    ranking, positive = x[keep] @ probe.weights[:, 0] + probe.intercept[0], target[keep, 0] > 0
    row = scores(rows, "edges", "average_precision")
    assert row["score"] == pytest.approx(average_precision_score(positive, ranking), abs=1e-9)
    assert row["baseline"] == pytest.approx(positive.mean()) and row["score"] > row["baseline"] + 0.3


def test_logistic_predict_is_the_class_of_the_largest_logit_and_the_folded_weights_give_the_logits():
    from sklearn.metrics import accuracy_score

    from frobnoscope.interp.probes import logistic

    rng = np.random.default_rng(2)
    centres = rng.normal(scale=4, size=(3, 5)) + 10  # far from 0: the folded intercept matters
    labels = rng.integers(0, 3, 600)
    x = (centres[labels] + rng.normal(size=(600, 5)) * [1, 2, 0.5, 1, 3]).astype(np.float32)
    model = logistic.fit_logistic(x[:400], labels[:400], 3, epochs=20, batch=64)
    with torch.no_grad():
        logits = model(torch.from_numpy(x[400:])).numpy()
    np.testing.assert_array_equal(logistic.predict(model, x[400:]), logits.argmax(1))
    assert accuracy_score(labels[400:], logistic.predict(model, x[400:])) > 0.95
    weights, intercept = logistic.folded_weights(model)
    np.testing.assert_allclose(x[400:].astype(np.float64) @ weights + intercept, logits, rtol=1e-4, atol=1e-3)
