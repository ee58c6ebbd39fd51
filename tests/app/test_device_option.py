"""`--device` through every model job and the study, tried on the CPU.

- every command (and a study) asked for a device torch cannot use here stops with one line and exit code 2 before it
  writes a run;
- each library job, given a device, moves its models there and records it in its manifest: the device asked for is
  `cpu:0`, a name no default produces, and `torch.nn.Module.to` is watched for it;
- `--device cpu` gives the same arrays as the default (auto, the CPU here);
- a device out of memory is one line naming the flag to lower.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from frobnoscope.models.device import DEVICE_HELP

ASKED = torch.device("cpu", 0)  # what no job picks by itself: seen in Module.to, it came from the caller
HOOKS = "encoder.4,encoder.14"
AE_CONFIG = {"arch": "conv", "steps": 2, "batch_size": 2, "holdout_every": 4, "checkpoint_every": 1}
NERF_CONFIG = {"field": {"encoding": "frequency", "hidden_width": 8},
               "sampling": {"coarse_samples": 4, "fine_samples": 4}, "steps": 2, "rays_per_step": 32, "eval_every": 1, "checkpoint_every": 1, "threads": 1}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, save_tiny_taesd_pair) -> Path:
    from frobnoscope.scenes.generate import generate

    root = tmp_path_factory.mktemp("device")
    generate("tabletop", n=8, seed=5, out=root / "data", settings={"res": "32", "max_objects": "3"}, chunk_frames=4)
    generate("orbit", n=10, seed=0, out=root / "orbit", settings={"res": "16"})
    save_tiny_taesd_pair(root / "model")
    return root


@pytest.fixture
def moves(monkeypatch) -> list[str]:
    """The class names of the modules moved to ASKED while the test runs."""
    moved, original = [], torch.nn.Module.to

    def watched(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if isinstance(target, (str, torch.device)) and torch.device(target) == ASKED:
            moved.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", watched)
    return moved


def _device_in(manifest_path: Path) -> str:
    return json.loads(manifest_path.read_text())["device"]["device"]


def test_the_device_reaches_every_image_model_job_and_its_manifest(inputs, tmp_path, moves):
    from frobnoscope.interp.activations.capture import CaptureConfig, capture
    from frobnoscope.interp.attribution.config import AttributeConfig
    from frobnoscope.interp.attribution.run import attribute
    from frobnoscope.interp.evaluation.images import EvalConfig, evaluate
    from frobnoscope.interp.features.run import LabelConfig, label_run
    from frobnoscope.interp.probes.run import run_probes
    from frobnoscope.interp.sae.run import SAERunConfig, train_on_run
    from frobnoscope.interp.sae.training import SAETrainConfig
    from frobnoscope.models.autoencoders.train import train_autoencoder

    data, spec = inputs / "data", f"taesd:{inputs / 'model' / 'tiny'}"
    jobs = {
        "train ae": lambda: train_autoencoder(data, tmp_path / "ae", AE_CONFIG, device=ASKED),
        "eval": lambda: evaluate(data, tmp_path / "eval", EvalConfig(model=spec), device=ASKED),
        "capture": lambda: capture(data, tmp_path / "capture", CaptureConfig(model=spec, hooks=HOOKS, batch_size=4),
                                   device=ASKED),
        "probe": lambda: run_probes(tmp_path / "capture", tmp_path / "probes", device=ASKED),
        "sae train": lambda: train_on_run(tmp_path / "capture", SAERunConfig(hook="encoder.4", width=8, k=2,
                                                                             splice_frames=1),
                                          SAETrainConfig(steps=2, batch_tokens=64, checkpoint_every=2),
                                          out=tmp_path / "sae", device=ASKED),
        "features label": lambda: label_run(tmp_path / "capture", LabelConfig(sae=str(tmp_path / "sae"), max_tokens=512,
                                                                              importance_frames=1, candidates=2,
                                                                              figures=0),
                                            tmp_path / "features", device=ASKED),
        "attribute": lambda: attribute(data, tmp_path / "attribution",
                                       AttributeConfig(model=spec, target="error", methods=("saliency",), frames=2),
                                       device=ASKED),
    }
    moved_by = {}
    for name, job in jobs.items():
        moves.clear()
        job()
        moved_by[name] = sorted(set(moves))
    # the model (and what runs beside it: the probe's classifier, the SAE) went where it was asked to
    assert all(moved_by.values()), moved_by
    assert "SparseAutoencoder" in moved_by["sae train"] and "SparseAutoencoder" in moved_by["features label"]
    assert "Linear" in moved_by["probe"]  # the categorical probes' classifier
    for run in ("ae", "eval", "capture", "sae", "attribution"):
        assert _device_in(tmp_path / run / "manifest.json") == "cpu:0", run
    for run in ("probes", "features"):
        assert _device_in(tmp_path / run / "manifest.json") == "cpu:0", run


def test_the_device_reaches_the_nerf_jobs_and_their_manifests(inputs, tmp_path, moves):
    from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig, judge_nerf
    from frobnoscope.models.nerf.train import train_nerf

    train_nerf(inputs / "orbit", tmp_path / "nerf", NERF_CONFIG, device=ASKED)
    assert "NerfModel" in moves
    moves.clear()
    judge_nerf(tmp_path / "nerf", tmp_path / "judged", NerfJudgeConfig(novel_views=1, uniform_points=64,
                                                                       shell_points=64, surface_points=16),
               device=ASKED)
    assert "NerfModel" in moves
    assert _device_in(tmp_path / "nerf" / "manifest.json") == "cpu:0"
    assert _device_in(tmp_path / "judged" / "manifest.json") == "cpu:0"


def test_cpu_asked_for_by_name_gives_the_arrays_the_default_gives(inputs, tmp_path, frob_cli):
    spec = f"taesd:{inputs / 'model' / 'tiny'}"
    for name, flags in (("default", []), ("cpu", ["--device", "cpu"])):
        code, err = frob_cli("eval", inputs / "data", "--model", spec, "--out", tmp_path / name / "eval", *flags)
        assert code == 0, err
        code, err = frob_cli("capture", inputs / "data", "--model", spec, "--hooks", HOOKS, "--batch-size", "4",
                             "--out", tmp_path / name / "capture", *flags)
        assert code == 0, err
    for array in ("eval/maps/output", "eval/maps/squared_error", "capture/activations.zarr/encoder.14/acts"):
        default, cpu = (zarr.open_array(str(tmp_path / name / array), mode="r")[:] for name in ("default", "cpu"))
        assert np.isfinite(default).all() and np.array_equal(default, cpu), array
    assert _device_in(tmp_path / "default" / "eval" / "manifest.json") == "cpu"  # auto: the CPU, torch sees no GPU


def _commands(inputs: Path, out: Path) -> dict[str, list]:
    spec, data = f"taesd:{inputs / 'model' / 'tiny'}", inputs / "data"
    return {
        "train ae": ["train", "ae", data, "--arch", "conv", "--out", out],
        "eval": ["eval", data, "--model", spec, "--out", out],
        "capture": ["capture", data, "--model", spec, "--hooks", HOOKS, "--out", out],
        "probe": ["probe", out, "--out", out / "probes"],
        "sae train": ["sae", "train", out, "--hook", "encoder.4", "--out", out / "sae"],
        "features label": ["features", "label", out, "--hook", "encoder.4", "--out", out / "features"],
        "attribute": ["attribute", data, "--model", spec, "--target", "error", "--out", out],
        "train nerf": ["train", "nerf", inputs / "orbit", "--out", out],
        "eval-nerf": ["eval-nerf", out, "--out", out / "judged"],
        "study run": ["study", "run", "ci", "--out", out],
    }


def unusable(device: str) -> str:
    """`device` if torch cannot use it here; on a machine that has it, a CUDA index past the last device."""
    usable = {"cuda": torch.cuda.is_available(), "cuda:3": torch.cuda.device_count() > 3,
              "mps": torch.backends.mps.is_available()}.get(device, False)
    return f"cuda:{torch.cuda.device_count()}" if usable else device


@pytest.mark.parametrize("asked", ["cuda", "cuda:3", "mps", "gpu"])
def test_every_model_command_refuses_a_device_it_cannot_use_in_one_line(inputs, tmp_path, frob_cli, asked):
    device = unusable(asked)
    for name, args in _commands(inputs, tmp_path / "run").items():
        code, err = frob_cli(*args, "--device", device)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and repr(device) in lines[0], (name, err)
        assert ("unknown device" in lines[0]) == (device == "gpu"), (name, err)
        assert not list(tmp_path.rglob("manifest.json")), name  # nothing written


def test_a_study_file_names_its_device_and_a_bad_one_is_one_line(tmp_path, frob_cli):
    from frobnoscope.app.study.builtin import study_path

    text = study_path("ci").read_text()
    (tmp_path / "bad.yaml").write_text(f"device: gpu\n{text}")
    code, err = frob_cli("study", "run", tmp_path / "bad.yaml", "--out", tmp_path / "ws")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "device" in err, err
    device = unusable("cuda")
    (tmp_path / "cuda.yaml").write_text(f"device: {device}\n{text}")
    code, err = frob_cli("study", "run", tmp_path / "cuda.yaml", "--out", tmp_path / "ws")
    assert code == 2 and f"device {device!r}" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "ws" / "manifest.json").exists()


def test_the_study_plan_runs_every_model_stage_on_the_device_it_is_given(tmp_path):
    from frobnoscope.app.study.builtin import study_path
    from frobnoscope.app.study.plan import plan_study
    from frobnoscope.app.study.schema import load_study

    plan = plan_study(load_study(study_path("ci")), tmp_path, device="cpu:0")
    model_stages = [stage for stage in plan.stages if not stage.name.startswith("data.")]
    assert model_stages and all(stage.run.keywords.get("device") == "cpu:0" for stage in model_stages)
    assert "models run on cpu:0" in plan.notes
    assert all("device" not in json.dumps(stage.settings) for stage in plan.stages)  # a study resumes elsewhere


@pytest.mark.parametrize("command, flag", [(["sae", "train", "RUN"], "--batch-tokens"),
                                           (["eval", "DATA", "--model", "taef2"], "--batch-size"),
                                           (["train", "nerf", "DATA"], "--rays-per-step")])
def test_a_device_out_of_memory_is_one_line_naming_the_flag_to_lower(monkeypatch, frob_cli, command, flag):
    from frobnoscope.app.cli import main as cli_main

    def out_of_memory():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 80 GiB total)")

    monkeypatch.setattr(cli_main, "full_app", lambda: out_of_memory)
    code, err = frob_cli(*command)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "out of memory" in err and flag in err and "--device cpu" in err


def test_auto_takes_the_first_cuda_device_and_an_index_past_the_last_is_refused(monkeypatch):
    from frobnoscope.models.device import DeviceError, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == resolve_device(None) == torch.device("cuda:0")
    assert resolve_device("cuda") == torch.device("cuda:0") and resolve_device("CUDA:1") == torch.device("cuda:1")
    with pytest.raises(DeviceError, match=r"sees 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_ray_actors_ask_for_one_gpu_each_on_a_cuda_device_and_see_it_as_cuda():
    from frobnoscope.models.device import gpus_per_worker, worker_device

    cuda, cpu = torch.device("cuda:1"), torch.device("cpu")
    assert (gpus_per_worker(cuda, "127.0.0.1:6379"), worker_device(cuda, "127.0.0.1:6379")) == (1, "cuda")
    assert (gpus_per_worker(cuda, None), worker_device(cuda, None)) == (0, "cuda:1")  # local workers share it
    assert (gpus_per_worker(cpu, "127.0.0.1:6379"), worker_device(cpu, "127.0.0.1:6379")) == (0, "cpu")


def test_the_cli_help_and_the_library_describe_devices_alike():
    from frobnoscope.app.cli.options import DEVICE_HELP as CLI_HELP

    assert CLI_HELP == DEVICE_HELP  # the CLI keeps its own copy so that `frob app` need not import torch
