"""Our coordinate MLP: encodings, rays, sampling, volume rendering, training and resumption, the adapter."""

import json
import math

import numpy as np
import pytest
import torch

from frobnoscope.engine.config import ConfigError
from frobnoscope.engine.tensor_files import load_state_dict
from frobnoscope.models.errors import ModelError, WeightsError
from frobnoscope.models.nerf.adapter import NerfAdapter, PointBatch, load_nerf
from frobnoscope.models.nerf.data import load_orbit
from frobnoscope.models.nerf.encoding import HashGridConfig, HashGridEncoding, PositionalEncoding
from frobnoscope.models.nerf.rays import near_far
from frobnoscope.models.nerf.rendering import composite, expected_depth, median_depth, peak_depth, render_weights
from frobnoscope.models.nerf.sampling import importance_edges, merge_edges, stratified_edges
from frobnoscope.models.nerf.train import NerfTrainConfig, build_model, load_nerf_run, train_nerf
from frobnoscope.scenes.store import dataset_reference

# --- encodings -------------------------------------------------------------------------------------


def test_positional_encoding_layout_and_values():
    encoding = PositionalEncoding(3, 2)
    x = torch.tensor([[0.0, 0.25, 0.5]])
    out = encoding(x)
    assert out.shape == (1, encoding.out_dim) == (1, 15)
    scaled = [math.pi * v * f for f in (1, 2) for v in (0.0, 0.25, 0.5)]
    expected = [0.0, 0.25, 0.5]
    for k in range(2):
        expected += [math.sin(s) for s in scaled[3 * k:3 * k + 3]] + [math.cos(s) for s in scaled[3 * k:3 * k + 3]]
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)


@pytest.mark.parametrize("log2_table_size", [20, 6])  # every level dense; every level but the first hashed
def test_hash_grid_interpolates_trilinearly_between_its_vertices(log2_table_size):
    config = HashGridConfig(n_levels=3, features_per_level=2, log2_table_size=log2_table_size, base_resolution=2,
                            max_resolution=8, init_scale=1.0)
    encoding = HashGridEncoding(config, aspect=(2.0, 1.0, 2.0), generator=torch.Generator().manual_seed(0))
    assert (len(encoding.hashed) == 0) == (log2_table_size == 20)
    assert encoding.out_dim == 6 and encoding(torch.rand(4, 5, 3)).shape == (4, 5, 6)
    for level, cells in enumerate(encoding.cells):
        size = torch.tensor(cells, dtype=torch.float32)
        cell = torch.tensor([1.0, 0.0, 1.0]).minimum(size - 1)  # a cell away from the corner of the box
        corners = torch.tensor([[(c >> a) & 1 for a in range(3)] for c in range(8)], dtype=torch.float32)
        at_corners = encoding((cell + corners) / size)[:, 2 * level:2 * level + 2]
        centre = encoding(((cell + 0.5) / size)[None])[0, 2 * level:2 * level + 2]
        assert torch.allclose(centre, at_corners.mean(dim=0), atol=1e-5)
        weights = torch.tensor([0.2, 0.7, 0.4])
        inside = encoding(((cell + weights) / size)[None])[0, 2 * level:2 * level + 2]
        blend = torch.where(corners.bool(), weights, 1 - weights).prod(dim=-1)
        assert torch.allclose(inside, (blend[:, None] * at_corners).sum(dim=0), atol=1e-5)


# --- rays, sampling, rendering ---------------------------------------------------------------------


def test_rays_reach_the_true_surface_at_depth_ray(tiny_orbit):
    data = load_orbit(tiny_orbit.path)
    origins, directions = data.rays([3])
    frame = tiny_orbit.read_frame(3, ["depth_ray", "position_world"])
    hit = np.isfinite(frame["depth_ray"]).reshape(-1)
    reached = origins[0].numpy()[hit] + directions[0].numpy()[hit] * frame["depth_ray"].reshape(-1, 1)[hit]
    assert np.allclose(reached, frame["position_world"].reshape(-1, 3)[hit], atol=1e-4)
    near, far = near_far(origins[0], directions[0], torch.as_tensor(data.box, dtype=torch.float32))
    depth = torch.from_numpy(frame["depth_ray"].reshape(-1))
    assert bool(((near[hit] < depth[hit]) & (depth[hit] < far[hit])).all())  # every surface lies inside the box


def test_near_far_of_a_box():
    box = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    origins = torch.tensor([[0.0, 0.0, 5.0], [0.0, 3.0, 5.0], [0.0, 0.0, 0.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    near, far = near_far(origins, directions, box)
    assert torch.allclose(near[[0, 2]], torch.tensor([4.0, 0.0]))  # a ray starting inside starts at t = 0
    assert torch.allclose(far[[0, 2]], torch.tensor([6.0, 1.0]))
    assert near[1] == far[1]  # a miss: an empty segment


def test_stratified_and_importance_sampling_are_ordered_and_deterministic():
    near, far = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    even = stratified_edges(near, far, 4)
    assert torch.allclose(even[0], torch.tensor([1.0, 1.5, 2.0, 2.5, 3.0]))
    draws = [stratified_edges(near, far, 4, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], stratified_edges(near, far, 4, torch.Generator().manual_seed(8)))
    assert bool((draws[0].diff(dim=-1) >= 0).all()) and torch.equal(draws[0][:, 0], near) and torch.equal(draws[0][:, -1], far)
    weights = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    samples = importance_edges(even, weights, 16, torch.Generator().manual_seed(0), histogram_padding=0.0)
    assert bool(((samples[0] >= 2.0) & (samples[0] <= 2.5)).all())  # all mass in the third interval
    assert torch.equal(samples, importance_edges(even, weights, 16, torch.Generator().manual_seed(0), histogram_padding=0.0))
    middle = importance_edges(even, weights, 4, histogram_padding=0.0)  # no generator: evenly spaced quantiles
    assert torch.allclose(middle[1], torch.tensor([2.5, 3.5, 4.5, 5.5]))
    merged = merge_edges(even, samples)
    assert merged.shape == (2, 21) and bool((merged.diff(dim=-1) >= 0).all())


def test_volume_rendering_weights_against_hand_computed_cases():
    edges = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    opaque = torch.tensor([[0.0, 1e4, 0.0]])  # only the second interval, and it stops every ray
    weights = render_weights(opaque, edges)
    assert torch.allclose(weights, torch.tensor([[0.0, 1.0, 0.0]]))
    colors = torch.tensor([[[1.0, 0.0, 0.0], [0.2, 0.4, 0.6], [0.0, 0.0, 1.0]]])
    assert torch.allclose(composite(weights, colors, torch.ones(3)), torch.tensor([[0.2, 0.4, 0.6]]))
    assert torch.allclose(expected_depth(weights, edges), torch.tensor([1.5]))
    a, b = 0.5, 2.0
    weights = render_weights(torch.tensor([[a, b, 0.0]]), edges)
    by_hand = [1 - math.exp(-a), math.exp(-a) * (1 - math.exp(-b)), 0.0]
    assert torch.allclose(weights, torch.tensor([by_hand]), atol=1e-6)
    transmittance = math.exp(-a - b)
    assert math.isclose(float(weights.sum()), 1 - transmittance, rel_tol=1e-6)
    background = torch.tensor([0.0, 1.0, 0.0])
    expected = sum(w * c for w, c in zip(by_hand, colors[0])) + transmittance * background
    assert torch.allclose(composite(weights, colors, background)[0], expected, atol=1e-6)
    assert float(peak_depth(weights, edges)) == 1.5  # the second interval is the heaviest
    half = 0.5 * (1 - transmittance)  # the first interval holds 0.39 of 0.92, so the median is inside the second
    assert math.isclose(float(median_depth(weights, edges)), 1.0 + (half - by_hand[0]) / by_hand[1], rel_tol=1e-5)
    empty = render_weights(torch.zeros(1, 3), edges)
    assert torch.isnan(expected_depth(empty, edges)).all()
    assert torch.allclose(composite(empty, colors, background), background[None])


# --- training ---------------------------------------------------------------------------------------


def final_weights(run) -> dict[str, torch.Tensor]:
    return load_state_dict(run / "model" / "model.safetensors")


@pytest.fixture(scope="module")
def trained(tiny_nerf_config, tiny_orbit, tmp_path_factory):
    run = tmp_path_factory.mktemp("nerf") / "run"
    reports = []
    results = train_nerf(tiny_orbit.path, run, tiny_nerf_config, on_step=reports.append)
    return run, results, reports


def test_training_reports_progress_and_writes_checkpoints_and_a_model(trained, tiny_nerf_config, tiny_orbit):
    run, results, reports = trained
    assert [r.step for r in reports] == [1, 2, 3, 4, 5, 6]
    assert [r.heldout_psnr is not None for r in reports] == [False, True, False, True, False, True]
    assert set(results["psnr"]) == {"val", "test"} and all(v > 0 for v in results["psnr"].values())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.json", "step_000004.optimizer.safetensors", "step_000004.safetensors",
        "step_000006.optimizer.safetensors", "step_000006.safetensors"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["complete"] and manifest["split"] == {"train": [1, 2, 3, 5, 6, 7, 9], "val": [4], "test": [0, 8]}
    assert manifest["dataset"]["manifest_blake2b"] and manifest["config"]["seed"] == 0 and "command" in manifest
    assert train_nerf(tiny_orbit.path, run, tiny_nerf_config) == results  # a finished run is not trained again


def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_result(trained, tiny_nerf_config, tiny_orbit,
                                                                        tmp_path):
    run = tmp_path / "run"

    def stop_after_step_3(report):
        if report.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_nerf(tiny_orbit.path, run, tiny_nerf_config, on_step=stop_after_step_3)
    assert not (run / "model").exists()
    reports = []
    train_nerf(tiny_orbit.path, run, tiny_nerf_config, on_step=reports.append)
    assert [r.step for r in reports] == [3, 4, 5, 6]  # resumed from the checkpoint of step 2
    uninterrupted = final_weights(trained[0])
    resumed = final_weights(run)
    assert uninterrupted.keys() == resumed.keys()
    assert all(torch.equal(uninterrupted[key], resumed[key]) for key in resumed)


def test_a_run_with_other_settings_is_a_one_line_error(trained, tiny_nerf_config, tiny_orbit):
    other = tiny_nerf_config.model_copy(update={"seed": 1, "field": tiny_nerf_config.field.model_copy(
        update={"hidden_width": 8})})
    with pytest.raises(ModelError, match=r"other settings \(field.hidden_width, seed\)") as error:
        train_nerf(tiny_orbit.path, trained[0], other)
    assert "\n" not in str(error.value)


def test_settings_that_do_not_validate_are_one_line_errors_naming_each_field(tiny_orbit, tmp_path):
    settings = {"steps": 0, "field": {"encoding": "fourier", "hidden_width": 0}, "sampling": {"fine_samples": -1}}
    with pytest.raises(ConfigError) as error:
        train_nerf(tiny_orbit.path, tmp_path / "run", settings)
    assert [path for path, _ in error.value.problems] == [
        "field.encoding", "field.hidden_width", "sampling.fine_samples", "steps"]
    message = str(error.value)
    assert "field.encoding: Input should be 'hash' or 'frequency'" in message
    assert "sampling.fine_samples: Input should be greater than or equal to 0" in message
    assert "\n" not in message and "--" not in message
    assert not (tmp_path / "run").exists()


# A run directory as `frob train nerf` wrote it before its settings were a NerfTrainConfig (the dataclasses' asdict),
# 2 steps of the tiny config on the tiny orbit; the dataset reference and the scene are the fixture's own.
LEGACY_MANIFEST = {
    "format": "frobnoscope.nerf/1", "package_version": "0.1.0", "command": "/tmp/cfgwork/gen.py", "kind": "nerf",
    "config": {"field": {"encoding": "hash", "position_frequencies": 10, "direction_frequencies": 2, "hidden_width": 16,
                         "density_layers": 1, "color_layers": 2, "geometry_features": 7, "hash_levels": 3,
                         "hash_features_per_level": 2, "hash_log2_table_size": 12, "hash_base_resolution": 4,
                         "hash_max_resolution": 16, "density_bias": -1.0},
               "sampling": {"coarse_samples": 8, "fine_samples": 8}, "steps": 2, "rays_per_step": 64,
               "learning_rate": 0.01, "warmup_steps": 1, "seed": 0, "eval_every": 2, "checkpoint_every": 2,
               "threads": 1},
    "split": {"train": [1, 2, 3, 5, 6, 7, 9], "val": [4], "test": [0, 8]},
    "box": [[-4.22702316348482, -0.22702316348481993, -4.22702316348482],
            [4.22702316348482, 1.1483221902064116, 4.22702316348482]],
    "background": [0.0, 0.0, 0.0], "complete": True,
    "results": {"psnr": {"val": 11.959666623479182, "test": 10.490734848945788}, "steps": 2,
                "seconds": 0.013329772000133744, "seconds_to_25db": None,
                "history": [{"step": 2, "loss": 0.07461714744567871, "psnr": 11.271614074707031,
                             "heldout_psnr": 11.959666623479182, "seconds": 0.013329772000133744}]},
}


def test_a_run_written_before_the_config_models_still_resumes_and_refuses_other_settings(tiny_nerf_config,
                                                                                          tiny_orbit, tmp_path):
    run = tmp_path / "legacy"
    run.mkdir()
    scene = load_orbit(tiny_orbit.path).specs[0].model_dump(mode="json")
    manifest = {**LEGACY_MANIFEST, "dataset": dataset_reference(tiny_orbit), "scene": scene}
    (run / "manifest.json").write_text(json.dumps(manifest))
    same = tiny_nerf_config.model_copy(update={"steps": 2, "warmup_steps": 1})
    assert same.to_dict() == LEGACY_MANIFEST["config"]
    assert train_nerf(tiny_orbit.path, run, same) == LEGACY_MANIFEST["results"]  # finished: nothing to do
    other = same.model_copy(update={"sampling": same.sampling.model_copy(update={"fine_samples": 4})})
    with pytest.raises(ModelError, match=r"holds a NeRF run made with other settings \(sampling.fine_samples\)"):
        train_nerf(tiny_orbit.path, run, other)
    assert NerfTrainConfig.model_validate(LEGACY_MANIFEST["config"]) == same  # as `load_nerf_run` reads it


def test_a_run_loads_from_its_checkpoint_or_its_model_through_safetensors(trained, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained[0], run)
    model, manifest = load_nerf_run(run)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in final_weights(run).items())
    shutil.rmtree(run / "model")
    from_checkpoint, _ = load_nerf_run(run)  # step 6's checkpoint holds the same weights
    assert all(torch.equal(from_checkpoint.state_dict()[k], v) for k, v in final_weights(trained[0]).items())
    assert not list(run.rglob("*.pt*")) and manifest["format"] == "frobnoscope.nerf/1"
    (run / "checkpoints" / "step_000006.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="step_000006.safetensors"):
        load_nerf_run(run)


# --- the adapter ------------------------------------------------------------------------------------


def test_hook_points_cover_every_layer_capture_and_intervene(trained):
    adapter = load_nerf(trained[0])
    names = adapter.hook_points()
    layers = [n for n, m in adapter.model.field.named_modules()
              if n and not list(m.children()) and not isinstance(m, torch.nn.ParameterDict)]
    assert set(layers) <= set(names)  # every leaf module, by its dotted path
    assert names[0] == "position_encoding" and names[-1] == "color_activation"
    batch = PointBatch.of(np.random.default_rng(0).uniform(adapter.model.box[0], adapter.model.box[1], (50, 3)))
    captured = adapter.capture(batch)
    assert list(captured) == names and all(value.shape[0] == 50 for value in captured.values())
    plain = adapter.forward(batch)
    assert torch.equal(captured["color_activation"], plain["rgb"])
    with adapter.intervene("density_mlp.act0", lambda out: torch.zeros_like(out)):
        ablated = adapter.forward(batch)
    assert not torch.equal(ablated["density"], plain["density"])
    assert torch.equal(adapter.forward(batch)["density"], plain["density"])  # the context restored the model
    origins, directions = (r[0, :20] for r in load_orbit(adapter_dataset(trained)).rays([4]))
    rendered = adapter.render_rays(origins, directions)["rgb"]
    with adapter.intervene("density_activation", lambda out: torch.zeros_like(out)):  # nothing stops any ray
        empty = adapter.render_rays(origins, directions)
    assert torch.allclose(empty["rgb"], adapter.model.background.expand(20, 3)) and not torch.equal(empty["rgb"], rendered)
    points, edges = adapter.ray_samples(origins, directions)
    assert len(points) == 20 * (edges.shape[1] - 1)


def test_the_nerf_model_spec_loads_the_adapter_where_points_are_taken(trained):
    from frobnoscope.models import load_any_model, load_model

    assert load_any_model(f"nerf:{trained[0]}").hook_points() == load_nerf(trained[0]).hook_points()
    with pytest.raises(ModelError, match="coordinate MLP"):
        load_model(f"nerf:{trained[0]}")
    with pytest.raises(ModelError, match="needs a location"):
        load_any_model("nerf")


def adapter_dataset(trained) -> str:
    return json.loads((trained[0] / "manifest.json").read_text())["dataset"]["path"]


def test_optimal_output_is_the_scenes_own_answer(trained):
    adapter = load_nerf(trained[0])
    points = np.array([[0.0, -0.1, 0.0], [0.0, 3.0, 0.0]])  # inside the ground slab; high above everything
    truth = adapter.optimal_output(PointBatch.of(points))
    assert truth["occupancy"].tolist() == [True, False] and truth["object_id"][0] == 1
    assert truth["sdf"][0] < 0 < truth["sdf"][1] and np.isnan(truth["radiance"]).all()
    with pytest.raises(ModelError, match="must match"):
        PointBatch.of(points, np.ones((3, 3)))


def test_an_untrained_adapter_renders_a_camera(tiny_nerf_config, tiny_orbit):
    data = load_orbit(tiny_orbit.path)
    adapter = NerfAdapter(build_model(tiny_nerf_config, data.box, data.background), data.scene)
    out = adapter.render_camera(data.specs[0].camera)
    assert out["rgb"].shape == (16, 16, 3) and out["depth"].shape == (16, 16) and out["accumulation"].max() <= 1
