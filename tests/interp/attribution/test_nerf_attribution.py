"""`frob attribute --model nerf:RUN`: rendered pixels attributed to the field's sample positions, scored against
the surface each ray truly meets."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import zarr
from torch import nn

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.measures import RANDOM
from frobnoscope.interp.attribution.methods import MethodSettings
from frobnoscope.interp.attribution.nerf_methods import RayTarget, attribute_rays
from frobnoscope.interp.attribution.nerf_scores import surface_scores
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.attribution.run_format import SAMPLE_T, read_maps
from frobnoscope.interp.attribution.scores import check_score_options, score_run
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.nerf.adapter import NerfAdapter, load_nerf, rays_of_camera
from frobnoscope.models.nerf.train import build_model, train_nerf
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.spec import parse_spec


@pytest.fixture(scope="module")
def fitted(tiny_nerf_config):
    """The tiny NeRF config trained for 300 steps of 256 rays."""
    return tiny_nerf_config.model_copy(update={"steps": 300, "rays_per_step": 256, "eval_every": 300,
                                               "checkpoint_every": 300})


@pytest.fixture(scope="module")
def nerf_run(fitted, tiny_orbit, tmp_path_factory):
    """A tiny NeRF fitted to the 16x16 orbit for 300 steps (a few seconds): enough to have found the surfaces."""
    run = tmp_path_factory.mktemp("nerf-attr") / "run"
    train_nerf(tiny_orbit.path, run, fitted)
    return run


def run_attribution(data, run, out, target, methods=("integrated_gradients",), frames=2, **settings):
    config = AttributeConfig(model=f"nerf:{run}", target=target, methods=methods, batch_size=1, frames=frames,
                             settings=MethodSettings(**settings))
    return attribute(data, out, config)


def pixel_targets(run, data, frame: int, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's target with its samples in place and with every sample at the ray's entry into the field's box
    (IG's baseline)."""
    adapter = load_nerf(run)
    spec = parse_spec(data.manifest["frames"][frame]["spec"])
    origins, directions = rays_of_camera(spec.camera)
    truth = torch.from_numpy(np.asarray(data.channel("rgb")[frame]).reshape(-1, 3))
    with torch.no_grad():
        edges = adapter.model.sample_edges(origins, directions)
        offsets = directions[:, None] * (0.5 * (edges[:, 1:] + edges[:, :-1]) - edges[:, :1])[..., None]
        entries = origins + directions * edges[:, :1]
        forward = RayTarget(adapter, parse_target(target))
        values = forward(offsets, entries, directions, edges, truth)
        baseline = forward(torch.zeros_like(offsets), entries, directions, edges, truth)
    return values.numpy(), baseline.numpy()


def test_integrated_gradients_are_complete_per_pixel(nerf_run, tiny_orbit, tmp_path):
    """A pixel's attributions add up to its target minus the target with all samples at the ray's entry point."""
    out = run_attribution(tiny_orbit.path, nerf_run, tmp_path / "ig", "error", frames=1, n_steps=128)
    maps = np.asarray(read_maps(out, "integrated_gradients")[0]).reshape(-1)
    values, baseline = pixel_targets(nerf_run, tiny_orbit, 0, "error")
    change = (values - baseline) / values.size  # the target is the mean over the frame's pixels
    assert maps.sum() == pytest.approx(change.sum(), rel=0.01)
    # per ray the quadrature converges more slowly (the field is piecewise linear along a ray: hash grid, ReLU):
    # 128 steps leave a median error of about 2%, 32 steps about 9%
    moved = np.abs(change) > 1e-3 * np.abs(change).max()
    assert np.median(np.abs(maps[moved] - change[moved]) / np.abs(change[moved])) < 0.05


def test_a_pixel_target_attributes_to_that_pixels_samples_only(nerf_run, tiny_orbit, tmp_path):
    out = run_attribution(tiny_orbit.path, nerf_run, tmp_path / "px", "output:9,6", methods=("saliency",), frames=1)
    maps = np.asarray(read_maps(out, "saliency")[0])
    assert maps[6, 9] > 0
    maps[6, 9] = 0
    assert not maps.any()
    t = np.asarray(zarr.open_group(str(out / "maps.zarr"), mode="r")[SAMPLE_T][0])
    assert t.shape == (16, 16, 16) and np.isfinite(t).all() and (np.diff(t, axis=-1) >= 0).all()


class PlaneField(nn.Module):
    """A planted field: solid below y = 0 (density 50 / unit, rising over about 0.05 units), empty above; colour
    0.8 everywhere."""

    def __init__(self, box):
        super().__init__()
        self.register_buffer("box", torch.as_tensor(box, dtype=torch.float32))
        self.solid = nn.Identity()  # a hook point

    def density(self, points):
        return self(points)[0]

    def forward(self, points, directions=None):
        density = self.solid(50.0 * torch.sigmoid(-points[..., 1] / 0.02))
        return density, None if directions is None else torch.full((*points.shape[:-1], 3), 0.8)


def planted_attribution(method: str, config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(along, t, depth) of 64 rays looking down at the planted plane from 3 units above it, through a model built
    from `config`."""
    model = build_model(config, [[-2.0, -1.0, -2.0], [2.0, 1.0, 2.0]], [0.1, 0.1, 0.1])
    model.field = PlaneField(model.box)
    rng = np.random.default_rng(0)
    origins = torch.tensor([[0.0, 3.0, 0.0]]).expand(64, 3)
    directions = torch.nn.functional.normalize(
        torch.tensor(rng.uniform([-0.4, -1, -0.4], [0.4, -1, 0.4], size=(64, 3)), dtype=torch.float32), dim=-1)
    with torch.no_grad():
        edges = model.sample_edges(origins, directions)
    t = 0.5 * (edges[:, 1:] + edges[:, :-1])
    forward = RayTarget(NerfAdapter(model, None), parse_target("output:0,0"))  # one scalar per ray, whatever the region
    along = attribute_rays(method, forward, t - edges[:, :1], origins + directions * edges[:, :1], directions, edges,
                           torch.zeros(64, 3), MethodSettings(smoothgrad_stdev=0.002), frame=0, box=model.box)
    return along.numpy(), t.numpy(), (3.0 / -directions[:, 1]).numpy()


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "smoothgrad"])
def test_the_local_methods_find_a_planted_surface(method, fitted):
    along, t, depth = planted_attribution(method, fitted)
    surface = surface_scores(along, t, depth, tolerance=0.05, cause="surface")
    assert np.isfinite(surface["energy_abs"]).all()  # every ray has mass
    assert surface["area"].mean() < 0.2
    assert surface["energy_abs"].mean() > 0.7 and surface["pointing"].mean() > 0.8
    random = surface_scores(np.random.default_rng(1).random(t.shape), t, depth, tolerance=0.05)
    assert abs(random["energy_abs"].mean() - random["area"].mean()) < 0.05


def test_integrated_gradients_credits_the_samples_that_cross_the_planted_surface_on_the_way_in(fitted):
    along, t, depth = planted_attribution("integrated_gradients", fitted)
    front = surface_scores(along, t, depth, tolerance=0.05, cause="front")
    surface = surface_scores(along, t, depth, tolerance=0.05, cause="surface")
    assert np.isfinite(front["energy_abs"]).all() and front["area"].mean() > 0.1
    assert front["energy_abs"].max() < 0.01 and surface["energy_abs"].mean() < 0.1  # all of it behind the surface


def test_a_small_fitted_nerf_is_scored_against_a_random_map(nerf_run, tiny_orbit, tmp_path):
    out = run_attribution(tiny_orbit.path, nerf_run, tmp_path / "score", "output:foreground",
                          methods=("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad"), frames=3,
                          smoothgrad_samples=4)
    scored = score_run(out)
    assert {row["cause"].split()[0] for row in scored} == {"surface", "front"}
    rows = {row["method"]: row for row in scored if row["cause"].startswith("surface")}
    area = rows[RANDOM]["area"]
    assert 0.01 < area < 0.6 and rows[RANDOM]["rays"] > 50
    assert abs(rows[RANDOM]["energy_abs"] - area) < 0.02
    for method in ("integrated_gradients", "saliency", "input_x_gradient", "smoothgrad"):
        assert rows[method]["rays"] == rows[RANDOM]["rays"] and rows[method]["area"] == area
        assert 0 <= rows[method]["energy_abs"] <= 1 and 0 <= rows[method]["pointing"] <= 1
    # a 300-step NeRF at 16x16 keeps a shell of density around the surfaces, yet IG already leans on them
    assert rows["integrated_gradients"]["energy_abs"] > 1.2 * area
    assert (out / "scores.csv").read_text().startswith("target,cause,method,frames,rays")


def test_surface_scores_of_planted_maps():
    t = np.array([[0.5, 1.0, 1.5, 2.0], [0.5, 1.0, 1.5, 2.0], [0.5, 1.0, 1.5, 2.0]])
    depth = np.array([1.02, 1.02, np.inf])
    along = np.array([[0.0, -3.0, 0.0, 1.0], [5.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    scores = surface_scores(along, t, depth, tolerance=0.05)
    np.testing.assert_allclose(scores["energy_abs"][:2], [0.75, 0.0])
    np.testing.assert_allclose(scores["energy_pos"][:2], [0.0, 0.0])
    np.testing.assert_allclose(scores["pointing"][:2], [1.0, 0.0])
    np.testing.assert_allclose(scores["area"][:2], [0.25, 0.25])
    assert all(np.isnan(scores[key][2]) for key in scores)  # the ray that meets nothing is not scored


@pytest.mark.parametrize("change, message", [
    ({"methods": ("occlusion",)}, "methods: occlusion do not apply to a NeRF"),
    ({"target": "probe:depth_z"}, "target: a NeRF takes targets"),
    ({"layer": "density_mlp.linear0"}, "layer: does not apply to a NeRF"),
    ({"settings": MethodSettings(internal_batch_size=4)}, "settings.internal_batch_size: does not apply to a NeRF"),
    ({"model": "nerfstudio:config.yml"}, "model: attribution to input coordinates works for `frob train nerf` runs"),
])
def test_what_a_nerf_cannot_take_is_a_settings_error_naming_the_field(nerf_run, change, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate_config(AttributeConfig, {"model": f"nerf:{nerf_run}", "target": "error", "frames": 1, **change})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("target, message", [
    ("feature:density_mlp.act0:999", "out of range"),
    ("feature:density_mlp.nope:0", "density_mlp"),
])
def test_what_a_nerf_does_not_have_is_a_one_line_error(nerf_run, tiny_orbit, tmp_path, target, message):
    config = AttributeConfig(model=f"nerf:{nerf_run}", target=target, frames=1)
    with pytest.raises(FrobError, match=message) as error:
        attribute(tiny_orbit.path, tmp_path / "x", config)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "x").exists()


def test_the_targets_rays_are_the_pixels_the_model_renders_in_the_frames_order(nerf_run, tiny_orbit):
    values, _ = pixel_targets(nerf_run, tiny_orbit, 4, "output:0,0")  # every pixel: the region is not applied here
    spec = parse_spec(tiny_orbit.manifest["frames"][4]["spec"])
    rendered = load_nerf(nerf_run).render_camera(spec.camera)["rgb"].mean(-1)  # (H, W), row-major like the frame
    np.testing.assert_allclose(values.reshape(rendered.shape), rendered, atol=1e-5)
    errors, _ = pixel_targets(nerf_run, tiny_orbit, 4, "error")
    truth = np.asarray(tiny_orbit.channel("rgb")[4])
    squared = ((load_nerf(nerf_run).render_camera(spec.camera)["rgb"] - truth) ** 2).mean(-1)
    np.testing.assert_allclose(errors.reshape(squared.shape), squared, atol=1e-6)


def test_an_unfinished_nerf_run_is_refused(nerf_run, tiny_orbit, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(nerf_run, unfinished)
    manifest = json.loads((unfinished / "manifest.json").read_text())
    (unfinished / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(InterpError, match="unfinished"):
        run_attribution(tiny_orbit.path, unfinished, tmp_path / "u", "error", frames=1)


def test_scoring_options_that_do_not_fit_fail_before_anything_is_attributed(nerf_run, tiny_orbit, tmp_path):
    base = [sys.executable, "-m", "frobnoscope.app.cli.main", "attribute", str(tiny_orbit.path), "--model",
            f"nerf:{nerf_run}", "--target", "error", "--frames", "1", "--score"]
    for extra, message in ((["--tolerance", "2"], "--tolerance: (pixels) is for image models"),
                           (["--cause", "object=2"], "--cause: a NeRF run is scored against"),
                           (["--surface-tolerance", "0"], "--surface-tolerance: must be positive")):
        result = subprocess.run([*base, "--out", str(tmp_path / "s"), *extra], capture_output=True, text=True)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert not (tmp_path / "s").exists()
    with pytest.raises(ConfigError, match="surface_tolerance: is for NeRF runs"):
        check_score_options(False, "error:object=2", None, None, 0.1)
    with pytest.raises(ConfigError, match="causes: target 'error' covers the whole frame"):
        check_score_options(False, "error", None, None, None)


def test_views_of_another_scene_are_refused(nerf_run, tmp_path):
    other = generate("orbit", n=3, seed=5, out=tmp_path / "other", settings={"res": "16"})
    with pytest.raises(InterpError, match="frame 0 of .* another scene"):
        run_attribution(other.path, nerf_run, tmp_path / "y", "error", frames=1)
    # a tabletop dataset of the same seed starts with the orbit's scene (its frame 0), then shows others
    tabletop = generate("tabletop", n=3, seed=0, out=tmp_path / "tabletop", settings={"res": "16"})
    with pytest.raises(InterpError, match="frame 1 of .* another scene"):
        run_attribution(tabletop.path, nerf_run, tmp_path / "z", "error", frames=3)


def test_the_cli_attributes_a_feature_and_scores_it(nerf_run, tiny_orbit, tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run([
        sys.executable, "-m", "frobnoscope.app.cli.main", "attribute", str(tiny_orbit.path), "--model", f"nerf:{nerf_run}",
        "--target", "feature:density_mlp.out:0", "--method", "ig,ixg", "--frames", "2", "--batch-size", "1",
        "--out", str(out), "--score"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "scene units" in result.stdout
    assert "surface (|t - depth_ray| <= tolerance),input_x_gradient,2," in (out / "scores.csv").read_text()
    maps = read_maps(out, "input_x_gradient")
    assert maps.shape == (2, 16, 16) and np.isfinite(maps[:]).all() and np.abs(maps[:]).sum() > 0
