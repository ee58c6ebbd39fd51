"""Judging a NeRF against the scene: point-level metrics on planted cases, the whole judgement, the CLI's errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frobnoscope.interp.evaluation import nerf_points
from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig, judge_nerf
from frobnoscope.models.nerf.data import load_orbit
from frobnoscope.models.nerf.train import train_nerf
from frobnoscope.scenes.generate import generate

FROB = str(Path(sys.executable).parent / "frob")


def test_a_field_equal_to_the_true_occupancy_scores_iou_1(tiny_orbit):
    scene = load_orbit(tiny_orbit.path).scene
    points = np.random.default_rng(0).uniform(scene.bounds[0] - 0.3, scene.bounds[1] + 0.3, (20_000, 3))
    sdf = scene.signed_distances(points).min(axis=1)
    planted = np.where(sdf < 0, 1e3, 0.0)
    assert 0 < (sdf < 0).mean() < 1
    assert nerf_points.occupancy_iou(planted, sdf) == 1.0
    filled = [row for row in nerf_points.density_by_sdf(planted, sdf) if row["points"]]
    assert len(filled) > 4 and all(row["predicted_solid"] == float(row["truly_solid"]) for row in filled)
    assert all(row["iou"] == 1.0 for row in nerf_points.iou_sweep(planted, sdf))
    assert nerf_points.occupancy_iou(np.zeros_like(sdf), sdf) == 0.0
    assert nerf_points.occupancy_iou(np.where(sdf < 0, 0.0, 1e3), sdf) == 0.0


def test_termination_and_colour_of_a_perfect_network():
    depth_ray = np.array([1.0, 2.5, np.inf])
    exact = {"depth": np.array([1.0, 2.5, np.nan]), "peak_depth": np.array([1.0, 2.5, 7.0])}
    stats = nerf_points.termination_errors(exact, depth_ray, np.array([1.0, 1.0, 0.0]))
    assert stats["hit_rays"] == 2 and stats["depth_median_abs_error"] == 0.0 and stats["depth_within_0.01"] == 1.0
    assert stats["miss_accumulation_mean"] == 0.0 and stats["hit_accumulation_mean"] == 1.0
    off = nerf_points.termination_errors({"depth": np.array([1.2, 2.5, np.nan])}, depth_ray, np.ones(3))
    assert off["depth_mean_error"] == pytest.approx(0.1) and off["depth_within_0.1"] == 0.5
    radiance = np.random.default_rng(0).uniform(size=(50, 3))
    radiance[3] = np.nan  # off the surface: left out
    colour = nerf_points.color_errors(np.nan_to_num(radiance), radiance, radiance * 0.5)
    assert colour["surface_points"] == 49 and colour["psnr_vs_radiance"] == 100.0 and colour["rmse_vs_albedo"] > 0


@pytest.fixture(scope="module")
def tiny_run(tiny_nerf_config, tiny_orbit, tmp_path_factory):
    run = tmp_path_factory.mktemp("nerf-judge") / "run"
    train_nerf(tiny_orbit.path, run, tiny_nerf_config)
    return run


def test_the_judgement_writes_tables_plots_and_a_manifest(tiny_run, tmp_path):
    out = tmp_path / "eval"
    config = NerfJudgeConfig(novel_views=1, uniform_points=2000, shell_points=1000, surface_points=300)
    summary = judge_nerf(tiny_run, out, config)
    assert set(summary["images"]) == {"val", "test", "novel"} and summary["images"]["novel"]["views"] == 1
    assert 0 < summary["images"]["val"]["mean_psnr"] < 100
    assert 0 <= summary["occupancy"]["iou_uniform"] <= 1 and summary["color"]["surface_points"] == 300
    for name in ("views.csv", "breakdown.csv", "sdf_profile.csv", "iou.csv", "manifest.json",
                 "plots/breakdown.png", "plots/examples.png", "plots/sdf_profile.png", "plots/termination.png"):
        assert (out / name).is_file(), name
    views = (out / "views.csv").read_text().splitlines()
    assert views[0].startswith("view,split,psnr,ssim") and [v.split(",")[0] for v in views[1:]] == ["val 4", "test 0", "test 8", "novel 10"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "frobnoscope.nerf-eval/1" and manifest["run"]["manifest_blake2b"]


def run_frob(*args) -> subprocess.CompletedProcess:
    return subprocess.run([FROB, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_cli_errors_are_one_line_with_exit_code_2(tiny_run, tmp_path):
    tabletop = generate("tabletop", n=2, seed=0, out=tmp_path / "tabletop", settings={"res": "16"})
    cases = [
        (("train", "nerf", tmp_path / "missing", "--out", tmp_path / "r1"), "does not exist"),
        (("train", "nerf", tabletop.path, "--out", tmp_path / "r2"), "'tabletop' dataset; NeRFs need an orbit dataset"),
        (("train", "nerf", tabletop.path, "--out", tmp_path / "r3", "--encoding", "fourier"), "--encoding: Input should be 'hash'"),
        (("eval-nerf", tabletop.path, "--out", tmp_path / "e1"), "is not a NeRF run"),
        (("eval-nerf", tiny_run, "--out", tiny_run), "exists and is not empty"),
    ]
    for args, message in cases:
        result = run_frob(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert not (tmp_path / "r2").exists()


def test_judging_settings_name_the_field_and_the_cli_its_flag_with_the_config_defaults(frob_cli, cli_defaults,
                                                                                       tmp_path):
    from frobnoscope.engine.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match="novel_views: .*; shell_width: .*; density_threshold: "):
        validate_config(NerfJudgeConfig, {"novel_views": -1, "shell_width": 0, "density_threshold": 0})
    code, stderr = frob_cli("eval-nerf", tmp_path, "--out", tmp_path / "o", "--uniform-points", "0")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--uniform-points: Input should be greater than or equal to 1" in line
    defaults = cli_defaults(NerfJudgeConfig, "eval-nerf")
    assert set(defaults) == {"novel_views", "uniform_points", "shell_points", "surface_points", "density_threshold",
                             "seed"}
    assert all(cli == config for cli, config in defaults.values()), defaults
