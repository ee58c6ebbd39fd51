"""nerfstudio's nerfacto on our data, in its own environment: offline CPU training through the `frob-nerfacto`
plugin, loading with eval_setup, field queries in the scene's frame, hook points, and the judgement.

The environment is the `nerfstudio_python` fixture (`make test` builds .venv-nerfstudio; CI requires it).
Training is a tiny nerfacto (256 rays, 32 + 16 proposal and 16 field samples, 8 hash levels of 2^14, initial
density 1) for TRAIN_STEPS iterations on 32x32 orbit views, under a minute on 2 cores. It then scores about 21 dB
held out (the best constant image: 12 dB; an untrained nerfacto less) and an occupancy IoU of 0.49 (calling every
point solid: 0.15, as does an untrained field); the test asserts clear margins over those trivial scores.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from frobnoscope.models.nerf.rays import scene_box
from frobnoscope.scenes.export import plan_export, run_export
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.spec import parse_spec

TRAIN_STEPS = 300
TINY_NERFACTO = ["--max-num-iterations", str(TRAIN_STEPS), "--steps-per-save", str(TRAIN_STEPS),
                 "--pipeline.datamanager.train-num-rays-per-batch", "256",
                 "--pipeline.model.num-nerf-samples-per-ray", "16",
                 "--pipeline.model.num-proposal-samples-per-ray", "32", "16",
                 "--pipeline.model.hidden-dim", "32", "--pipeline.model.hidden-dim-color", "32",
                 "--pipeline.model.num-levels", "8", "--pipeline.model.log2-hashmap-size", "14",
                 "--pipeline.model.max-res", "128", "--pipeline.model.average-init-density", "1.0"]
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
CLI = "from frobnoscope.app.cli.main import main; main()"


def run(python, *args, env=None, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([python, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def orbit32(tmp_path_factory):
    """24 views at 32x32: 18 train, 3 val (4, 12, 20), 3 test (0, 8, 16)."""
    return generate("orbit", n=24, seed=0, out=tmp_path_factory.mktemp("orbit") / "orbit32", settings={"res": "32"})


@pytest.fixture(scope="module")
def trained(nerfstudio_python, orbit32, tmp_path_factory):
    """frob-nerfacto trained offline (an empty torch hub: AlexNet's weights are absent, so LPIPS must be left out)."""
    root = tmp_path_factory.mktemp("nerfacto")
    export, runs = root / "export", root / "runs"
    run_export(plan_export(orbit32.path, "nerfstudio", export, ["rgb"], None))
    run(nerfstudio_python, "-m", "frobnoscope.models.nerfstudio.train", "frob-nerfacto", "--data", export,
        "--output-dir", runs, *TINY_NERFACTO, "nerfstudio-data", env={"HOME": str(root)})
    return next(runs.rglob("config.yml"))


def test_nerfacto_loads_with_hook_points_in_the_scene_frame(nerfstudio_python, trained):
    assert json.loads((trained.parent / "dataparser_transforms.json").read_text())["scale"] == 0.2
    probe = json.loads(run(nerfstudio_python, "-c", PROBE, trained).stdout.strip().splitlines()[-1])
    assert probe["has_scene"] and probe["changed"] and set(probe["rows"]) == {7}
    assert {"mlp_base", "mlp_head.layers.0", "mlp_head.layers.2", "direction_encoding"} <= set(probe["hooks"])
    assert all(d >= 0 for d in probe["density"])


def test_trained_nerfacto_beats_trivial_models_in_images_and_in_3d(nerfstudio_python, trained, orbit32, tmp_path):
    out = tmp_path / "eval"
    run(nerfstudio_python, "-c", CLI, "eval-nerf", trained, "--out", out, "--novel-views", "2",
        "--uniform-points", "20000", "--shell-points", "5000", "--surface-points", "500")
    manifest = json.loads((out / "manifest.json").read_text())
    summary = manifest["summary"]
    assert manifest["model"].startswith("nerfstudio:") and set(summary["images"]) == {"val", "test", "novel"}
    assert (out / "plots" / "examples.png").is_file() and (out / "breakdown.csv").is_file()
    # images: better than the best constant image (the mean training colour; an untrained nerfacto, nearly
    # transparent over a black background, scores less still)
    rgb = np.asarray(orbit32.channel("rgb")[:], dtype=np.float64)
    splits = np.array([frame["split"] for frame in orbit32.manifest["frames"]])
    mean_colour = rgb[splits == "train"].mean(axis=(0, 1, 2))
    constant_psnr = -10 * np.log10(((rgb[splits != "train"] - mean_colour) ** 2).mean())
    for split, judged in summary["images"].items():
        assert judged["mean_psnr"] > constant_psnr + 5, (split, judged, constant_psnr)
    # 3D: thresholded density overlaps the true solid better than chance: calling every point solid scores the
    # solid fraction of the box (so does an untrained field, whose density is the same everywhere), a random guess less
    scene = Scene(parse_spec(orbit32.manifest["frames"][0]["spec"]))
    box = scene_box(scene.bounds, scene.extent)
    uniform = np.random.default_rng(0).uniform(box[0], box[1], size=(20000, 3))
    solid_fraction = float((scene.signed_distances(uniform).min(axis=1) < 0).mean())
    assert summary["occupancy"]["best_iou_uniform"] > 2 * solid_fraction, (summary["occupancy"], solid_fraction)
