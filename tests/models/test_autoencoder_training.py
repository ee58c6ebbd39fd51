"""`frob train ae`: determinism, resumption after an interruption or a kill, held-out split, loading the run back,
settings validated by `AutoencoderTrainConfig`, and run directories written before it still resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

from frobnoscope.engine.config import ConfigError
from frobnoscope.engine.tensor_files import load_state_dict
from frobnoscope.models import load_model
from frobnoscope.models.autoencoders.architectures import ARCHITECTURES, ArchitectureName
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig, split_frames, train_autoencoder
from frobnoscope.models.errors import ModelError
from frobnoscope.scenes.store import dataset_reference

FROB = str(Path(sys.executable).parent / "frob")
# as the CLI test runs it
TINY = AutoencoderTrainConfig(arch="conv", steps=6, batch_size=2, checkpoint_every=2, holdout_every=4)


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_state_dict(run / "model" / "diffusion_pytorch_model.safetensors")


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def uninterrupted(tiny_dataset, tmp_path_factory):
    run = tmp_path_factory.mktemp("train") / "run"
    reports = []
    results = train_autoencoder(tiny_dataset.path, run, TINY, on_step=reports.append)
    return run, results, reports


def test_training_reports_progress_checkpoints_and_a_finished_model(uninterrupted):
    run, results, reports = uninterrupted
    assert [r.step for r in reports] == [1, 2, 3, 4, 5, 6]
    assert [r.heldout_psnr is not None for r in reports] == [False, True, False, True, False, True]
    assert all(np.isfinite(r.loss) and r.psnr > 0 for r in reports)
    assert results["heldout_frames"] == 2 and results["steps"] == 6 and results["heldout_psnr"] > 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.json", "step_000004.optimizer.safetensors", "step_000004.safetensors",
        "step_000006.optimizer.safetensors", "step_000006.safetensors"]
    adapter = load_model(f"run:{run}")
    assert adapter.encoding == "linear" and adapter.downsampling_factor == 4
    assert adapter.forward(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 32, 32, 3)


def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_result(uninterrupted, tiny_dataset, tmp_path):
    run = tmp_path / "run"

    def stop_after_step_3(report):
        if report.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_autoencoder(tiny_dataset.path, run, TINY, on_step=stop_after_step_3)
    assert not (run / "model").exists()
    assert load_model(f"run:{run}").forward(np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 32, 32, 3)  # latest checkpoint
    reports = []
    results = train_autoencoder(tiny_dataset.path, run, TINY, on_step=reports.append)
    assert [r.step for r in reports] == [3, 4, 5, 6]  # resumed from the step-2 checkpoint
    assert_same_weights(final_weights(run), final_weights(uninterrupted[0]))
    assert results["history"] == uninterrupted[1]["history"]
    assert train_autoencoder(tiny_dataset.path, run, TINY) == results  # finished: nothing more to do


def test_a_killed_cli_run_resumes_when_the_same_command_is_rerun(uninterrupted, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    command = [FROB, "train", "ae", tiny_dataset.path, "--arch", "conv", "--steps", "6", "--batch-size", "2",
               "--checkpoint-every", "2", "--holdout-every", "4", "--out", run]
    env = {**os.environ, "COLUMNS": "200"}
    process = subprocess.Popen([str(c) for c in command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "latest.json").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "held-out PSNR" in result.stdout
    assert_same_weights(final_weights(run), final_weights(uninterrupted[0]))


def test_kl_small_shares_the_sd_vae_path(tiny_dataset, tmp_path):
    run = tmp_path / "kl"
    config = AutoencoderTrainConfig(arch="kl-small", steps=2, batch_size=2, checkpoint_every=1, holdout_every=4,
                                    warmup_steps=1)
    results = train_autoencoder(tiny_dataset.path, run, config)
    assert np.isfinite(results["heldout_psnr"])
    assert (run / "model" / "config.json").is_file()
    adapter = load_model(f"run:{run}")
    assert type(adapter).__name__ == "KLAutoencoderAdapter" and adapter.value_range == (-1.0, 1.0)
    assert "decoder.up_blocks.0.resnets.0.nonlinearity.call1" in adapter.hook_points()
    sampled = load_model(f"run:{run}", latent="sample", seed=1)
    assert sampled.latent == "sample"


def test_a_run_directory_refuses_other_settings(uninterrupted, tiny_dataset, tmp_path):
    run = uninterrupted[0]
    with pytest.raises(ModelError, match=r"holds a training run made with other settings \(steps\)"):
        train_autoencoder(tiny_dataset.path, run, TINY.model_copy(update={"steps": 7}))
    (tmp_path / "something").write_text("x")
    with pytest.raises(ModelError, match="exists and is not a training run"):
        train_autoencoder(tiny_dataset.path, tmp_path, TINY)
    with pytest.raises(ModelError, match="plain autoencoder"):
        load_model(f"run:{run}", latent="sample")


def test_held_out_split_uses_dataset_splits_or_every_nth_frame():
    plain = {"frames": [{"index": k, "split": None} for k in range(10)]}
    assert split_frames(plain, 5) == ([0, 1, 2, 3, 5, 6, 7, 8], [4, 9])
    orbit = {"frames": [{"index": k, "split": s} for k, s in enumerate(["test", "train", "val", "train"])]}
    assert split_frames(orbit, 5) == ([1, 3], [0, 2])
    with pytest.raises(ModelError, match="no held-out frames"):
        split_frames({"frames": [{"index": 0, "split": None}]}, 5)


def test_settings_that_do_not_validate_are_one_line_errors_naming_each_field(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError) as error:
        train_autoencoder(tiny_dataset.path, tmp_path / "run", {"arch": "vq", "steps": 0, "encoding": "srgb",
                                                                "holdout_every": 1, "learning_rate": 0.0})
    assert [path for path, _ in error.value.problems] == ["arch", "steps", "learning_rate", "holdout_every", "encoding"]
    message = str(error.value)
    assert "arch: Input should be 'kl-small' or 'conv'" in message
    assert "steps: Input should be greater than or equal to 1" in message
    assert "\n" not in message and "--" not in message
    assert not (tmp_path / "run").exists()
    assert get_args(ArchitectureName) == tuple(ARCHITECTURES)


# A run directory as `frob train ae` wrote it before its settings were an AutoencoderTrainConfig (the dataclass's
# asdict), for the tiny dataset; the dataset reference is the fixture's own.
LEGACY_MANIFEST = {
    "format": "frobnoscope.train/1",
    "package_version": "0.1.0",
    "command": "/tmp/cfgwork/gen.py",
    "kind": "autoencoder",
    "config": {"arch": "conv", "steps": 2, "batch_size": 2, "learning_rate": 0.001, "warmup_steps": 50, "seed": 0,
               "holdout_every": 4, "checkpoint_every": 2, "encoding": "linear", "kl_weight": 1e-06,
               "clip_grad_norm": 1.0},
    "split": {"train": [0, 1, 2, 4, 5, 6], "heldout": [3, 7]},
    "complete": True,
    "results": {"heldout_psnr": 4.779924632280169, "heldout_ssim": 0.025567098265915966, "heldout_frames": 2,
                "steps": 2, "seconds_this_session": 1.007628387000068,
                "history": [{"step": 2, "loss": 0.4005475342273712, "psnr": 4.168226930596027,
                             "heldout_psnr": 4.779924632280169}]},
}


def test_a_run_written_before_the_config_models_still_resumes_and_refuses_other_settings(tiny_dataset, tmp_path):
    run = tmp_path / "legacy"
    run.mkdir()
    manifest = {**LEGACY_MANIFEST, "dataset": dataset_reference(tiny_dataset)}
    (run / "manifest.json").write_text(json.dumps(manifest))
    same = AutoencoderTrainConfig(arch="conv", steps=2, batch_size=2, checkpoint_every=2, holdout_every=4)
    assert same.to_dict() == LEGACY_MANIFEST["config"]
    assert train_autoencoder(tiny_dataset.path, run, same) == LEGACY_MANIFEST["results"]  # finished: nothing to do
    with pytest.raises(ModelError, match=r"holds a training run made with other settings \(batch_size\)"):
        train_autoencoder(tiny_dataset.path, run, same.model_copy(update={"batch_size": 3}))
