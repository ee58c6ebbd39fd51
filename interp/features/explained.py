"""How much of each feature all ground truth explains: `gt_r2`, its bootstrap interval, and the estimator.

The regression is ridge from the one-hot ground-truth design (`labels.gt_design`: every channel and factor in
quantile bins, every categorical label) to the feature, tokens of even frames training, odd frames scoring:
1. lambda by cross-validation inside the training frames: FOLDS folds by frame (the i-th training frame, in order,
   is in fold i % FOLDS); for each lambda of LAMBDAS (relative to the mean design variance, as `ridge.fit` takes
   it) the model fitted on the other folds predicts each fold, and each feature takes the lambda with the least
   summed squared error. A fixed small lambda overfitted the design's hundreds of columns, so features came out
   with gt_r2 of -0.3 to -1.2: "we fitted badly", read as "nothing explains it".
2. the model with each feature's lambda, fitted on all training frames, scores R^2 on the odd frames (pooled over
   their tokens, about their mean): `r2`;
3. the interval: BOOTSTRAP resamples of the odd frames (with replacement, a frame's tokens together; the frames are
   the unit that repeats), R^2 on each, and its (1 - LEVEL) / 2 and (1 + LEVEL) / 2 quantiles: `low`, `high`.
   The frobnoloid score uses `high`: a feature is called unexplained only when the truth cannot explain it even
   at the optimistic end.
A feature constant on the scoring frames has nothing to explain: r2 = low = high = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frobnoscope.interp.probes import ridge

FOLDS = 4
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
BOOTSTRAP = 200
LEVEL = 0.95


@dataclass(frozen=True)
class Explained:
    """(F,) each: held-out R^2, its bootstrap interval (low, high), the lambda chosen for the feature."""

    r2: np.ndarray
    low: np.ndarray
    high: np.ndarray
    lam: np.ndarray


def _merged(parts: list[ridge.RidgeStats]) -> ridge.RidgeStats:
    total = ridge.RidgeStats(parts[0].n_features, parts[0].n_targets)
    for part in parts:
        total.n += part.n
        for name in ("xtx", "xty", "sum_x", "sum_y", "yty"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
    return total


def choose_lambdas(design: np.ndarray, activations: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(F,) the lambda of LAMBDAS with the least cross-validated squared error, per feature (rows of `frames`)."""
    order = np.unique(frames)
    if len(order) < 2:
        return np.full(activations.shape[1], LAMBDAS[0])
    fold_of = dict(zip(order.tolist(), np.arange(len(order)) % min(FOLDS, len(order))))
    folds = np.array([fold_of[f] for f in frames.tolist()])
    parts = []
    for fold in np.unique(folds):
        stats = ridge.RidgeStats(design.shape[1], activations.shape[1])
        stats.add(design[folds == fold], activations[folds == fold])
        parts.append(stats)
    errors = np.zeros((len(LAMBDAS), activations.shape[1]))
    for k, held_out in enumerate(parts):
        others = _merged(parts[:k] + parts[k + 1:])
        for i, lam in enumerate(LAMBDAS):
            errors[i] += held_out.sse(*ridge.fit(lam, others))
    return np.asarray(LAMBDAS)[errors.argmin(axis=0)]


def explained(design: np.ndarray, activations: np.ndarray, frames: np.ndarray, seed: int = 0) -> Explained:
    """gt_r2 of every column of `activations` (T, F) from `design` (T, D), tokens of frame `frames` (T,) (see the
    module docstring)."""
    train = frames % 2 == 0
    lam = choose_lambdas(design[train], activations[train], frames[train])
    stats = ridge.RidgeStats(design.shape[1], activations.shape[1])
    stats.add(design[train], activations[train])
    weights, intercept = np.zeros((design.shape[1], activations.shape[1])), np.zeros(activations.shape[1])
    for value in np.unique(lam):
        chosen = lam == value
        w, b = ridge.fit(float(value), stats)
        weights[:, chosen], intercept[chosen] = w[:, chosen], b[chosen]
    scored = np.unique(frames[~train])
    sums = np.zeros((4, len(scored), activations.shape[1]))  # per frame: squared error, sum y, sum y^2, count
    for j, frame in enumerate(scored):
        rows = frames == frame
        y = activations[rows].astype(np.float64)
        sums[0, j], sums[1, j] = ((y - design[rows] @ weights - intercept) ** 2).sum(0), y.sum(0)
        sums[2, j], sums[3, j] = (y ** 2).sum(0), rows.sum()
    r2 = _r2(sums.sum(axis=1))
    counts = np.random.default_rng(seed).multinomial(len(scored), np.full(len(scored), 1 / len(scored)),
                                                     size=BOOTSTRAP) if len(scored) else np.zeros((0, 0))
    resampled = np.stack([_r2(np.tensordot(c, sums, axes=(0, 1))) for c in counts]) if len(scored) else r2[None]
    low, high = np.quantile(resampled, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    return Explained(r2, np.minimum(low, r2), np.maximum(high, r2), lam)


def _r2(sums: np.ndarray) -> np.ndarray:
    """R^2 from (squared error, sum y, sum y^2, count) sums (4, F); 0 where the feature does not vary."""
    error, total, squares, count = sums
    variation = squares - total ** 2 / np.maximum(count, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(variation > 1e-12 * np.maximum(squares, 1e-300), 1 - error / variation, 0.0)
