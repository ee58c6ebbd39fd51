"""Frame-level probes by PCA + ridge under cross-validation, and the categorical and mask scores, against
scikit-learn and against planted factors."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.probes import scores
from frobnoscope.interp.probes.frame_level import FOLDS, MIN_FRAMES_PER_DIM, STORED_FOLD, frame_probe, principal_components


def planted(frames: int, channels: int = 64, seed: int = 0, signal: float = 1.0):
    """(frame means (N, C), factor (N,)): the factor along a few strong directions plus weak noise everywhere."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=frames)
    latent = np.c_[factor, rng.normal(size=(frames, 2))]  # three directions carry most of the variance
    means = latent @ rng.normal(size=(3, channels)) * signal + 0.05 * rng.normal(size=(frames, channels))
    return means, factor


def test_the_score_is_sklearns_r2_of_the_out_of_fold_predictions_and_the_stored_fold_reproduces_its_own():
    from sklearn.metrics import r2_score

    means, factor = planted(100)
    factor[7] = np.nan  # a frame without the factor is left out, not predicted
    probe = frame_probe(means, factor)
    keep = np.isfinite(factor)
    assert np.isnan(probe.predicted[7]) and probe.frames == 99
    assert probe.score == pytest.approx(r2_score(factor[keep], probe.predicted[keep]), abs=1e-12)
    assert probe.score > 0.95
    held_out = (np.arange(100) % FOLDS == STORED_FOLD) & keep
    np.testing.assert_allclose(means[held_out] @ probe.weights[:, 0] + probe.intercept[0], probe.predicted[held_out],
                               rtol=1e-9, atol=1e-9)


def test_a_factor_the_activations_do_not_hold_scores_about_zero_not_a_large_negative_r2():
    means, _ = planted(200)
    unrelated = np.random.default_rng(9).normal(size=200)
    probe = frame_probe(means, unrelated)
    assert -0.1 < probe.score < 0.1
    # the probe this replaces (ridge on all 64 channels, one 40-frame test split) is far more negative here
    from frobnoscope.interp.probes import ridge

    k = np.arange(200)
    parts = [ridge.RidgeStats(64, 1) for _ in range(3)]
    for split, stats in zip((k % 5 < 3, k % 5 == 3, k % 5 == 4), parts):
        stats.add(means[split], unrelated[split])
    old = ridge.solve(parts[0], parts[1])
    assert parts[2].r2(old.weights, old.intercept)[0] < probe.score


def test_too_few_frames_per_principal_component_are_refused_with_a_note():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(40, 64))  # isotropic: 95% of the variance needs most of the 39 components
    probe = frame_probe(means, rng.normal(size=40))
    assert np.isnan(probe.score) and np.isnan(probe.predicted).all() and probe.dims > 40 // MIN_FRAMES_PER_DIM
    assert f"40 frames for {probe.dims} principal components" in probe.note and "\n" not in probe.note


def test_the_held_out_fold_is_never_fitted_on():
    rng = np.random.default_rng(4)
    means, unrelated = rng.normal(size=(200, 30)), rng.normal(size=200)  # ~28 components: an in-sample fit scores > 0
    probe = frame_probe(means, unrelated)
    assert probe.dims * MIN_FRAMES_PER_DIM <= 200 and probe.score < 0.02


def test_principal_components_keep_the_fewest_leading_components_for_95_percent_like_sklearn():
    from sklearn.decomposition import PCA

    means, _ = planted(60, seed=3)
    mean, components = principal_components(means)
    expected = PCA(n_components=0.95, svd_solver="full").fit(means)
    assert len(components) == expected.n_components_
    np.testing.assert_allclose(mean, expected.mean_)
    np.testing.assert_allclose(np.abs(components @ expected.components_.T), np.eye(len(components)), atol=1e-8)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(4))
def test_categorical_scores_and_average_precision_are_sklearns(seed):
    from sklearn.metrics import accuracy_score, average_precision_score, balanced_accuracy_score, f1_score

    rng = np.random.default_rng(seed)
    truth = rng.choice([0, 1, 2, 5], size=300, p=[0.7, 0.15, 0.1, 0.05])
    predicted = np.where(rng.random(300) < 0.6, truth, rng.choice([0, 1, 2, 7], size=300))  # 7: never true
    measured = scores.categorical_scores(truth, predicted)
    assert measured["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert measured["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert measured["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    ranking = np.round(rng.normal(size=300) + (truth > 0), 1)  # ties: one threshold per distinct value
    assert scores.average_precision(ranking, truth > 0) == pytest.approx(average_precision_score(truth > 0, ranking))


def test_the_majority_class_baseline_predicts_the_training_majority_for_every_test_token():
    train, test = np.array([0, 0, 0, 1, 2]), np.array([0, 1, 1, 2])
    baseline = scores.majority_scores(train, test)
    assert baseline["accuracy"] == 0.25
    assert baseline["balanced_accuracy"] == pytest.approx(1 / 3)  # class 0's recall 1, classes 1 and 2 recall 0
    assert baseline["macro_f1"] == pytest.approx((2 * 0.25 * 1 / 1.25) / 3)  # F1 of class 0 = 0.4, others 0
    assert scores.positive_rate(np.array([True, False, False, False])) == 0.25
    assert np.isnan(scores.average_precision(np.array([0.3, 0.1]), np.array([False, False])))
