"""nerfstudio's nerfacto on our data, in its own environment: offline CPU training through the `frob-nerfacto`
plugin, loading with eval_setup, field queries in the scene's frame, hook points, and the judgement.

FROB_NERFSTUDIO_PYTHON names a Python with `frobnoscope[nerfstudio]` installed (README, "nerfstudio"); without it
the test is skipped. Training is a tiny nerfacto (few samples, small hash grid) for a few iterations: it checks the
pipeline, not the quality.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from nerf_support import tiny_orbit  # noqa: F401 (fixture)

from frobnoscope.scenes.export import plan_export, run_export

TINY_NERFACTO = ["--max-num-iterations", "20", "--steps-per-save", "20",
                 "--pipeline.datamanager.train-num-rays-per-batch", "256",
                 "--pipeline.model.num-nerf-samples-per-ray", "16", "--pipeline.model.num-proposal-samples-per-ray", "32", "16",
                 "--pipeline.model.hidden-dim", "16", "--pipeline.model.hidden-dim-color", "16",
                 "--pipeline.model.log2-hashmap-size", "14", "--pipeline.model.num-levels", "8"]
PROBE = """
import json, sys, numpy as np, torch
from frobnoscope.models.nerfstudio.adapter import load_nerfstudio
from frobnoscope.models.nerf.adapter import PointBatch
adapter = load_nerfstudio(sys.argv[1])
batch = PointBatch.of(np.random.default_rng(0).uniform(-1, 1, (7, 3)))
plain = adapter.forward(batch)
captured = adapter.capture(batch)
with adapter.intervene("mlp_head.layers.0", lambda out: out * 0):
    ablated = adapter.forward(batch)
print(json.dumps({"scale": adapter.scale, "hooks": adapter.hook_points(), "rows": [v.shape[0] for v in captured.values()],
                  "density": plain["density"].tolist(), "changed": not torch.equal(ablated["rgb"], plain["rgb"]),
                  "has_scene": adapter.scene is not None}))
"""
CLI = "from frobnoscope.app.cli import main; main()"


@pytest.fixture(scope="module")
def python():
    python = os.environ.get("FROB_NERFSTUDIO_PYTHON")
    if not python:
        pytest.skip("set FROB_NERFSTUDIO_PYTHON to a Python with frobnoscope[nerfstudio] installed")
    return python


def run(python, *args, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([python, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def test_nerfacto_trains_offline_loads_and_is_judged(python, tiny_orbit, tmp_path):  # noqa: F811
    export = tmp_path / "export"
    run_export(plan_export(tiny_orbit.path, "nerfstudio", export, ["rgb"], None))
    runs = tmp_path / "runs"
    env_home = {"HOME": str(tmp_path)}  # an empty torch hub: AlexNet's weights are absent, LPIPS must be left out
    result = subprocess.run([python, "-m", "frobnoscope.models.nerfstudio.train", "frob-nerfacto", "--data", export,
                             "--output-dir", runs, *TINY_NERFACTO, "nerfstudio-data"],
                            capture_output=True, text=True, timeout=900, env={**os.environ, **env_home})
    assert result.returncode == 0, result.stderr[-4000:]
    config = next(runs.rglob("config.yml"))
    assert json.loads((config.parent / "dataparser_transforms.json").read_text())["scale"] == 0.2
    probe = json.loads(run(python, "-c", PROBE, config).stdout.strip().splitlines()[-1])
    assert probe["has_scene"] and probe["changed"] and set(probe["rows"]) == {7}
    assert {"mlp_base", "mlp_head.layers.0", "mlp_head.layers.2", "direction_encoding"} <= set(probe["hooks"])
    assert all(d >= 0 for d in probe["density"])
    out = tmp_path / "eval"
    run(python, "-c", CLI, "eval-nerf", config, "--out", out, "--novel-views", "0", "--uniform-points", "2000",
        "--shell-points", "1000", "--surface-points", "200")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"].startswith("nerfstudio:") and set(manifest["summary"]["images"]) == {"val", "test"}
    assert (out / "plots" / "examples.png").is_file() and (out / "breakdown.csv").is_file()
