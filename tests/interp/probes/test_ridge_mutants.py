"""Streaming ridge by hand and against scikit-learn (issue 18: these pin what the mutation runner changes in
`interp/probes/ridge.py`: the lambda grid, the penalty's scale, the R^2 guards, the per-target choice)."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.probes import ridge

GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def stats_of(x, y, targets=None):
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    y = np.asarray(y, dtype=float)
    out = ridge.RidgeStats(x.shape[1], targets or (1 if y.ndim == 1 else y.shape[1]))
    out.add(x, y)
    return out


def test_the_penalty_is_lambda_times_the_mean_feature_sum_of_squares_as_sklearn_ridge():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(3)
    x = 0.05 * rng.normal(size=(40, 3)) + 0.3  # small features: trace(cov) / D is about 0.1, below 1
    y = x @ np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]) + 0.2 + 0.01 * rng.normal(size=(40, 2))
    train = stats_of(x, y)
    centred = x - x.mean(0)
    for lam in (0.1, 1.0, 10.0):
        weights, intercept = ridge.fit(lam, train)
        alpha = lam * np.trace(centred.T @ centred) / 3
        expected = Ridge(alpha=alpha).fit(x, y)
        np.testing.assert_allclose(weights, expected.coef_.T, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(intercept, expected.intercept_, rtol=1e-8, atol=1e-10)


def test_one_training_row_is_fitted_by_its_target_alone():
    train = stats_of(np.array([[2.0, -1.0]]), np.array([3.0]))
    weights, intercept = ridge.fit(1.0, train)
    np.testing.assert_allclose(weights, 0.0, atol=1e-12)
    np.testing.assert_allclose(intercept, [3.0])


def test_statistics_count_rows_and_sse_is_numpys():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=7)
    stats = ridge.RidgeStats(2, 1)
    stats.add(x[:3], y[:3])
    stats.add(x[3:], y[3:])
    assert stats.n == 7
    weights, intercept = np.array([[0.5], [-1.5]]), np.array([0.25])
    residual = y - x @ weights[:, 0] - 0.25
    np.testing.assert_allclose(stats.sse(weights, intercept), [(residual ** 2).sum()], rtol=1e-12)
    np.testing.assert_allclose(stats.r2(weights, intercept), [1 - (residual ** 2).sum() / ((y - y.mean()) ** 2).sum()],
                               rtol=1e-12)


def test_r2_is_defined_from_two_rows_and_nan_for_a_constant_target():
    x = np.array([[0.0], [1.0]])
    two = stats_of(x, np.array([[0.0, 5.0], [1.0, 5.0]]))
    weights, intercept = np.array([[0.5, 0.0]]), np.array([0.25, 5.0])
    r2 = two.r2(weights, intercept)  # target 0: errors -0.25, +0.25 about a spread of 0.5; target 1 constant
    assert r2[0] == pytest.approx(1 - 0.125 / 0.5) and np.isnan(r2[1])
    assert np.isnan(stats_of(x[:1], np.array([1.0])).r2(np.zeros((1, 1)), np.zeros(1))).all()


def test_r2_counts_a_spread_up_to_1e12_per_row_as_constant_and_not_a_small_one():
    x = np.arange(4.0)[:, None]
    tiny = stats_of(x, np.array([0.0, 0.0, 0.0, 2e-6]))  # sum of squares about the mean 3e-12 < 4 rows x 1e-12
    assert np.isnan(tiny.r2(np.zeros((1, 1)), np.zeros(1))).all()
    edge = stats_of(x[:2], np.array([1e-6, -1e-6]))  # exactly 1e-12 per row (1e-6 ** 2 == 1e-12 in float64)
    assert np.isnan(edge.r2(np.zeros((1, 1)), np.zeros(1))).all()
    small = stats_of(x, np.array([0.0, 0.1, 0.2, 0.3]))  # 0.05: far above 4e-12, below 1 per row
    assert small.r2(np.array([[0.1]]), np.zeros(1))[0] == pytest.approx(1.0)
    assert small.r2(np.zeros((1, 1)), np.full(1, 0.15))[0] == pytest.approx(0.0, abs=1e-12)


def test_solve_picks_each_grid_lambda_for_the_target_it_fits_exactly():
    """One feature with train target y = x: the fit at lambda is w = 1 / (1 + lambda) (the penalty's scale is the
    feature's own sum of squares), so a validation target a x with a = 1 / (1 + lambda_k) is fitted exactly at
    lambda_k and nowhere else on the grid."""
    x_train = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    train = stats_of(x_train, np.repeat(x_train[:, None], len(GRID), axis=1))
    x_val = np.array([-1.0, 1.0])
    shrink = 1 / (1 + np.array(GRID))
    val = stats_of(x_val, x_val[:, None] * shrink)
    solved = ridge.solve(train, val)
    assert solved.lam.tolist() == list(GRID)
    np.testing.assert_allclose(solved.weights, shrink[None, :], rtol=1e-12)
    np.testing.assert_allclose(solved.intercept, 0.0, atol=1e-12)
    np.testing.assert_allclose(solved.val_r2, 1.0, atol=1e-12)


def test_solve_keeps_the_smallest_lambda_where_validation_r2_is_undefined():
    x = np.array([-1.0, 0.0, 1.0, 2.0])
    train = stats_of(x, np.c_[x, -x])
    val = stats_of(np.array([0.5, 1.5]), np.array([[1.0, 7.0], [2.0, 7.0]]))  # target 1 constant on validation
    solved = ridge.solve(train, val)
    assert solved.lam[1] == 1e-4 and np.isnan(solved.val_r2[1])
    np.testing.assert_allclose(solved.weights[:, 1], ridge.fit(1e-4, train)[0][:, 1])
