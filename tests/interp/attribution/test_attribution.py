"""Attribution: every target and method runs, a planted cause gets the mass and the random map does not, resume is
exact, bad input is a one-line error."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.runs import MANIFEST
from frobnoscope.interp.attribution import measures, scores
from frobnoscope.interp.attribution.config import AttributeConfig
from frobnoscope.interp.attribution.methods import INPUT_METHODS, METHODS, MethodSettings
from frobnoscope.interp.attribution.methods import attribute as attribute_maps
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.attribution.run_format import read_maps
from frobnoscope.interp.attribution.targets import ErrorTarget, OutputTarget, parse_region, parse_target
from frobnoscope.interp.errors import InterpError
from frobnoscope.models.adapter import AutoencoderAdapter
from frobnoscope.scenes.store import DatasetStore

HOOK = "encoder.4"  # 16x16 at 32x32, after a ReLU
CONV = "encoder.2"  # the stride-2 convolution before it: no channel is zero everywhere
LAYER = "encoder.1"
PLANTED = MethodSettings(n_steps=4, smoothgrad_samples=3)
FAST = MethodSettings(n_steps=4, smoothgrad_samples=3, occlusion_window=8, ablation_patch=8)  # 49 windows, 16 patches


def run_config(model, target, methods=METHODS, **overrides):
    values = dict(model=model, target=target, methods=tuple(methods), batch_size=4, frames=8, layer=LAYER,
                  settings=FAST)
    return validate_config(AttributeConfig, {**values, **overrides})


# --- a planted cause ------------------------------------------------------------------------------------------------


class _Planted(nn.Module):
    """Reproduces its input exactly, except inside `mask`, where it halves it: its error comes from those pixels."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.float())
        self.scale = nn.Conv2d(3, 3, 1, bias=False)  # a hook point; the identity
        with torch.no_grad():
            self.scale.weight.copy_(torch.eye(3).view(3, 3, 1, 1))

    def forward(self, x):
        return self.scale(x) * (1 - 0.5 * self.mask[:, None])


class PlantedAdapter(AutoencoderAdapter):
    def __init__(self, mask: torch.Tensor):
        super().__init__(_Planted(mask), name="planted", downsampling_factor=1, encoding="linear",
                         value_range=(0.0, 1.0))

    def encode_model(self, x):
        return self.module(x)

    def decode_model(self, latents):
        return latents


@pytest.fixture(scope="module")
def planted(interp_dataset):
    """(frames, object 2's masks, maps by method) of the planted model's error, 4 frames where object 2 is seen."""
    store = interp_dataset
    ids = store.channel("object_id")[:]
    frames = [k for k in range(len(store)) if (ids[k] == 2).sum() >= 20][:4]
    masks = ids[frames] == 2
    images = torch.from_numpy(store.channel("rgb").get_orthogonal_selection((frames,))).permute(0, 3, 1, 2)
    region = torch.ones(1, *masks.shape[1:])
    maps = {method: [] for method in INPUT_METHODS}
    for i, frame in enumerate(frames):  # one model per frame: captum expands the batch, the planted mask is fixed
        target = ErrorTarget(PlantedAdapter(torch.from_numpy(masks[i:i + 1])))
        for method in INPUT_METHODS:
            maps[method].append(attribute_maps(method, target, images[i:i + 1], region, [frame], PLANTED))
    return frames, masks, {method: np.concatenate(parts) for method, parts in maps.items()}


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "input_x_gradient", "smoothgrad"])
def test_gradient_methods_put_the_planted_cause_first(planted, method):
    frames, masks, maps = planted
    energy_abs, _ = measures.energy_in_region(maps[method], masks)
    assert energy_abs.min() > 0.99
    assert measures.pointing_game(maps[method], masks, tolerance=0).min() == 1.0


@pytest.mark.parametrize("method", ["occlusion", "feature_ablation"])
def test_perturbation_methods_put_most_mass_on_the_planted_cause(planted, method):
    frames, masks, maps = planted
    energy_abs, _ = measures.energy_in_region(maps[method], masks)
    dilated = measures.dilate(masks, 4)  # windows and patches reach a few pixels past the object
    assert energy_abs.min() > 2 * masks.mean(axis=(1, 2)).max()
    assert measures.energy_in_region(maps[method], dilated)[0].min() > 0.95
    assert measures.pointing_game(maps[method], masks, tolerance=2).min() == 1.0


def test_random_maps_score_near_the_area_of_the_cause(planted):
    frames, masks, maps = planted
    many = np.repeat(masks, 100, axis=0)
    random = measures.random_maps(np.arange(len(many)), masks.shape[1:], seed=0)
    energy_abs, energy_pos = measures.energy_in_region(random, many)
    area = many.mean(axis=(1, 2))
    assert np.abs(energy_abs - area).max() < 0.05
    np.testing.assert_allclose(energy_abs, energy_pos)
    pointing = measures.pointing_game(random, many, tolerance=1).mean()
    dilated_area = measures.dilate(many, 1).mean()
    assert abs(pointing - dilated_area) < 0.06
    assert pointing < 0.5 < measures.pointing_game(maps["integrated_gradients"], masks, 1).mean()


def test_energy_and_pointing_by_hand():
    maps = np.array([[[0.0, 3.0], [-1.0, 0.0]]])
    region = np.array([[[False, True], [False, False]]])
    energy_abs, energy_pos = measures.energy_in_region(maps, region)
    assert energy_abs[0] == pytest.approx(0.75) and energy_pos[0] == pytest.approx(1.0)
    assert measures.pointing_game(maps, region, 0)[0] == 1.0
    assert measures.pointing_game(-maps * [[[0, 0], [1, 0]]] + 0, region, 0)[0] == 0.0
    assert measures.pointing_game(-maps * [[[0, 0], [1, 0]]] + 0, region, 1)[0] == 1.0
    assert np.isnan(measures.pointing_game(np.zeros((1, 2, 2)), region, 0)[0])


# --- layer methods against input attribution ---------------------------------------------------------------------


class _Layered(nn.Module):
    """Hook point `layer` (an identity 1x1 convolution) on the image average-pooled by `pool`, upsampled back; the
    output depends on the pixel's position (a ramp), so a rotated or transposed map is wrong."""

    def __init__(self, pool: int):
        super().__init__()
        self.pool = pool
        self.layer = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(torch.eye(3).view(3, 3, 1, 1))

    def forward(self, x):
        h, w = x.shape[-2:]
        y = nn.functional.interpolate(self.layer(nn.functional.avg_pool2d(x, self.pool)), scale_factor=self.pool,
                                      mode="nearest")
        ramp = torch.arange(h * w, dtype=x.dtype).view(h, w) / (h * w)
        return (0.2 + ramp) * y + 0.5 * y ** 2


class LayeredAdapter(AutoencoderAdapter):
    def __init__(self, pool: int):
        super().__init__(_Layered(pool), name="layered", downsampling_factor=1, encoding="linear", value_range=(0.0, 1.0))

    def encode_model(self, x):
        return self.module(x)

    def decode_model(self, latents):
        return latents


@pytest.mark.parametrize("pool", [1, 2])
def test_layer_attribution_at_an_identity_layer_equals_input_attribution(pool):
    """With `layer` the identity on the (pooled) image, IG to the layer is IG to the input summed over each cell's
    pixels (exactly: the same path, the same steps), and the map spreads it evenly over them; conductance is the
    same integral by finite differences (close, not equal)."""
    from frobnoscope.interp.attribution.methods import LayerTap

    adapter = LayeredAdapter(pool)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 16, 16, dtype=torch.bool)
    target, settings = OutputTarget(adapter), MethodSettings(n_steps=32)
    inputs = attribute_maps("integrated_gradients", target, images, mask, [0, 1], settings)
    tap = LayerTap()
    with adapter.intervene("layer", tap):
        layer = {method: attribute_maps(method, target, images, mask, [0, 1], settings, tap)
                 for method in ("layer_integrated_gradients", "layer_conductance")}

    def cells(maps):
        return maps.reshape(2, 16 // pool, pool, 16 // pool, pool).sum(axis=(2, 4))

    scale = np.abs(inputs).max()
    np.testing.assert_allclose(cells(layer["layer_integrated_gradients"]), cells(inputs), rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(cells(layer["layer_conductance"]), cells(inputs), atol=0.05 * pool * pool * scale)
    for maps in layer.values():  # each cell's value spread evenly over its pool x pool pixels
        np.testing.assert_allclose(maps, np.repeat(np.repeat(cells(maps) / pool ** 2, pool, 1), pool, 2), rtol=1e-6)


def test_image_scores_leave_out_frames_without_a_cause_or_a_map_by_hand(interp_dataset):
    """Scores of a run over the dataset, each frame's map made to order, against a hand computation: frames where
    the object is absent, and a frame whose map is all zero, are left out; a frame with no positive attribution
    counts everywhere but in energy_pos."""
    from frobnoscope.interp.attribution.image_scores import score_image_run

    ids = interp_dataset.channel("object_id")[:]
    n, height, width = ids.shape
    obj = next(k for k in range(3, 20) if 3 <= sum((ids == k).any(axis=(1, 2))) <= n - 3)
    regions = ids == obj
    present = np.flatnonzero(regions.any(axis=(1, 2)))
    rng = np.random.default_rng(0)
    maps = rng.random((n, height, width)).astype(np.float32) + 0.01  # absent frames too: they must not count
    exact, silent, negative = present[:3]
    maps[exact] = 2.0 * regions[exact]  # all of it on the object
    maps[silent] = 0.0  # no attribution: no score
    rows, cols = np.nonzero(regions[negative])
    far = next((r, c) for r in range(height) for c in range(width)
               if np.maximum(np.abs(rows - r), np.abs(cols - c)).min() > 1)  # more than tolerance 1 from the object
    maps[negative] = -1.0
    maps[negative][far] = -5.0  # the peak |a| lies off the object: pointing 0

    def by_hand(k):
        mass, inside = np.abs(maps[k].astype(np.float64)), regions[k]
        positive = np.maximum(maps[k].astype(np.float64), 0)
        peak = np.unravel_index(mass.argmax(), mass.shape)
        rows, cols = np.nonzero(inside)
        hit = np.maximum(np.abs(rows - peak[0]), np.abs(cols - peak[1])).min() <= 1
        return {"energy_abs": mass[inside].sum() / mass.sum(),
                "energy_pos": positive[inside].sum() / positive.sum() if positive.sum() > 0 else None,
                "pointing": float(hit), "area": inside.mean()}

    scored = [by_hand(k) for k in present if k != silent]
    manifest = {"dataset": {"path": str(interp_dataset.path)}, "frames": n, "height": height, "width": width,
                "methods": ["planted"], "target": f"error:object={obj}"}
    row, random = score_image_run(manifest, {"planted": maps}, None, None, seed=0, block=5)
    assert row["cause"] == f"object={obj}" and row["method"] == "planted" and row["tolerance"] == 1
    assert row["frames"] == len(present) - 1 and random["frames"] == len(present)
    for key in ("energy_abs", "pointing", "area"):
        assert row[key] == pytest.approx(np.mean([frame[key] for frame in scored]), rel=1e-9), key
    assert row["energy_pos"] == pytest.approx(np.mean([f["energy_pos"] for f in scored if f["energy_pos"] is not None]),
                                              rel=1e-9)
    assert by_hand(exact)["energy_abs"] == 1.0 and by_hand(negative)["pointing"] == 0.0


# --- targets and regions --------------------------------------------------------------------------------------------


def test_target_and_region_syntax():
    assert str(parse_target("error:object=3")) == "error:object=3"
    assert parse_target("output:4,7").region == parse_region("at=4,7")
    assert str(parse_target("output:4,7")) == "output:4,7"
    assert parse_target("output:4,7").default_cause() == parse_region("object-at=4,7")
    spec = parse_target("feature:decoder.3.pool.1:12:shadow=0")
    assert (spec.hook, spec.index, str(spec.region)) == ("decoder.3.pool.1", 12, "shadow=0")
    spec = parse_target("probe:encoder.4:shape_id=2:object=2")
    assert (spec.hook, spec.factor, str(spec.region)) == ("encoder.4", "shape_id=2", "object=2")
    assert parse_target("probe:depth_z").hook is None
    assert parse_target("error").default_cause() is None


def test_region_masks_follow_the_ground_truth(interp_dataset):
    store = interp_dataset
    gt = {name: store.channel(name)[:4] for name in ("object_id", "shadow", "shading", "albedo")}
    shape = gt["object_id"].shape
    np.testing.assert_array_equal(parse_region("object=2").mask(gt, shape), gt["object_id"] == 2)
    np.testing.assert_array_equal(parse_region("background").mask(gt, shape), gt["object_id"] == 0)
    assert parse_region("shadow=0").mask(gt, shape).sum() == (gt["shadow"][..., 0] == 1).sum()
    under = parse_region("object-at=16,20").mask(gt, shape)
    assert all(under[k, 20, 16] for k in range(4))
    assert parse_region("at=3,5").mask(gt, shape).sum() == 4
    flat, textured = parse_region("texture=0").mask(gt, shape), parse_region("texture=3").mask(gt, shape)
    assert not (flat & textured).any() and ((flat | textured) <= (gt["object_id"] > 0)).all()


def test_output_target_is_the_pixel_value():
    adapter = PlantedAdapter(torch.zeros(1, 4, 4))
    images = torch.rand(2, 3, 4, 4)
    mask = torch.from_numpy(parse_region("at=1,2").mask({}, (2, 4, 4)))
    np.testing.assert_allclose(OutputTarget(adapter)(images, mask).detach().numpy(), images[:, :, 2, 1].mean(1).numpy(),
                               rtol=1e-6)


# --- the job ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("target", ["error:object=2", "output:16,20", f"feature:{CONV}:3:object=2",
                                    f"feature:{CONV}:5:at=8,8"])
def test_every_method_runs_on_every_target(interp_dataset, tiny_model_spec, tmp_path, target):
    run = attribute(interp_dataset.path, tmp_path / "run", run_config(tiny_model_spec, target, frames=4))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["complete"] and manifest["methods"] == list(METHODS) and manifest["target"] == target
    for method in METHODS:
        maps = read_maps(run, method)[:]
        assert maps.shape == (4, 32, 32) and maps.dtype == np.float32
        assert np.isfinite(maps).all() and np.abs(maps).sum() > 0, method
    rows = scores.score_run(run)
    assert [row["method"] for row in rows] == [*METHODS, "random"]
    assert all(0 <= row["energy_abs"] <= 1 and row["frames"] > 0 for row in rows)


@pytest.fixture(scope="module")
def trained_probes_and_sae(interp_dataset, tiny_model_spec, tmp_path_factory):
    from frobnoscope.interp.activations.capture import CaptureConfig, capture
    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.probes.linear import ProbeConfig
    from frobnoscope.interp.probes.run import run_probes
    from frobnoscope.interp.sae.run import SAERunConfig, train_on_run
    from frobnoscope.interp.sae.training import SAETrainConfig, load_sae

    root = tmp_path_factory.mktemp("attribution-probes")
    run = capture(interp_dataset.path, root / "acts",
                  CaptureConfig(model=tiny_model_spec, hooks=HOOK, batch_size=8, dtype="float32"))
    # every token of every frame, and reservoirs that hold them all: the probes see all tokens of their splits in order
    run_probes(run, root / "probes", config=ProbeConfig(tokens_per_frame=0, max_fit_tokens=4096, logistic_epochs=2))
    sae, _ = train_on_run(run, SAERunConfig(hook=HOOK, width=32, k=4, splice_frames=2),
                          SAETrainConfig(steps=20, batch_tokens=256))
    acts = ActivationStore.open(run).acts(HOOK)[:4]
    with torch.no_grad():
        codes = load_sae(sae).encode(torch.from_numpy(acts.reshape(-1, acts.shape[-1])))
    return root / "probes", sae, int((codes > 0).sum(0).argmax())  # the latent firing most on the first frames


@pytest.mark.slow
@pytest.mark.parametrize("target", ["probe:depth_z:object=2", f"probe:{HOOK}:camera_elevation_deg",
                                    f"probe:{HOOK}:shape_id=1", f"feature:{HOOK}:LATENT"])
def test_probe_and_sae_targets_run(interp_dataset, tiny_model_spec, trained_probes_and_sae, tmp_path, target):
    probes, sae, latent = trained_probes_and_sae
    target = target.replace("LATENT", str(latent))  # the SAE's most frequent latent: it fires on these frames
    extra = {"sae": str(sae)} if target.startswith("feature") else {"probes": str(probes)}
    config = run_config(tiny_model_spec, target, methods=("integrated_gradients", "layer_conductance"), frames=4,
                        **extra)
    run = attribute(interp_dataset.path, tmp_path / "run", config)
    for method in config.methods:
        maps = read_maps(run, method)[:]
        assert np.isfinite(maps).all() and np.abs(maps).sum() > 0


def test_probe_weights_reproduce_the_probe(trained_probes_and_sae):
    """The saved weights give the probe's own predictions: the logits of the categorical probe refitted the way
    `frob probe` fits it, and every score in probes.csv recomputed from the saved weights on the held-out frames."""
    from sklearn.metrics import accuracy_score, r2_score

    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.probes import logistic
    from frobnoscope.interp.probes.linear import ProbeConfig, frame_splits
    from frobnoscope.interp.probes.predict import predict_frame_value, predict_grid
    from frobnoscope.interp.probes.run import load_fitted, read_csv

    probes, _, _ = trained_probes_and_sae
    config = ProbeConfig.model_validate(json.loads((probes / MANIFEST).read_text())["config"])
    recorded = {(row["factor"], row["metric"]): row["score"] for row in read_csv(probes / "probes.csv")}
    store = ActivationStore.open(probes.parent / "acts")
    acts = store.acts(HOOK)[:].astype(np.float32)  # (N, h, w, C)
    splits = frame_splits(len(store))
    train, test = np.flatnonzero(splits == 0), np.flatnonzero(splits == 2)
    hook, depth = load_fitted(probes, "depth_z")
    assert hook == HOOK and depth.level == "pixel" and depth.weights.shape == (64, 1)
    truth = store.gt(HOOK, "depth_z")[:][test].reshape(-1)
    predicted = np.concatenate([predict_grid(acts[k], depth).reshape(-1) for k in test])
    keep = np.isfinite(truth)
    assert recorded["depth_z", "r2"] == pytest.approx(r2_score(truth[keep], predicted[keep]), abs=1e-6)

    _, shape = load_fitted(probes, "shape_id", HOOK)
    labels = store.gt(HOOK, "shape_id")[:]
    classes = np.unique(np.concatenate([labels[train].reshape(-1), labels[test].reshape(-1)]))
    np.testing.assert_array_equal(shape.classes, classes)
    x_train, x_test = acts[train].reshape(-1, 64), acts[test].reshape(-1, 64)
    model = logistic.fit_logistic(x_train, np.searchsorted(classes, labels[train].reshape(-1)), len(classes),
                                  epochs=config.logistic_epochs, seed=config.seed)
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).numpy()
    np.testing.assert_allclose(x_test.astype(np.float64) @ shape.weights + shape.intercept, logits, rtol=1e-5,
                               atol=1e-4)
    grids = np.concatenate([predict_grid(acts[k], shape).reshape(-1) for k in test])
    np.testing.assert_array_equal(grids, classes[logistic.predict(model, x_test)])
    assert recorded["shape_id", "accuracy"] == accuracy_score(labels[test].reshape(-1), grids)

    # a frame-level probe is scored out of fold (`frame_level`); the stored one is the fold holding the test frames
    from frobnoscope.interp.probes.frame_level import frame_probe
    from frobnoscope.interp.probes.linear import frame_mean_activations

    _, elevation = load_fitted(probes, "camera_elevation_deg", HOOK)
    values = store.factors()["camera_elevation_deg"]
    cross_validated = frame_probe(frame_mean_activations(store, HOOK), values)
    assert recorded["camera_elevation_deg", "r2"] == pytest.approx(r2_score(values, cross_validated.predicted),
                                                                   abs=1e-9)
    frame_values = [predict_frame_value(acts[k], elevation) for k in test]
    np.testing.assert_allclose(frame_values, cross_validated.predicted[test], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_resume_after_interruption_gives_identical_maps_and_workers_agree(interp_dataset, tiny_model_spec, tmp_path):
    config = run_config(tiny_model_spec, "error:object=2", methods=("integrated_gradients", "smoothgrad"))
    whole = attribute(interp_dataset.path, tmp_path / "whole", config)
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        attribute(interp_dataset.path, tmp_path / "cut", config, on_progress=interrupt)
    journal = (tmp_path / "cut" / "progress.jsonl").read_text().splitlines()
    assert len(journal) == 1 and not json.loads((tmp_path / "cut" / "manifest.json").read_text())["complete"]
    attribute(interp_dataset.path, tmp_path / "cut", config)
    pooled = attribute(interp_dataset.path, tmp_path / "pooled", config, workers=2)
    for method in config.methods:
        np.testing.assert_array_equal(read_maps(whole, method)[:], read_maps(tmp_path / "cut", method)[:])
        np.testing.assert_array_equal(read_maps(whole, method)[:], read_maps(pooled, method)[:])
    with pytest.raises(InterpError, match=r"other settings \(target, methods\)"):
        attribute(interp_dataset.path, tmp_path / "cut", run_config(tiny_model_spec, "error:object=3"))


@pytest.mark.parametrize("target, extra, message", [
    ("error", {"methods": ("gradcam",)}, "^invalid AttributeConfig settings: methods: unknown method 'gradcam'"),
    ("blame:3", {}, "^invalid AttributeConfig settings: target: unknown target"),
    ("error:object=x", {}, "target: region 'object=x' should read object=N"),
    ("probe:depth_z", {}, "probes: needed by probe targets"),
    ("error", {"layer": None}, "layer: a hook point is needed by layer_conductance, layer_integrated_gradients"),
    ("error", {"sae": "sae", "probes": "probes"}, "sae: applies to feature targets.*; probes: applies to probe"),
])
def test_settings_that_do_not_fit_together_name_their_fields(tiny_model_spec, target, extra, message):
    with pytest.raises(ConfigError, match=message) as error:
        run_config(tiny_model_spec, target, **extra)
    assert "\n" not in str(error.value) and "--" not in str(error.value)


@pytest.mark.parametrize("target, extra, message", [
    ("feature:encoder.999:0", {}, "no hook point 'encoder.999'"),
    (f"feature:{HOOK}:64", {}, "feature id 64 is out of range"),
    ("error", {"layer": "decoder.nope"}, "no hook point 'decoder.nope'"),
    (f"feature:{HOOK}:0", {"layer": "decoder.1"}, "layer 'decoder.1' runs after the target's hook point"),
])
def test_bad_input_is_a_one_line_error(interp_dataset, tiny_model_spec, tmp_path, target, extra, message):
    with pytest.raises(FrobError, match=message) as error:
        attribute(interp_dataset.path, tmp_path / "run", run_config(tiny_model_spec, target, **extra))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_an_attribution_manifest_from_before_the_config_convention_resumes(interp_dataset, tiny_model_spec, tmp_path):
    config = run_config(tiny_model_spec, "error:object=2", methods=("saliency",), frames=4)
    run = attribute(interp_dataset.path, tmp_path / "run", config)
    manifest = json.loads((run / MANIFEST).read_text())
    # the config as `AttributeConfig.to_dict()` stored it before `AttributeConfig` became a `Config`
    manifest["config"] = {
        "model": tiny_model_spec, "target": "error:object=2", "methods": ["saliency"], "batch_size": 4, "frames": 4,
        "layer": "encoder.1", "sae": None, "probes": None,
        "settings": {"n_steps": 4, "smoothgrad_samples": 3, "smoothgrad_stdev": 0.1, "seed": 0,
                     "internal_batch_size": None, "perturbations_per_eval": None, "occlusion_window": 8,
                     "ablation_patch": 8}}
    (run / MANIFEST).write_text(json.dumps(manifest))
    assert attribute(interp_dataset.path, run, config) == run
    changed = config.model_copy(update={"settings": config.settings.model_copy(update={"n_steps": 8})})
    with pytest.raises(InterpError, match=r"other settings \(settings.n_steps\)"):
        attribute(interp_dataset.path, run, changed)


def test_cli_names_the_flags_of_bad_settings_and_takes_its_defaults_from_the_config(frob_cli, cli_defaults, tmp_path):
    code, stderr = frob_cli("attribute", tmp_path, "--model", "taef2", "--target", "probe:depth_z", "--out",
                            tmp_path / "o", "--method", "lc,nope", "--n-steps", "0", "--batch-size", "0")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--method: unknown method 'nope'" in line and "--n-steps: " in line
    assert "--batch-size: " in line and "settings." not in line
    code, stderr = frob_cli("attribute", tmp_path, "--model", "taef2", "--target", "probe:depth_z", "--out",
                            tmp_path / "o", "--method", "lc")
    assert code == 2 and "--layer: a hook point is needed" in stderr and "--probes: needed by probe targets" in stderr
    attribute_defaults = cli_defaults(AttributeConfig, "attribute")
    assert set(attribute_defaults) == {"batch_size", "frames", "layer", "sae", "probes"}
    settings_defaults = cli_defaults(MethodSettings, "attribute")
    assert set(settings_defaults) == {"n_steps", "smoothgrad_samples", "smoothgrad_stdev", "internal_batch_size",
                                      "perturbations_per_eval", "seed"}
    for cli, config in (*attribute_defaults.values(), *settings_defaults.values()):
        assert cli == config
    import typer

    from frobnoscope.app.cli.main import app

    (method,) = [param.default for param in typer.main.get_command(app).commands["attribute"].params
                 if param.name == "method"]  # text for --method; the config's default is a tuple
    default = AttributeConfig.model_fields["methods"].default
    assert validate_config(AttributeConfig, {"model": "taef2", "target": "error", "methods": method}).methods == default


def test_unfitted_probe_factor_and_sae_id_are_errors(interp_dataset, tiny_model_spec, trained_probes_and_sae,
                                                     tmp_path):
    probes, sae, _ = trained_probes_and_sae
    with pytest.raises(InterpError, match="no probe of factor 'colour_of_mood'"):
        attribute(interp_dataset.path, tmp_path / "a", run_config(tiny_model_spec, "probe:colour_of_mood",
                                                                  probes=str(probes)))
    with pytest.raises(InterpError, match="the SAE in .* has 32 latents"):
        attribute(interp_dataset.path, tmp_path / "b", run_config(tiny_model_spec, f"feature:{HOOK}:32", sae=str(sae)))
    with pytest.raises(InterpError, match="is categorical"):
        attribute(interp_dataset.path, tmp_path / "c",
                  run_config(tiny_model_spec, "probe:shape_id", probes=str(probes)))


@pytest.mark.slow
def test_cli_attributes_and_scores_against_the_cause(interp_dataset, tiny_model_spec, tmp_path):
    frob = [sys.executable, "-m", "frobnoscope.app.cli.main"]
    command = [*frob, "attribute", str(interp_dataset.path), "--model", tiny_model_spec, "--target",
               "error:object=2", "--method", "ig,saliency", "--out", str(tmp_path / "run"), "--frames", "4",
               "--n-steps", "4", "--score", "--cause", "object=2", "--cause", "shadow=0"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "images/s" in result.stderr and "energy" in result.stdout
    rows = (tmp_path / "run" / "scores.csv").read_text().splitlines()
    assert rows[0].startswith("target,cause,method,frames,energy_abs,energy_pos,pointing,area")
    assert len(rows) == 1 + 2 * 3
    bad = subprocess.run([*frob, "attribute", str(interp_dataset.path), "--model", tiny_model_spec, "--target",
                          "error", "--method", "nope", "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown method" in bad.stderr
    whole = subprocess.run([*frob, "attribute", str(interp_dataset.path), "--model", tiny_model_spec, "--target",
                            "error", "--out", str(tmp_path / "whole"), "--frames", "1", "--n-steps", "2", "--score"],
                           capture_output=True, text=True)
    assert whole.returncode == 2 and "--cause: target 'error' covers the whole frame" in whole.stderr


def test_unfinished_dataset_is_refused(interp_dataset, tiny_model_spec, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(interp_dataset.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    assert not DatasetStore.open(copy).complete
    with pytest.raises(InterpError, match="unfinished"):
        attribute(copy, tmp_path / "run", run_config(tiny_model_spec, "error"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["run", "taef2"])
def test_cli_runs_on_our_autoencoder_and_taef2(interp_dataset, tmp_path, model, request):
    from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig, train_autoencoder

    if model == "run":
        train_autoencoder(interp_dataset.path, tmp_path / "ae",
                          AutoencoderTrainConfig(arch="conv", steps=2, batch_size=2, checkpoint_every=2, holdout_every=4))
        spec = f"run:{tmp_path / 'ae'}"
    else:
        spec = f"taef2:{request.getfixturevalue('taef2_dir')}"  # skips (or fails) only this case without them
    hook = "encoder.0" if model == "run" else "encoder.1"
    command = [sys.executable, "-m", "frobnoscope.app.cli.main", "attribute", str(interp_dataset.path), "--model", spec,
               "--target", "error:object=2", "--method", "ig,saliency,lig", "--layer", hook, "--out",
               str(tmp_path / "run"), "--frames", "2", "--n-steps", "2", "--score"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for method in ("integrated_gradients", "saliency", "layer_integrated_gradients"):
        maps = read_maps(tmp_path / "run", method)[:]
        assert maps.shape == (2, 32, 32) and np.isfinite(maps).all() and np.abs(maps).sum() > 0


@pytest.mark.parametrize("tolerance", [0, 1, 2, 3])
def test_dilation_grows_a_region_by_its_tolerance_in_chebyshev_distance(tolerance):
    from frobnoscope.interp.attribution.measures import dilate

    region = np.zeros((1, 11, 11), dtype=bool)
    region[0, 5, 5] = True
    rows, cols = np.mgrid[0:11, 0:11]
    expected = np.maximum(abs(rows - 5), abs(cols - 5)) <= tolerance
    np.testing.assert_array_equal(dilate(region, tolerance)[0], expected)


def test_pointing_counts_a_peak_within_the_tolerance_and_no_further():
    from frobnoscope.interp.attribution.measures import energy_in_region, pointing_game

    maps = np.zeros((4, 9, 9))
    for k, (row, col) in enumerate([(4, 4), (4, 6), (4, 7), (7, 4)]):
        maps[k, row, col] = 1.0 if k % 2 == 0 else -1.0  # |a| decides, whatever the sign
    regions = np.zeros((4, 9, 9), dtype=bool)
    regions[:, 4, 4] = True
    np.testing.assert_array_equal(pointing_game(maps, regions, 2), [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(pointing_game(maps, regions, 3), [1.0, 1.0, 1.0, 1.0])
    assert np.isnan(pointing_game(np.zeros((1, 9, 9)), regions[:1], 2)).all()
    energy_abs, energy_pos = energy_in_region(maps, regions)
    np.testing.assert_array_equal(energy_abs, [1.0, 0.0, 0.0, 0.0])
    assert energy_pos[0] == 1.0 and np.isnan(energy_pos[1])  # a map without positive values has no positive share


def test_dilation_never_spreads_a_region_to_another_frame():
    from frobnoscope.interp.attribution.measures import dilate

    regions = np.zeros((3, 7, 7), dtype=bool)
    regions[1, 3, 3] = True
    grown = dilate(regions, 1)
    assert not grown[0].any() and not grown[2].any()
    assert grown[1].sum() == 9
