"""Frame-level probes: a per-frame factor from each frame's token-averaged activations (one row per frame), by ridge
on principal components, scored by cross-validation over frames.

A ridge probe with one input per channel overfits when there are few frames (200 frames and 64 channels gave
negative held-out R^2), and one test split of 40 frames is a noisy score. So, for each factor:
1. the frames whose factor is finite are kept (N of them); the frame means are reduced by PCA to the d leading
   components that explain `VARIANCE` (95%) of their variance;
2. with fewer than `MIN_FRAMES_PER_DIM` (5) frames per component the probe is refused: no score, and a note saying
   how many frames it would need;
3. `FOLDS` folds by frame (fold = k % 5). For each fold, PCA and ridge are fitted on three other folds, lambda is
   chosen on the fourth (the next fold), and the held-out fold is predicted. The score is R^2 of the out-of-fold
   predictions of all N frames about their mean (1 - SSE / SST, scikit-learn's `r2_score` of `cross_val_predict`);
4. the stored probe is the model of the fold whose held-out frames are k % 5 == 4 (the pixel probes' test frames),
   its centring and PCA folded into weights on the raw channels: x @ weights + intercept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from frobnoscope.interp.probes import ridge

FOLDS = 5
VARIANCE = 0.95
MIN_FRAMES_PER_DIM = 5
STORED_FOLD = 4  # frames k % 5 == 4: held out from the stored probe, as from the pixel probes


@dataclass(frozen=True)
class FrameProbe:
    """score: cross-validated R^2 (NaN when refused); frames: N; dims: d; lam: the stored fold's lambda;
    weights (C, 1) and intercept (1,) on raw channels; predicted: (N_all,) each frame's out-of-fold prediction (NaN
    where the factor is not finite, or all NaN when refused); note: why it was refused ('' if not)."""

    score: float
    frames: int
    dims: int
    lam: float
    weights: np.ndarray
    intercept: np.ndarray
    predicted: np.ndarray
    note: str = ""


def principal_components(x: np.ndarray, variance: float = VARIANCE) -> tuple[np.ndarray, np.ndarray]:
    """(mean (C,), components (d, C)): the fewest leading components of the centred rows that explain `variance`
    of their total variance (at least one)."""
    mean = x.mean(axis=0)
    _, singular, components = np.linalg.svd(x - mean, full_matrices=False)
    energy = singular ** 2
    if energy.sum() <= 0:
        return mean, components[:1]
    dims = int(np.searchsorted(np.cumsum(energy) / energy.sum(), variance - 1e-12) + 1)
    return mean, components[:dims]


def _fit_fold(x: np.ndarray, y: np.ndarray, fit: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(weights (C, 1), intercept (1,), lambda) of PCA + ridge fitted on rows `fit`, lambda chosen on rows `val`."""
    mean, components = principal_components(x[fit])
    parts = [ridge.RidgeStats(len(components), 1) for _ in range(2)]
    for rows, stats in zip((fit, val), parts):
        stats.add((x[rows] - mean) @ components.T, y[rows])
    solved = ridge.solve(*parts)
    weights = components.T @ solved.weights  # (C, 1): the projection folded in
    return weights, solved.intercept - mean @ weights, float(solved.lam[0])


def frame_probe(frame_means: np.ndarray, values: np.ndarray) -> FrameProbe:
    """The cross-validated probe of `values` (N,) from `frame_means` (N, C) (see the module docstring)."""
    index = np.flatnonzero(np.isfinite(values))
    x, y, folds = frame_means[index], values[index].astype(np.float64), index % FOLDS
    channels = frame_means.shape[1]
    out_of_fold = np.full(len(values), np.nan)
    empty = (np.zeros((channels, 1)), np.zeros(1), out_of_fold)
    dims = len(principal_components(x)[1]) if len(x) else 0
    if len(x) < MIN_FRAMES_PER_DIM * max(dims, 1) or len(np.unique(folds)) < FOLDS:
        note = (f"{len(x)} frames for {dims} principal components (95% of the variance): a frame-level probe needs "
                f"{MIN_FRAMES_PER_DIM} frames per component, {MIN_FRAMES_PER_DIM * max(dims, 1)} here; capture more "
                "frames")
        return FrameProbe(np.nan, len(x), dims, np.nan, *empty, note=note)
    predicted, stored = np.empty(len(y)), None
    for fold in range(FOLDS):
        held_out, val = folds == fold, folds == (fold + 1) % FOLDS
        weights, intercept, lam = _fit_fold(x, y, ~held_out & ~val, val)
        predicted[held_out] = x[held_out] @ weights[:, 0] + intercept[0]
        if fold == STORED_FOLD:
            stored = (weights, intercept, lam)
    total = np.sum((y - y.mean()) ** 2)
    score = 1 - np.sum((y - predicted) ** 2) / total if total > 1e-12 * len(y) else np.nan
    out_of_fold[index] = predicted
    return FrameProbe(float(score), len(y), dims, stored[2], stored[0], stored[1], out_of_fold)
