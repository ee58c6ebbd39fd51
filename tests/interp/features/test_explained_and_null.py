"""gt_r2 by cross-validated ridge with a bootstrap interval over frames (`features.explained`), and the null of a
ground-truth match (other frames' truth at the same positions), on features whose answer is planted."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.activations.tokens import TokenTruth, other_frames
from frobnoscope.interp.features import labels
from frobnoscope.interp.features.explained import explained
from frobnoscope.interp.probes import ridge

FRAMES, SIDE = 40, 8  # 40 frames of 8 x 8 tokens


def token_index(frames: int = FRAMES) -> np.ndarray:
    rows, cols = np.divmod(np.arange(SIDE * SIDE), SIDE)
    return np.stack([np.repeat(np.arange(frames), SIDE * SIDE), np.tile(rows, frames), np.tile(cols, frames)], axis=1)


def truth_at(index: np.ndarray, channels: dict[str, np.ndarray]) -> TokenTruth:
    """TokenTruth of `index` from per-frame maps {name: (frames, SIDE, SIDE)}."""
    return TokenTruth({name: maps[index[:, 0], index[:, 1], index[:, 2]] for name, maps in channels.items()}, {},
                      index[:, 0].astype(np.int64))


def planted_step(seed: int, noise: float) -> tuple[np.ndarray, TokenTruth, float]:
    """(feature (T, 1), truth, its true R^2): a step function of a categorical label (one of 8) plus Gaussian noise,
    beside four continuous channels it does not depend on."""
    rng = np.random.default_rng(seed)
    index = token_index()
    truth = truth_at(index, {name: rng.random((FRAMES, SIDE, SIDE)) for name in ("a", "b", "c", "d")})
    label = rng.integers(0, 8, size=(FRAMES, SIDE, SIDE))[index[:, 0], index[:, 1], index[:, 2]]
    truth.categorical["label"] = label
    levels = np.array([0.0, 1.0, 3.0, 2.0, 0.5, 4.0, 1.5, 2.5])
    feature = levels[label] + rng.normal(scale=noise, size=len(label))
    return feature[:, None], truth, float(levels.var() / (levels.var() + noise ** 2))


def test_a_planted_feature_of_known_gt_r2_is_estimated_and_its_interval_covers_it():
    covered, errors = 0, []
    for seed in range(20):
        feature, truth, true_r2 = planted_step(seed, noise=1.2)
        fit = labels.explain(feature, truth)
        errors.append(fit.r2[0] - true_r2)
        covered += bool(fit.low[0] <= true_r2 <= fit.high[0])
        assert fit.low[0] <= fit.r2[0] <= fit.high[0]
    assert abs(np.mean(errors)) < 0.03 and covered >= 16  # a 95% interval: at least 80% of 20 runs


def test_an_unexplained_feature_scores_about_zero_where_the_fixed_small_lambda_overfitted():
    rng = np.random.default_rng(3)
    index = token_index(12)
    channels = {f"c{i}": rng.random((12, SIDE, SIDE)) for i in range(30)}  # 30 x 7 one-hot columns
    truth = truth_at(index, channels)
    noise = rng.normal(size=(len(index), 3))
    fit = labels.explain(noise, truth)
    # what is left below 0 is the scored frames' mean differing from the training frames' (the prediction)
    assert (fit.r2 > -0.05).all() and (fit.high > -0.02).all() and (fit.lam >= 10).all()
    design, train = labels.gt_design(truth), truth.frame % 2 == 0
    stats = [ridge.RidgeStats(design.shape[1], 3) for _ in range(2)]
    for rows, part in zip((train, ~train), stats):
        part.add(design[rows], noise[rows])
    old = stats[1].r2(*ridge.fit(1e-3, stats[0]))  # the estimator this replaces
    assert (old < -0.2).all() and (old < fit.r2 - 0.2).all()


def test_the_lambda_is_chosen_by_cross_validation_inside_the_training_frames_only():
    feature, truth, _ = planted_step(0, noise=1.0)
    design = labels.gt_design(truth)
    fit = explained(design, feature, truth.frame)
    scrambled = feature.copy()
    odd = truth.frame % 2 == 1
    scrambled[odd] = np.random.default_rng(1).permutation(scrambled[odd])  # the scored frames' values only
    assert explained(design, scrambled, truth.frame).lam[0] == fit.lam[0]


def test_a_constant_feature_has_nothing_to_explain():
    _, truth, _ = planted_step(0, noise=1.0)
    fit = labels.explain(np.full((len(truth.frame), 1), 3.0), truth)
    assert fit.r2[0] == fit.low[0] == fit.high[0] == 0.0


def test_the_frobnoloid_score_uses_the_upper_end_of_the_interval():
    feature, truth, _ = planted_step(2, noise=1.2)
    (row,) = labels.label_features(feature, truth)
    assert row["gt_r2_low"] < row["gt_r2"] < row["gt_r2_high"]
    assert labels.frobnoloid_score(2.0, row["gt_r2_high"]) == pytest.approx(2.0 * (1 - row["gt_r2_high"]))
    assert labels.frobnoloid_score(2.0, row["gt_r2_high"]) < labels.frobnoloid_score(2.0, row["gt_r2"])


def test_other_frames_pairs_every_frame_with_another_and_keeps_positions():
    index = token_index(5)
    null = other_frames(index, seed=0)
    np.testing.assert_array_equal(null[:, 1:], index[:, 1:])
    partner = dict(zip(index[:, 0].tolist(), null[:, 0].tolist()))
    assert all(partner[f] != f for f in range(5)) and sorted(partner.values()) == list(range(5))
    assert all((null[index[:, 0] == f, 0] == partner[f]).all() for f in range(5))  # one partner per frame


def test_the_null_catches_a_match_that_layout_alone_makes_and_keeps_one_the_image_makes():
    rng = np.random.default_rng(5)
    index = token_index()
    rows = np.arange(SIDE)[None, :, None] * np.ones((FRAMES, 1, SIDE))
    depth = rows + rng.normal(scale=0.3, size=(FRAMES, SIDE, SIDE))  # depth grows down the image in every frame
    shade = rng.random((FRAMES, SIDE, SIDE))  # varies from image to image
    channels = {"depth": depth, "shade": shade}
    truth, null = truth_at(index, channels), truth_at(other_frames(index, seed=1), channels)
    by_layout = index[:, 1] + rng.normal(scale=0.3, size=len(index))  # tracks the row: matches depth anywhere
    by_image = shade[index[:, 0], index[:, 1], index[:, 2]] + rng.normal(scale=0.1, size=len(index))
    features = np.stack([by_layout, by_image], axis=1)
    real = labels.label_features(features, truth, with_gt_r2=False)
    shuffled = labels.label_features(features, null, with_gt_r2=False)
    assert [row["matched"] for row in real] == [True, True]
    assert [row["matched"] for row in shuffled] == [True, False]  # the layout match is a false positive
    assert "gt_r2" not in real[0]
