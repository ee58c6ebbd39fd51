"""Probes: a planted linear factor is recovered, the random-weights control and shuffled targets score lower."""

import shutil

import numpy as np
import pytest
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
    assert scores(rows, "camera_elevation_deg")["score"] > 0.9
    albedo = scores(rows, "albedo.r")  # planted noise carries no albedo: shuffled and real both ~0
    assert albedo["shuffled"] < 0.1 and albedo["selectivity"] < 0.1  # R^2 <= ~0: no better than the test mean
    assert scores(rows, "depth_z")["shuffled"] < depth["score"] - 0.3
    written = read_csv(tmp_path / "out" / "probes.csv")
    assert len(written) == len(rows) and (tmp_path / "out" / "heatmap.png").stat().st_size > 1000
    assert {"object_id", "edges", "normal_world.y", "n_objects"} <= {r["factor"] for r in rows}
    assert {r["metric"] for r in rows} == {"r2", "accuracy", "dice"}
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
