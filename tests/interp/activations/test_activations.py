"""`frob capture` and `ActivationStore`: layout, resumption, pooled ground truth, token streaming, errors."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.engine.journal import JOURNAL
from frobnoscope.engine.runs import MANIFEST
from frobnoscope.interp.activations import gt_pooling
from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError


@pytest.fixture(scope="module")
def run(interp_dataset, tiny_model_spec, tiny_hooks, tmp_path_factory):
    out = tmp_path_factory.mktemp("capture") / "run"
    capture(interp_dataset.path, out, CaptureConfig(model=tiny_model_spec, hooks=tiny_hooks, batch_size=4))
    return ActivationStore.open(out)


def test_layout_shapes_factors_and_manifest(run, interp_dataset):
    assert run.hooks() == ["encoder.4", "encoder.14"]
    assert run.shape("encoder.4")[:2] == (16, 16) and run.shape("encoder.14")[:2] == (4, 4)
    assert run.acts("encoder.4").dtype == np.float16 and len(run) == 16
    assert run.frame_activations("encoder.4", 3).dtype == np.float32
    factors = run.factors()
    assert {"n_objects", "camera_elevation_deg", "light_azimuth_sin", "light_azimuth_cos"} <= set(factors)
    assert factors["n_objects"].shape == (16,)
    assert factors["n_objects"][5] == interp_dataset.manifest["frames"][5]["factors"]["n_objects"]
    assert run.model_spec.startswith("taesd:") and run.dataset_path == interp_dataset.path.resolve()
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["complete"] and manifest["dataset"]["manifest_blake2b"]
    assert not (run.path / JOURNAL).exists()


def test_pooled_ground_truth_matches_a_direct_computation(run, interp_dataset):
    depth = interp_dataset.channel("depth_z")[5]  # 32x32 -> 16x16: 2x2 cells
    cells = depth.reshape(16, 2, 16, 2).transpose(0, 2, 1, 3).reshape(16, 16, 4)
    finite = np.isfinite(cells)
    with np.errstate(invalid="ignore"):
        expected = np.where(finite, cells, 0).sum(-1) / finite.sum(-1)
    np.testing.assert_allclose(run.gt("encoder.4", "depth_z")[5], expected, rtol=1e-5)
    ids = interp_dataset.channel("object_id")[5].reshape(4, 8, 4, 8).transpose(0, 2, 1, 3).reshape(4, 4, 64)
    for row in range(4):
        for col in range(4):
            values, counts = np.unique(ids[row, col], return_counts=True)
            assert run.gt("encoder.14", "object_id")[5, row, col] == values[counts.argmax()]
            assert run.gt("encoder.14", "object_id_purity")[5, row, col] == pytest.approx(counts.max() / 64)
            assert run.gt("encoder.14", "background_fraction")[5, row, col] == pytest.approx((ids[row, col] == 0).mean())


def test_pooling_handles_uneven_grids():
    values = np.arange(30, dtype=np.float32).reshape(1, 5, 6)
    pooled = gt_pooling.pool_mean(values, 2, 3)
    assert pooled[0, 0, 0] == pytest.approx(values[0, :3, :2].mean())  # rows 0-2 -> cell 0, rows 3-4 -> cell 1
    assert pooled[0, 1, 2] == pytest.approx(values[0, 3:, 4:].mean())


def test_interrupted_capture_resumes_to_identical_arrays(run, interp_dataset, tiny_model_spec, tiny_hooks, tmp_path):
    out = tmp_path / "run"
    config = CaptureConfig(model=tiny_model_spec, hooks=tiny_hooks, batch_size=4)

    def interrupt(done, total):
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        capture(interp_dataset.path, out, config, on_progress=interrupt)
    assert len((out / JOURNAL).read_text().splitlines()) == 2
    with pytest.raises(InterpError, match="unfinished"):
        ActivationStore.open(out)
    capture(interp_dataset.path, out, config)
    resumed = ActivationStore.open(out)
    for hook in run.hooks():
        np.testing.assert_array_equal(resumed.acts(hook)[:], run.acts(hook)[:])
        np.testing.assert_array_equal(resumed.gt(hook, "albedo")[:], run.gt(hook, "albedo")[:])
    with pytest.raises(InterpError, match="other settings"):
        capture(interp_dataset.path, out, CaptureConfig(model=tiny_model_spec, hooks="encoder.4", batch_size=4))


def test_two_worker_processes_capture_identical_arrays(run, interp_dataset, tiny_model_spec, tiny_hooks, tmp_path):
    config = CaptureConfig(model=tiny_model_spec, hooks=tiny_hooks, batch_size=4)
    pooled = ActivationStore.open(capture(interp_dataset.path, tmp_path / "pooled", config, workers=2))
    for hook in run.hooks():
        np.testing.assert_array_equal(pooled.acts(hook)[:], run.acts(hook)[:])
        np.testing.assert_array_equal(pooled.gt(hook, "albedo")[:], run.gt(hook, "albedo")[:])


def test_capture_stopping_after_the_last_hook_matches_a_full_pass(interp_dataset, tiny_model_spec):
    import torch

    from frobnoscope.interp.activations.capture import capture_until_last
    from frobnoscope.models import load_model

    adapter = load_model(tiny_model_spec)
    batch = torch.from_numpy(interp_dataset.channel("rgb")[:2]).permute(0, 3, 1, 2)
    hooks = ["encoder.1.conv.0", "encoder.4"]
    early, full = capture_until_last(adapter, batch, hooks), adapter.capture(batch, hooks)
    for hook in hooks:
        torch.testing.assert_close(early[hook], full[hook])


def test_tokens_stream_every_token_once_in_bounded_batches(run):
    h, w, c = run.shape("encoder.4")
    frames = [1, 2, 9, 15]
    for seed in (None, 3):
        seen = []
        for acts, index in run.tokens("encoder.4", frames=frames, batch_tokens=100, shuffle_seed=seed):
            assert len(acts) <= 100 and acts.dtype == np.float32 and index.dtype == np.int32
            k, row, col = index[0]
            np.testing.assert_array_equal(acts[0], run.frame_activations("encoder.4", k)[row, col])
            seen.append(index)
        seen = np.concatenate(seen)
        assert len(seen) == len(frames) * h * w
        assert len(np.unique(seen, axis=0)) == len(seen) and set(seen[:, 0]) == set(frames)


def test_random_weights_control_changes_activations(run, interp_dataset, tiny_model_spec, tmp_path):
    config = CaptureConfig(model=tiny_model_spec, hooks="encoder.14", batch_size=8, frames=8, dtype="float32",
                           random_weights_seed=1)
    control = ActivationStore.open(capture(interp_dataset.path, tmp_path / "control", config))
    assert len(control) == 8 and control.acts("encoder.14").dtype == np.float32
    assert "random weights" in control.manifest["model"]["name"]
    assert not np.allclose(control.acts("encoder.14")[:8], run.acts("encoder.14")[:8], atol=1e-2)


def test_cli_errors_are_one_line_with_exit_code_2(interp_dataset, tiny_model_spec, tmp_path):
    cases = [
        ["capture", str(interp_dataset.path), "--model", tiny_model_spec, "--hooks", "nope*", "--out", str(tmp_path / "a")],
        ["capture", str(interp_dataset.path), "--model", tiny_model_spec, "--hooks", "encoder.4", "--out",
         str(tmp_path / "b"), "--dtype", "int8"],
        ["capture", str(tmp_path), "--model", tiny_model_spec, "--hooks", "encoder.4", "--out", str(tmp_path / "c")],
        ["probe", str(tmp_path / "missing")],
    ]
    from frobnoscope.app.cli import main as cli
    from frobnoscope.engine.errors import FrobError

    for args in cases:
        result = CliRunner().invoke(cli.app, args)
        assert isinstance(result.exception, FrobError), (args, result.output)
        assert "\n" not in str(result.exception), args
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "from frobnoscope.app.cli.main import main; main()", *cases[0]],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: no hook point matches")


def test_capture_settings_that_do_not_validate_name_every_field_in_one_line():
    with pytest.raises(ConfigError) as error:
        validate_config(CaptureConfig, {"model": "taef2", "hooks": "encoder.*", "dtype": "int8", "batch_size": 0,
                                        "frames": 0, "colour": "red"})
    message = str(error.value)
    assert "\n" not in message and "--" not in message
    for field in ("dtype", "batch_size", "frames", "colour: unknown field"):
        assert field in message, field


def test_a_capture_manifest_from_before_the_config_convention_resumes_and_refuses_other_settings(
        run, interp_dataset, tiny_model_spec, tiny_hooks, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run.path, out)
    manifest = json.loads((out / MANIFEST).read_text())
    # the config as `dataclasses.asdict(CaptureConfig(...))` stored it before `CaptureConfig` became a `Config`
    manifest["config"] = {"model": tiny_model_spec, "hooks": tiny_hooks, "dtype": "float16", "batch_size": 4,
                          "frames": None, "random_weights_seed": None}
    (out / MANIFEST).write_text(json.dumps(manifest))
    config = CaptureConfig(model=tiny_model_spec, hooks=tiny_hooks, batch_size=4)
    assert capture(interp_dataset.path, out, config) == out
    with pytest.raises(InterpError, match=r"other settings \(dtype, frames\)"):
        capture(interp_dataset.path, out, config.model_copy(update={"dtype": "float32", "frames": 8}))


def test_cli_names_the_flags_of_bad_settings_and_takes_its_defaults_from_the_config(frob_cli, cli_defaults, tmp_path):
    code, stderr = frob_cli("capture", tmp_path, "--model", "taef2", "--hooks", "encoder.*", "--out", tmp_path / "o",
                            "--batch-size", "0", "--dtype", "int8")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--batch-size: " in line and "--dtype: " in line and "batch_size" not in line
    defaults = cli_defaults(CaptureConfig, "capture")
    assert set(defaults) == {"dtype", "batch_size", "frames", "random_weights_seed"}
    assert all(cli == config for cli, config in defaults.values()), defaults
