"""Feature labelling and the frobnoloid score on planted features, with a toy model whose optimal output is known."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch import nn

from frobnoscope.interp.activations import tokens as feature_data
from frobnoscope.interp.activations.tokens import TokenTruth
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.features import effects as feature_effects
from frobnoscope.interp.features import labels as features
from frobnoscope.interp.features.run import LabelConfig
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder
from frobnoscope.interp.sae.splice import model_error, spliced_score
from frobnoscope.models.hooks import CallSiteHooks

FRAMES, GRID = 24, 8


class ToyAdapter:
    """An identity 'autoencoder' over (B, 3, h, w) maps: the hook `features` outputs its input unchanged, so the
    optimal output (the input) needs every channel the input carries."""

    name = "toy"

    def __init__(self):
        self.module = nn.Sequential()
        self.module.add_module("features", nn.Identity())
        self.hooks = CallSiteHooks(self.module, lambda: self.module(torch.zeros(1, 3, 2, 2)))

    def forward(self, batch):
        with self.hooks.forward_pass():
            return self.module(batch)

    def optimal_output(self, batch):
        return batch

    @contextmanager
    def intervene(self, name, fn):
        with self.hooks.intervening(name, fn):
            yield


@pytest.fixture(scope="module")
def planted():
    """Channel 0 = depth (a ground-truth factor, scaled); channel 1 = a smooth pattern no ground truth describes;
    channel 2 = constant. Shape labels: a disc per frame."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:GRID, 0:GRID]
    depth = rng.uniform(1, 3, (FRAMES, 1, 1)) + 0.1 * rows[None]
    secret = np.sin(rng.uniform(0, 6, (FRAMES, 1, 1)) + cols[None] * rng.uniform(0.5, 2, (FRAMES, 1, 1)))
    shape = np.where((rows - 4) ** 2 + (cols - 4) ** 2 < 6, 2, 0)[None].repeat(FRAMES, 0) * (np.arange(FRAMES) % 2 + 1)[:, None, None] // 2
    maps = np.stack([0.2 * depth, 0.5 + 0.3 * secret, np.full_like(depth, 0.5)], axis=1).astype(np.float32)
    frame = np.repeat(np.arange(FRAMES), GRID * GRID)
    truth = TokenTruth(continuous={"depth_z": depth.reshape(-1)}, categorical={"shape_id": shape.reshape(-1)},
                       frame=frame, factors={"light_intensity": np.repeat(rng.uniform(0, 1, FRAMES), GRID * GRID)})
    tokens = torch.from_numpy(maps).permute(0, 2, 3, 1).reshape(-1, 3)
    batches = [torch.from_numpy(maps[i:i + 8]) for i in range(0, FRAMES, 8)]
    return tokens, truth, batches


def test_correlated_feature_gets_its_factor_and_a_disc_gets_its_label(planted):
    tokens, truth, _ = planted
    disc = (truth.categorical["shape_id"] == 2).astype(np.float32)
    activations = np.concatenate([tokens.numpy()[:, :2], disc[:, None]], axis=1)
    rows = features.label_features(activations, truth)
    assert rows[0]["best_factor"] == "depth_z" and rows[0]["correlation"] > 0.99 and rows[0]["gt_r2"] > 0.9
    assert rows[1]["gt_r2"] < 0.3 and not rows[1]["matched"]
    assert rows[2]["best_factor"] == "shape_id=2" and rows[2]["iou"] > 0.9


def test_frobnoloid_score_ranks_the_unexplained_important_feature_first(planted):
    tokens, truth, batches = planted
    adapter = ToyAdapter()
    activations = tokens.numpy()
    rows = features.label_features(activations, truth)
    means, amounts = activations.mean(0), feature_effects.steer_amounts(activations)
    edits = {c: (feature_effects.channel_ablation(c, float(means[c])), feature_effects.channel_steering(c, float(amounts[c])))
             for c in range(3)}
    effects = feature_effects.importances(adapter, batches, "features", edits)
    scores = [features.frobnoloid_score(effects[c][0], rows[c]["gt_r2"]) for c in range(3)]
    assert effects[0][0] > 1e-4 and effects[1][0] > 1e-4, effects  # both matter to the model
    assert effects[2][0] < 1e-9  # the constant channel's mean is itself
    assert scores[1] > 5 * scores[0], scores  # ...but only the secret one is unexplained
    assert effects[1][1] > 0  # steering up changes the output too


def test_sae_splice_of_a_perfect_reconstruction_recovers_everything(planted):
    tokens, _, batches = planted
    adapter = ToyAdapter()
    score = spliced_score(adapter, batches, "features", lambda x: x)
    assert score["clean_mse"] == 0 and score["zero_ablation_mse"] > 0 and score["recovered"] == 1
    assert model_error(adapter, batches, "features", torch.zeros_like) == score["zero_ablation_mse"]


class OffsetToyAdapter(ToyAdapter):
    """The toy model, but its optimal output is the input plus 0.1: the clean model already errs (MSE 0.01)."""

    def optimal_output(self, batch):
        return batch + 0.1


def test_splice_score_counts_from_the_clean_error_not_from_zero(planted):
    """recovered = (zero - spliced) / (zero - clean), each error by hand: a halving reconstruction on a model whose
    clean error is not 0."""
    _, _, batches = planted
    images = np.concatenate([batch.numpy() for batch in batches]).astype(np.float64)
    clean, spliced, zero = ((0.1 ** 2), np.mean((0.5 * images - images - 0.1) ** 2), np.mean((images + 0.1) ** 2))
    score = spliced_score(OffsetToyAdapter(), batches, "features", lambda x: 0.5 * x)
    assert score["clean_mse"] == pytest.approx(clean, rel=1e-5)
    assert score["spliced_mse"] == pytest.approx(spliced, rel=1e-5)
    assert score["zero_ablation_mse"] == pytest.approx(zero, rel=1e-5)
    assert score["recovered"] == pytest.approx((zero - spliced) / (zero - clean), rel=1e-5)
    assert abs((zero - spliced) / zero - score["recovered"]) > 0.01  # the formula that forgets the clean error


def test_frobnoloid_score_by_hand():
    """max(importance, 0) x (1 - clip(gt_r2, 0, 1))."""
    assert features.frobnoloid_score(0.2, 0.25) == pytest.approx(0.15)
    assert features.frobnoloid_score(0.2, 1.3) == 0.0  # explained beyond 1 (noise) is all explained
    assert features.frobnoloid_score(0.2, -0.5) == pytest.approx(0.2)  # worse than the mean is nothing explained
    assert features.frobnoloid_score(-0.1, 0.0) == 0.0  # ablation that helps the model is no importance
    assert features.frobnoloid_score(0.0, 0.0) == 0.0
    assert np.isnan(features.frobnoloid_score(float("nan"), 0.3))


def test_latent_ablation_removes_exactly_its_decoder_contribution():
    torch.manual_seed(0)
    sae = SparseAutoencoder(SAEConfig(d_in=6, width=10, k=3)).eval()
    x = torch.randn(50, 6)
    sae.initialise_from(x)
    codes = sae.encode(x)
    i = int(codes.sum(0).argmax())
    edited = feature_effects.latent_ablation(sae, i)(x)
    assert torch.allclose(x - edited, codes[:, i:i + 1] * sae.W_dec[i].detach() / sae.input_scale, atol=1e-6)


def test_iou_uses_the_top_quantile_and_ignores_silent_tokens():
    activations = np.zeros((1000, 1), dtype=np.float32)
    activations[:3, 0] = [5, 4, 3]
    masks = feature_data.top_quantile_masks(activations, 0.995)
    assert masks[:, 0].sum() == 3  # the 0.995 quantile is 0 here: every firing token, no silent one
    iou, label = feature_data.best_iou(masks, np.array([7] * 3 + [0] * 997))
    assert iou[0] == 1 and label[0] == 7


def test_capture_sae_train_and_label_run_end_to_end(interp_dataset, tiny_model_spec, tmp_path):
    """capture -> sae train -> features label on the tiny TAESD (16 frames: frame 9 is the one held out): every file
    is written and the numbers are sane."""
    import csv
    import json

    from frobnoscope.interp.activations.capture import CaptureConfig, capture
    from frobnoscope.interp.features.run import LabelConfig, label_run
    from frobnoscope.interp.sae.run import SAERunConfig, train_on_run
    from frobnoscope.interp.sae.training import SAETrainConfig

    run = capture(interp_dataset.path, tmp_path / "run", CaptureConfig(model=tiny_model_spec, hooks="encoder.4", batch_size=8))
    directory, report = train_on_run(run, SAERunConfig(hook="encoder.4", width=32, k=4, splice_frames=2),
                                     SAETrainConfig(steps=40, batch_tokens=512))
    assert 3.5 <= report["metrics"]["l0"] <= 4 and 0 <= report["metrics"]["fvu"] < 1
    assert report["splice"]["frames"] == 1 and report["splice"]["zero_ablation_mse"] > 0
    assert json.loads((directory / "manifest.json").read_text())["complete"]
    again, _ = train_on_run(run, SAERunConfig(hook="encoder.4", width=32, k=4, splice_frames=2),
                            SAETrainConfig(steps=40, batch_tokens=512))  # finished with the same settings: reopened
    assert again == directory
    with pytest.raises(InterpError, match=r"other settings \(sae.k\)"):  # a finished SAE is no excuse for other ones
        train_on_run(run, SAERunConfig(hook="encoder.4", width=32, k=3, splice_frames=2),
                     SAETrainConfig(steps=40, batch_tokens=512), out=directory)
    out, rows, summary = label_run(run, LabelConfig(sae=str(directory), max_tokens=2048, importance_frames=2,
                                                    candidates=3, figures=2))
    with open(out / "features.csv") as f:
        ranked = list(csv.DictReader(f))
    assert len(ranked) == 32 + 64 and {row["kind"] for row in ranked} == {"latent", "channel"}
    assert sum(np.isfinite(row["importance"]) for row in rows) == 6
    assert [row["features"] for row in summary] == ["trained channels", "trained latents", "random-weights channels"]
    assert len(list((out / "figures").glob("*.png"))) == 2


def test_cli_names_the_flags_of_bad_settings_and_takes_its_defaults_from_the_config(frob_cli, cli_defaults, tmp_path):
    code, stderr = frob_cli("features", "label", tmp_path, "--max-tokens", "0")
    (line,) = stderr.strip().splitlines()
    assert code == 2 and "--sae: give an SAE directory or a hook" in line and "--max-tokens: " in line
    defaults = cli_defaults(LabelConfig, "features", "label")
    assert set(defaults) == {"sae", "hook", "max_tokens", "importance_frames", "candidates", "figures"}
    assert all(cli == config for cli, config in defaults.values()), defaults


def test_model_error_of_a_single_pixel_frame_is_its_squared_error():
    """The mean over every pixel and colour channel, down to one pixel of one frame."""
    batch = torch.full((1, 3, 1, 1), 0.25)
    expected = np.mean((np.full(3, 0.25) + 0.1 - 0.25) ** 2)
    assert model_error(OffsetToyAdapter(), [batch]) == pytest.approx(expected, rel=1e-6)


def test_dataset_batches_are_the_datasets_rgb_frames_in_order_and_in_blocks(interp_dataset):
    from frobnoscope.interp.sae.splice import dataset_batches
    from frobnoscope.scenes.store import DatasetStore

    frames = [9, 1, 5, 2, 12, 3, 4, 7, 8, 6]
    batches = dataset_batches(interp_dataset.path, frames, batch_size=4)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    rgb = np.asarray(DatasetStore.open(interp_dataset.path).channel("rgb")[:])[sorted(frames)]
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches]), rgb.transpose(0, 3, 1, 2))
    assert [len(b) for b in dataset_batches(interp_dataset.path, frames[:9])] == [8, 1]  # default blocks of 8
