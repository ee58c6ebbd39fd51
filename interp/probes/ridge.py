"""Streaming closed-form ridge regression: accumulate sufficient statistics over row batches, solve once.

`RidgeStats` holds, for one split of the rows, n, sum x, sum y, X^T X, X^T y and sum y^2 (float64). From the train
split's statistics `solve` fits, for each lambda, weights on centred features with penalty lambda * mean feature
variance (so lambdas are comparable across layers) and an unpenalised intercept. Any split's sum of squared errors
for given weights follows from its own statistics (SSE = y'y - 2 w'X'y + w'X'Xw, with the intercept folded in),
so choosing lambda on validation rows and scoring R^2 on test rows needs no second pass over the data.
R^2 = 1 - SSE / SST on the scored split, SST about that split's own mean (R^2 <= 1; 0 = predicting the mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclass
class RidgeStats:
    """Sufficient statistics of (X (n, D), Y (n, T)) rows, accumulated batch by batch."""

    n_features: int
    n_targets: int
    n: int = 0
    xtx: np.ndarray = field(init=False)
    xty: np.ndarray = field(init=False)
    sum_x: np.ndarray = field(init=False)
    sum_y: np.ndarray = field(init=False)
    yty: np.ndarray = field(init=False)

    def __post_init__(self):
        d, t = self.n_features, self.n_targets
        self.xtx, self.xty = np.zeros((d, d)), np.zeros((d, t))
        self.sum_x, self.sum_y, self.yty = np.zeros(d), np.zeros(t), np.zeros(t)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Add rows x (B, D) and targets y (B, T) (or (B,) for one target)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(x), self.n_targets)
        self.n += len(x)
        self.xtx += x.T @ x
        self.xty += x.T @ y
        self.sum_x += x.sum(axis=0)
        self.sum_y += y.sum(axis=0)
        self.yty += (y * y).sum(axis=0)

    def sse(self, weights: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """(T,) sum of squared errors of predictions x @ weights + intercept on these rows."""
        w, b = weights, intercept
        return (self.yty - 2 * np.einsum("dt,dt->t", w, self.xty) - 2 * b * self.sum_y
                + np.einsum("dt,de,et->t", w, self.xtx, w) + 2 * b * (self.sum_x @ w) + self.n * b * b)

    def r2(self, weights: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """(T,) held-out R^2 on these rows (NaN where there are fewer than 2 rows or the target is constant)."""
        if self.n < 2:
            return np.full(self.n_targets, np.nan)
        sst = self.yty - self.sum_y ** 2 / self.n
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sst > 1e-12 * max(self.n, 1), 1 - self.sse(weights, intercept) / sst, np.nan)


@dataclass(frozen=True)
class RidgeFit:
    weights: np.ndarray  # (D, T)
    intercept: np.ndarray  # (T,)
    lam: np.ndarray  # (T,) chosen lambda (relative to the mean feature variance)
    val_r2: np.ndarray  # (T,)


def fit(lam: float, train: RidgeStats) -> tuple[np.ndarray, np.ndarray]:
    """(weights (D, T), intercept (T,)) of ridge with penalty lam * mean feature variance on train's statistics."""
    n = max(train.n, 1)
    mean_x, mean_y = train.sum_x / n, train.sum_y / n
    cov = train.xtx - n * np.outer(mean_x, mean_x)
    cross = train.xty - n * np.outer(mean_x, mean_y)
    scale = max(np.trace(cov) / len(cov), 1e-12)
    weights = np.linalg.solve(cov + lam * scale * np.eye(len(cov)), cross)
    return weights, mean_y - mean_x @ weights


def solve(train: RidgeStats, val: RidgeStats, lambdas=LAMBDAS) -> RidgeFit:
    """Fit for every lambda; per target keep the one with the best validation R^2 (the smallest lambda if undefined)."""
    fits = [fit(lam, train) for lam in lambdas]
    scores = np.stack([val.r2(w, b) for w, b in fits])  # (L, T)
    best = np.nanargmax(np.where(np.isnan(scores), -np.inf, scores), axis=0)
    targets = np.arange(train.n_targets)
    weights = np.stack([fits[k][0][:, t] for t, k in zip(targets, best)], axis=1)
    intercept = np.array([fits[k][1][t] for t, k in zip(targets, best)])
    return RidgeFit(weights, intercept, np.asarray(lambdas)[best], scores[best, targets])
