"""The evidence for one feature against ground truth, for its page: its correlation with every continuous factor,
its IoU with every categorical label, and what ground truth predicts of it (for the residual map).

Same definitions as `features.labels` (Pearson r over finite tokens; the top-quantile mask's IoU; the ridge
regression on the one-hot ground-truth design, trained on even frames, its lambda chosen by cross-validation as
`explained` chooses it). `GroundTruthFit` keeps the design's Gram matrix once per run, so predicting one more
feature costs its lambda's cross-validation and one solve.
"""

from __future__ import annotations

import numpy as np

from frobnoscope.interp.activations.tokens import TokenTruth, top_quantile_masks
from frobnoscope.interp.features import labels
from frobnoscope.interp.features.explained import choose_lambdas


def factor_correlations(values: np.ndarray, truth: TokenTruth) -> dict[str, float]:
    """{continuous channel or per-frame factor: Pearson r} for one feature's (T,) activations."""
    combined = TokenTruth({**truth.continuous, **truth.factors}, {}, truth.frame)
    names, r = labels.correlations(values[:, None], combined)
    return dict(zip(names, r[0].tolist()))


def label_ious(values: np.ndarray, truth: TokenTruth, per_channel: int = 8) -> list[tuple[str, int, float]]:
    """[(categorical channel, label, IoU)] of the feature's top-quantile mask, the best `per_channel` per channel."""
    mask = top_quantile_masks(values[:, None])[:, 0]
    out = []
    for channel, lab in truth.categorical.items():
        rows = []
        for value in np.unique(lab):
            label_mask = lab == value
            union = (mask | label_mask).sum()
            rows.append((channel, int(value), float((mask & label_mask).sum() / union) if union else 0.0))
        out += sorted(rows, key=lambda row: -row[2])[:per_channel]
    return out


class GroundTruthFit:
    """Ridge regression of any feature on the ground-truth design (train: even frames), as `labels.explain`."""

    def __init__(self, truth: TokenTruth):
        self.design = labels.gt_design(truth).astype(np.float64)
        self.frames = truth.frame
        self.train = truth.frame % 2 == 0
        x = self.design[self.train]
        self.mean = x.mean(0)
        centred = x - self.mean
        self.gram = centred.T @ centred
        self.scale = max(np.trace(self.gram) / max(len(self.gram), 1), 1e-12)  # `ridge.fit`'s mean variance

    def predict(self, values: np.ndarray) -> np.ndarray:
        """(T,) ground truth's prediction of the feature at every token (`ridge.fit`'s penalty and intercept, with
        the lambda cross-validation chooses for it)."""
        y = values[self.train].astype(np.float64)
        lam = float(choose_lambdas(self.design[self.train], y[:, None], self.frames[self.train])[0])
        centred = self.design[self.train] - self.mean
        weights = np.linalg.solve(self.gram + lam * self.scale * np.eye(len(self.gram)), centred.T @ (y - y.mean()))
        return (self.design - self.mean) @ weights + y.mean()
