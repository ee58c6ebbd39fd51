"""Frame-level probes against a reference written from the module's definition (folds k % 5, lambda on the next
fold, the stored model the one that holds out k % 5 == 4) and the refusal rule by hand (issue 18: these pin what the
mutation runner changes in `interp/probes/frame_level.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.probes import ridge
from frobnoscope.interp.probes.frame_level import frame_probe, principal_components


def planted(frames: int, channels: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=frames)
    latent = np.c_[factor, rng.normal(size=(frames, 2))]
    return latent @ rng.normal(size=(3, channels)) + 0.05 * rng.normal(size=(frames, channels)), factor


def reference_fold(x, y, fit, val):
    """PCA (scikit-learn, 95% of the variance) and ridge on rows `fit`, lambda by validation R^2 on rows `val`."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=0.95, svd_solver="full").fit(x[fit])
    train, check = ridge.RidgeStats(pca.n_components_, 1), ridge.RidgeStats(pca.n_components_, 1)
    train.add(pca.transform(x[fit]), y[fit])
    check.add(pca.transform(x[val]), y[val])
    candidates = [ridge.fit(lam, train) for lam in ridge.LAMBDAS]
    r2 = [check.r2(w, b)[0] for w, b in candidates]
    best = int(np.argmax(r2))
    weights = pca.components_.T @ candidates[best][0]
    return weights, candidates[best][1] - pca.mean_ @ weights, ridge.LAMBDAS[best]


def test_the_folds_the_validation_fold_and_the_stored_fold_match_the_definition():
    means, factor = planted(60)
    factor = factor + 0.3 * np.random.default_rng(1).normal(size=60)  # an imperfect fit: lambda matters
    probe = frame_probe(means, factor)
    fold = np.arange(60) % 5
    expected = np.empty(60)
    for f in range(5):
        held_out, val = fold == f, fold == (f + 1) % 5
        weights, intercept, lam = reference_fold(means, factor, ~held_out & ~val, val)
        expected[held_out] = means[held_out] @ weights[:, 0] + intercept[0]
        if f == 4:
            np.testing.assert_allclose(probe.weights, weights, rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(probe.intercept, intercept, rtol=1e-7, atol=1e-9)
            assert probe.lam == lam
    np.testing.assert_allclose(probe.predicted, expected, rtol=1e-7, atol=1e-9)
    r2 = 1 - np.sum((factor - expected) ** 2) / np.sum((factor - factor.mean()) ** 2)
    assert probe.score == pytest.approx(r2, rel=1e-9) and probe.frames == 60


def test_the_score_does_not_depend_on_the_factors_units():
    means, factor = planted(60, seed=2)
    big, small = frame_probe(means, factor), frame_probe(means, 0.01 * factor)  # spread about 0.01: not constant
    assert small.score == pytest.approx(big.score, rel=1e-6)
    np.testing.assert_allclose(small.predicted, 0.01 * big.predicted, rtol=1e-6, atol=1e-12)


def test_a_factor_spread_up_to_1e12_per_frame_is_constant_no_score():
    means, _ = planted(64)
    sign = (-1.0) ** np.arange(64)  # mean exactly 0
    at_the_bar = frame_probe(means, 1e-6 * sign)  # squares exactly 1e-12 (1e-6 ** 2 == 1e-12 in float64)
    below = frame_probe(means, 5e-7 * sign)
    above = frame_probe(means, 2e-6 * sign)
    assert np.isnan(at_the_bar.score) and np.isnan(below.score) and np.isfinite(above.score)
    assert at_the_bar.note == "" and np.isfinite(at_the_bar.predicted).all()  # fitted, but R^2 is undefined


def test_five_frames_per_component_are_enough():
    rng = np.random.default_rng(5)
    means = rng.normal(size=(10, 2)) @ np.array([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]])  # rank 2: 2 components
    probe = frame_probe(means, rng.normal(size=10))
    assert probe.dims == 2 and probe.frames == 10 and np.isfinite(probe.score) and probe.note == ""


def test_a_fold_without_frames_is_refused_however_many_frames_there_are():
    means, factor = planted(100)
    factor[np.arange(100) % 5 == 3] = np.nan
    probe = frame_probe(means, factor)
    assert probe.frames == 80 and np.isnan(probe.score) and np.isnan(probe.predicted).all() and probe.note


def test_a_factor_never_finite_is_refused_with_zero_components():
    means = np.random.default_rng(0).normal(size=(20, 6))
    probe = frame_probe(means, np.full(20, np.nan))
    assert (probe.frames, probe.dims) == (0, 0) and np.isnan(probe.score) and np.isnan(probe.lam)
    assert "0 frames for 0 principal components" in probe.note and "5 here" in probe.note
    assert probe.weights.shape == (6, 1) and not probe.weights.any()
    assert probe.intercept.shape == (1,) and not probe.intercept.any()
    assert probe.predicted.shape == (20,) and np.isnan(probe.predicted).all()


def test_principal_components_by_hand():
    # centred columns with sums of squares 38 and 2: the first explains exactly 95%, which is enough
    x = np.array([[5.0, 0.0], [-3.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    mean, components = principal_components(x)
    np.testing.assert_allclose(mean, 0.0, atol=1e-15)
    assert len(components) == 1
    np.testing.assert_allclose(np.abs(components[0]), [1.0, 0.0], atol=1e-12)
    assert len(principal_components(x, variance=0.96)[1]) == 2
    # small values (total variance below 1) need both components just the same
    assert len(principal_components(0.01 * x, variance=0.96)[1]) == 2
    # constant rows: no variance, one component
    assert len(principal_components(np.ones((4, 3)))[1]) == 1
