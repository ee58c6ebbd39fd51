"""Features against ground truth: best-matching factor, how much of a feature all ground truth explains, and the
frobnoloid score.

A feature is a column of a (T, F) activation matrix over T tokens (an SAE latent's code, or a raw channel of a hook
point). Ground truth comes per token (`TokenTruth`): continuous channels (multi-component ones split into
`name[i]`), categorical labels, and per-frame factors broadcast to the frame's tokens.

- Continuous match: Pearson correlation over the tokens where the channel is finite; the best factor is the one
  with the largest |r|, matched when |r| >= CORRELATION_BAR (0.5).
- Categorical match (NetDissect, Bau et al. 2017): the feature's mask is `activation >= q and activation > 0` with q
  its QUANTILE (0.995) quantile over the tokens (the top 0.5%, every firing token of a sparser latent, all tied
  tokens of a binary one); IoU against each
  label's mask; the best label is matched when IoU >= IOU_BAR (0.04).
- `gt_r2`: held-out R^2 of a ridge regression of the feature on a one-hot expansion of all ground truth: every
  continuous channel and per-frame factor cut into GT_BINS quantile bins (non-finite values in a bin of their own),
  every categorical channel's labels. Non-linear in each factor, additive across factors. Trained on frames with
  even index (lambda by cross-validation over those frames), scored on odd ones, with a bootstrap interval over
  the scored frames (`gt_r2_low`, `gt_r2_high`; the estimator: `explained`).
- `importance`: the increase of the model's error against its optimal output (`splice.model_error`) when the
  feature is ablated at its hook (an SAE latent: its decoder contribution z_i * W_dec[i] / s removed; a raw
  channel: replaced by its mean), and `steer_importance` when steered up (+ the feature's 99.5th percentile
  activation along its direction, at every token: `effects.steer_amounts`).
- `frobnoloid_score` = max(importance, 0) x (1 - clip(gt_r2_high, 0, 1)): matters to the model, and unexplained by
  anything we can name even at the optimistic end of gt_r2's interval.
"""

from __future__ import annotations

import numpy as np

from frobnoscope.interp.activations.tokens import TokenTruth, best_iou, top_quantile_masks
from frobnoscope.interp.features.explained import Explained, explained

IOU_BAR = 0.04
CORRELATION_BAR = 0.5
GT_BINS = 8
MAX_LABELS = 64  # categorical labels kept per channel for the one-hot expansion (the most frequent)


def correlations(activations: np.ndarray, truth: TokenTruth) -> tuple[list[str], np.ndarray]:
    """(names, r (F, n_channels)): Pearson r of every feature with every continuous channel (finite tokens only)."""
    names = list(truth.continuous)
    r = np.zeros((activations.shape[1], len(names)))
    for j, name in enumerate(names):
        values = truth.continuous[name]
        valid = np.isfinite(values)
        if valid.sum() < 3:
            continue
        a = activations[valid].astype(np.float64)
        g = values[valid].astype(np.float64)
        a = a - a.mean(0)
        g = g - g.mean()
        denominator = np.sqrt((a * a).sum(0) * (g * g).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            r[:, j] = np.where(denominator > 0, (a.T @ g) / denominator, 0.0)
    return names, r


def gt_design(truth: TokenTruth) -> np.ndarray:
    """(T, D) one-hot expansion of all ground truth (see the module docstring)."""
    columns = []
    for values in [*truth.continuous.values(), *truth.factors.values()]:
        finite = np.isfinite(values)
        if finite.sum() == 0:
            continue
        edges = np.unique(np.quantile(values[finite], np.linspace(0, 1, GT_BINS + 1)[1:-1]))
        bins = np.where(finite, np.searchsorted(edges, np.where(finite, values, 0)), len(edges) + 1)
        columns.append(_one_hot(bins))
    for labels in truth.categorical.values():
        values, counts = np.unique(labels, return_counts=True)
        kept = values[np.argsort(-counts)[:MAX_LABELS]]
        columns.append(_one_hot(np.where(np.isin(labels, kept), labels, kept.max() + 1)))
    return np.concatenate(columns, axis=1)


def _one_hot(codes: np.ndarray) -> np.ndarray:
    values, inverse = np.unique(codes, return_inverse=True)
    out = np.zeros((len(codes), len(values)), dtype=np.float32)
    out[np.arange(len(codes)), inverse] = 1
    return out[:, 1:] if len(values) > 1 else out  # drop one level: the intercept carries it


def explain(activations: np.ndarray, truth: TokenTruth) -> Explained:
    """Each feature's gt_r2 and its interval from all ground truth (even frames train, odd frames score)."""
    return explained(gt_design(truth), activations, truth.frame)


def gt_r2(activations: np.ndarray, truth: TokenTruth) -> np.ndarray:
    """(F,) held-out R^2 of each feature from all ground truth (`explain`'s point estimate)."""
    return explain(activations, truth).r2


def label_features(activations: np.ndarray, truth: TokenTruth, with_gt_r2: bool = True) -> list[dict]:
    """One row per feature: best continuous factor and r, best categorical channel, label and IoU, matched, and
    (`with_gt_r2`) gt_r2 with its interval and lambda."""
    names, r = correlations(activations, truth)
    masks = top_quantile_masks(activations)
    categorical = {channel: best_iou(masks, labels) for channel, labels in truth.categorical.items()}
    fit = explain(activations, truth) if with_gt_r2 else None
    rows = []
    for i in range(activations.shape[1]):
        row = {"feature": i, "active_fraction": float((activations[:, i] > 0).mean())}
        if names:
            j = int(np.abs(r[i]).argmax())
            row.update(best_continuous=names[j], correlation=float(r[i, j]))
        best_channel, best = None, (0.0, None)
        for channel, (ious, labels) in categorical.items():
            if ious[i] > best[0] or best_channel is None:
                best_channel, best = channel, (float(ious[i]), labels[i].item())
        row.update(best_categorical=best_channel, label=best[1], iou=best[0])
        row["matched"] = bool(abs(row.get("correlation", 0.0)) >= CORRELATION_BAR or row["iou"] >= IOU_BAR)
        row["best_factor"] = _best_factor(row)
        if fit is not None:
            row.update(gt_r2=float(fit.r2[i]), gt_r2_low=float(fit.low[i]), gt_r2_high=float(fit.high[i]),
                       gt_lambda=float(fit.lam[i]))
        rows.append(row)
    return rows


def _best_factor(row: dict) -> str:
    """The matched factor with the stronger evidence (|r| vs IoU / IOU_BAR x CORRELATION_BAR), or ''."""
    r = abs(row.get("correlation", 0.0))
    iou_strength = row["iou"] / IOU_BAR * CORRELATION_BAR
    if r >= CORRELATION_BAR and r >= iou_strength:
        return row["best_continuous"]
    if row["iou"] >= IOU_BAR:
        return f"{row['best_categorical']}={row['label']}"
    return ""


def frobnoloid_score(importance: float, explained_high: float) -> float:
    """max(importance, 0) x (1 - clip(gt_r2_high, 0, 1)); NaN importance (not measured) gives NaN."""
    if not np.isfinite(importance):
        return float("nan")
    return max(importance, 0.0) * (1 - min(max(explained_high, 0.0), 1.0))
