"""`frob eval`: metrics, error maps, the breakdown by ground truth, resumption, the CLI."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.engine.runs import MANIFEST
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.evaluation import error_breakdown
from frobnoscope.interp.evaluation.error_breakdown import BreakdownConfig
from frobnoscope.interp.evaluation.images import EvalConfig, evaluate, read_breakdown
from frobnoscope.models import metrics

FROB = str(Path(sys.executable).parent / "frob")


# --- metrics ------------------------------------------------------------------------------------------------------


def naive_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM for one channel, window by window (11x11 Gaussian, sigma 1.5), float64."""
    offsets = np.arange(11) - 5
    g = np.exp(-(offsets**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    values = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            a, b = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mu_a, mu_b = (w * a).sum(), (w * b).sum()
            var_a, var_b = (w * (a - mu_a) ** 2).sum(), (w * (b - mu_b) ** 2).sum()
            cov = (w * (a - mu_a) * (b - mu_b)).sum()
            values.append(((2 * mu_a * mu_b + 1e-4) * (2 * cov + 9e-4)) / ((mu_a**2 + mu_b**2 + 1e-4) * (var_a + var_b + 9e-4)))
    return float(np.mean(values))


def test_ssim_matches_the_definition_and_psnr_its_formula():
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, 16, 14))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    expected = np.mean([naive_ssim(x[0, c], y[0, c]) for c in range(3)])
    assert float(metrics.ssim(torch.from_numpy(y), torch.from_numpy(x))) == pytest.approx(expected, abs=1e-9)
    same = torch.from_numpy(x)
    assert float(metrics.ssim(same, same)) == pytest.approx(1.0)
    assert float(metrics.psnr(same + 0.1, same)) == pytest.approx(20.0)
    assert float(metrics.psnr(same, same)) == pytest.approx(100.0)  # MSE floored at 1e-10
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


# --- factor labels -----------------------------------------------------------------------------------------------


def test_factor_labels_follow_the_ground_truth():
    h = w = 12
    object_id = np.zeros((h, w), np.uint16)
    object_id[2:10, 2:6] = 1   # a checker-textured dielectric
    object_id[2:10, 6:10] = 2  # a plain metal
    edges = np.zeros((h, w), np.uint8)
    edges[2, 2:10] = 1  # silhouette along the top
    edges[2:10, 6] = 2  # occlusion boundary between the two
    shadow = np.zeros((h, w, 1), np.float32)
    shadow[8:10, 2:10] = 1
    specular = np.zeros((h, w, 3), np.float32)
    specular[5, 8] = (0.3, 0.1, 0.1)
    depth = np.where(object_id > 0, 1.0, np.inf).astype(np.float32)
    depth[:, 8:] = np.where(object_id[:, 8:] > 0, 5.0, np.inf)
    albedo = np.repeat(np.where(object_id[..., None] > 0, 0.5, np.inf), 3, axis=-1).astype(np.float32)
    albedo[2:10, 2:6] = np.where((np.add.outer(np.arange(8), np.arange(4)) % 2)[..., None] == 0, 0.9, 0.1)
    gt = {"object_id": object_id, "edges": edges, "shadow": shadow, "specular": specular, "depth_z": depth, "albedo": albedo}
    objects = [{"material": {"metallic": 0.0, "texture": {"kind": "checker"}}}, {"material": {"metallic": 1.0, "texture": None}}]
    labels = error_breakdown.factor_labels(gt, objects, BreakdownConfig(depth_edges=(2.0, 3.0, 4.0), edge_radius=1))
    assert (labels["region"][object_id > 0] == 0).all() and (labels["region"][object_id == 0] == 1).all()
    assert labels["edges"][1, 5] == 0 and labels["edges"][3, 3] == 0  # around the silhouette, background side too
    assert labels["edges"][6, 7] == 1 and labels["edges"][6, 3] == 2 and labels["edges"][11, 11] == 3
    assert labels["shadow"][9, 3] == 1 and labels["shadow"][4, 3] == 0 and labels["shadow"][0, 0] == -1
    assert labels["specular"][5, 8] == 3 and labels["specular"][5, 7] == 0
    assert labels["depth_z"][5, 3] == 0 and labels["depth_z"][5, 9] == 3 and labels["depth_z"][0, 0] == -1
    assert labels["material"][5, 3] == 1 and labels["material"][5, 8] == 3 and labels["material"][0, 0] == -1
    assert labels["texture"][5, 3] == 3 and labels["texture"][5, 8] == 0  # the checker is high frequency
    assert labels["texture"][5, 5] == -1  # next to the other object: an edge, not texture
    sums = error_breakdown.bin_sums(np.ones((h, w)), labels)
    assert sum(sums["region"]["count"]) == sum(sums["edges"]["count"]) == h * w


# --- the evaluation job ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation(tiny_dataset, tiny_model_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    summary = evaluate(tiny_dataset.path, out, EvalConfig(model=tiny_model_spec, batch_size=4))
    return out, summary


def test_evaluation_writes_maps_metrics_breakdown_plots_and_manifest(evaluation, tiny_dataset, tiny_model_spec):
    out, summary = evaluation
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "frobnoscope.eval/1" and manifest["complete"]
    assert manifest["model"]["spec"] == tiny_model_spec and manifest["model"]["hook_points"] > 100
    assert manifest["dataset"]["path"] == str(tiny_dataset.path.resolve()) and len(manifest["dataset"]["manifest_blake2b"]) == 32
    maps = zarr.open_group(str(out / "maps"), mode="r")
    assert maps["output"].shape == (8, 32, 32, 3) and maps["squared_error"].shape == (8, 32, 32)
    rgb = tiny_dataset.channel("rgb")[:]
    np.testing.assert_allclose(maps["squared_error"][:], ((maps["output"][:] - rgb) ** 2).mean(axis=-1), rtol=1e-4, atol=1e-7)
    with open(out / "frames.csv") as f:
        frames = list(csv.DictReader(f))
    assert [int(f["index"]) for f in frames] == list(range(8))
    psnr = [-10 * np.log10(maps["squared_error"][k].astype(np.float64).mean()) for k in range(8)]
    np.testing.assert_allclose([float(f["psnr"]) for f in frames], psnr, rtol=1e-5)
    assert summary["mean_psnr"] == pytest.approx(np.mean(psnr), rel=1e-5) and 0 < summary["mean_ssim"] < 1
    rows = read_breakdown(out)
    assert {r["factor"] for r in rows} == set(error_breakdown.FACTOR_BINS)
    region = [r for r in rows if r["factor"] == "region"]
    assert sum(r["pixels"] for r in region) == 8 * 32 * 32
    object_pixels = int((tiny_dataset.channel("object_id")[:] > 0).sum())
    assert sum(r["pixels"] for r in rows if r["factor"] == "material") == object_pixels == region[0]["pixels"]
    overall = ((maps["output"][:] - rgb) ** 2).mean()
    assert region[0]["mse"] * region[0]["pixel_share"] + region[1]["mse"] * region[1]["pixel_share"] == pytest.approx(overall, rel=1e-4)
    for name in ("breakdown.png", "frames.png", "examples.png"):
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "progress.jsonl").exists()


def test_an_interrupted_evaluation_resumes_to_the_same_result(evaluation, tiny_dataset, tiny_model_spec, tmp_path):
    out = tmp_path / "run"

    def stop_after_first_block(done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(tiny_dataset.path, out, EvalConfig(model=tiny_model_spec, batch_size=4),
                 on_progress=stop_after_first_block)
    assert len((out / "progress.jsonl").read_text().splitlines()) == 1
    progress = []
    evaluate(tiny_dataset.path, out, EvalConfig(model=tiny_model_spec, batch_size=4),
             on_progress=lambda d, t: progress.append(d))
    assert progress == [4, 8]
    assert (out / "frames.csv").read_text() == (evaluation[0] / "frames.csv").read_text()
    assert (out / "breakdown.csv").read_text() == (evaluation[0] / "breakdown.csv").read_text()
    with pytest.raises(InterpError, match="holds an evaluation made with other settings \\(batch_size\\)"):
        evaluate(tiny_dataset.path, out, EvalConfig(model=tiny_model_spec, batch_size=2))


def test_an_evaluation_manifest_from_before_the_config_convention_resumes(evaluation, tiny_dataset, tiny_model_spec,
                                                                         tmp_path):
    out = tmp_path / "run"
    shutil.copytree(evaluation[0], out)
    manifest = json.loads((out / MANIFEST).read_text())
    # the configs as `dataclasses.asdict(EvalConfig(...))` and the breakdown as written before they became `Config`s
    manifest["config"] = {"model": tiny_model_spec, "latent": "mean", "seed": 0, "batch_size": 4, "edge_radius": 1}
    manifest["breakdown"] = {"depth_edges": manifest["breakdown"]["depth_edges"], "edge_radius": 1}
    manifest["complete"] = False
    (out / MANIFEST).write_text(json.dumps(manifest))
    config = EvalConfig(model=tiny_model_spec, batch_size=4)
    assert evaluate(tiny_dataset.path, out, config) == evaluation[1]
    with pytest.raises(InterpError, match=r"other settings \(edge_radius\)"):
        evaluate(tiny_dataset.path, out, config.model_copy(update={"edge_radius": 2}))


def test_eval_settings_name_bad_fields_and_the_cli_its_flags_with_the_config_defaults(frob_cli, cli_defaults, tmp_path):
    with pytest.raises(ConfigError, match="latent: .*; batch_size: .*; edge_radius: "):
        validate_config(EvalConfig, {"model": "taef2", "latent": "mode", "batch_size": 0, "edge_radius": -1})
    code, stderr = frob_cli("eval", tmp_path, "--model", "taef2", "--out", tmp_path / "o", "--latent", "mode")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--latent: Input should be 'mean' or 'sample'" in line
    defaults = cli_defaults(EvalConfig, "eval")
    assert set(defaults) == {"batch_size", "latent", "seed", "edge_radius"}
    assert all(cli == config for cli, config in defaults.values()), defaults


def test_cli_eval_prints_the_summary_and_reports_errors_in_one_line(tiny_dataset, tiny_model_spec, tmp_path):
    env = {**os.environ, "COLUMNS": "160"}
    result = subprocess.run([FROB, "eval", str(tiny_dataset.path), "--model", tiny_model_spec,
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "mean PSNR" in result.stdout and "error by ground truth" in result.stdout and "near silhouette" in result.stdout
    bad = subprocess.run([FROB, "eval", str(tiny_dataset.path), "--model", "sd-vae:/no/such/vae", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "/no/such/vae does not exist" in bad.stderr


def test_the_squared_error_map_averages_over_colour_channels_pixel_by_pixel():
    output = torch.zeros(2, 3, 4, 5)
    target = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5) / 100
    expected = (target.double() ** 2).mean(dim=1)
    error = metrics.squared_error_map(output, target)
    assert error.shape == (2, 4, 5)
    torch.testing.assert_close(error, expected)


@pytest.mark.parametrize("height, width", [(10, 40), (40, 10), (10, 10)])
def test_ssim_refuses_an_image_smaller_than_its_window_on_either_side(height, width):
    image = torch.zeros(1, 3, height, width)
    with pytest.raises(ValueError, match=rf"at least 11x11 pixels, got \({height}, {width}\)"):
        metrics.ssim_map(image, image)
    metrics.ssim_map(torch.zeros(1, 3, 11, 11), torch.zeros(1, 3, 11, 11))  # the window fits exactly
