"""An activation run as tokens, for SAEs and feature labelling: held-out frames, token matrices, per-token truth,
and the top-quantile masks of features matched against categorical truth (NetDissect, see `features.labels`).

Held-out frames: those whose dataset split is `val` or `test`; a dataset without such splits holds out every
HOLDOUT_EVERY-th frame (k % 10 == 9), and a run shorter than that its last frame.
Token subsampling: when a hook has more tokens than `max_tokens`, frames are taken evenly spaced (whole frames),
so every token of a chosen frame is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from frobnoscope.interp.activations import gt_pooling
from frobnoscope.interp.activations.store import ActivationStore

HOLDOUT_EVERY = 10
HELDOUT_SPLITS = ("val", "test")
QUANTILE = 0.995  # a feature's mask: its tokens at or above this quantile (and > 0)


@dataclass
class TokenTruth:
    """Ground truth per token: continuous {name: (T,) float (NaN = undefined)}, categorical {name: (T,) int},
    frame (T,) int frame index of each token."""

    continuous: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]
    frame: np.ndarray
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # {name: (T,)} per-frame factors, per token


def split_frames(store: ActivationStore) -> tuple[np.ndarray, np.ndarray]:
    """(train frames, held-out frames), sorted."""
    n = len(store)
    splits = store.splits()
    heldout = np.array([s in HELDOUT_SPLITS for s in splits], dtype=bool)
    if not heldout.any():
        heldout = np.arange(n) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    if not heldout.any():
        heldout[-1] = True
    if heldout.all():
        heldout[0] = False
    return np.flatnonzero(~heldout), np.flatnonzero(heldout)


def subsample_frames(store: ActivationStore, hook: str, frames: np.ndarray, max_tokens: int) -> np.ndarray:
    h, w, _ = store.shape(hook)
    keep = max(1, min(len(frames), max_tokens // (h * w)))
    return frames[np.linspace(0, len(frames) - 1, keep).round().astype(int)] if keep < len(frames) else frames


def load_tokens(store: ActivationStore, hook: str, frames: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """(tokens (T, C) float32 in (frame, row, col) order, index (T, 3) frame/row/col)."""
    acts, index = [], []
    for batch, batch_index in store.tokens(hook, frames=frames):
        acts.append(batch)
        index.append(batch_index)
    return torch.from_numpy(np.concatenate(acts)), np.concatenate(index)


def token_truth(store: ActivationStore, hook: str, index: np.ndarray) -> TokenTruth:
    """Pooled ground truth and per-frame factors of the tokens at `index` (T, 3)."""
    frames, inverse = np.unique(index[:, 0], return_inverse=True)
    rows, cols = index[:, 1], index[:, 2]
    continuous, categorical = {}, {}
    for channel in store.gt_channels():
        values = np.asarray(store.gt(hook, channel).get_orthogonal_selection((frames,)))[inverse, rows, cols]
        if channel in gt_pooling.CATEGORICAL:
            categorical[channel] = values.astype(np.int64)
        elif values.ndim == 2:
            continuous.update({f"{channel}[{i}]": values[:, i].astype(np.float64) for i in range(values.shape[1])})
        else:
            continuous[channel] = values.astype(np.float64)
    factors = {name: values[frames][inverse] for name, values in store.factors().items()}
    return TokenTruth(continuous, categorical, index[:, 0].astype(np.int64), factors)


def other_frames(index: np.ndarray, seed: int) -> np.ndarray:
    """`index` (T, 3) with every frame replaced by another frame of `index` (a random derangement of its frames),
    positions kept: ground truth looked up there belongs to another image (the null of a match)."""
    frames = np.unique(index[:, 0])
    if len(frames) < 2:
        return index.copy()
    order = frames[np.random.default_rng([seed, 2]).permutation(len(frames))]
    partner = dict(zip(order.tolist(), np.roll(order, 1).tolist()))  # a cycle: no frame keeps its own truth
    out = index.copy()
    out[:, 0] = [partner[f] for f in index[:, 0].tolist()]
    return out


def top_quantile_masks(activations: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """(T, F) bool: activation >= the feature's `quantile` quantile, and > 0 (ties at the top are all kept)."""
    return (activations >= np.quantile(activations, quantile, axis=0)) & (activations > 0)


def best_iou(masks: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best IoU (F,), best label (F,)) of each feature mask against the masks of each label value."""
    values, inverse = np.unique(labels, return_inverse=True)
    one_hot = np.zeros((len(labels), len(values)), dtype=np.float32)
    one_hot[np.arange(len(labels)), inverse] = 1
    m = masks.astype(np.float32)
    intersection = m.T @ one_hot
    union = m.sum(0)[:, None] + one_hot.sum(0)[None, :] - intersection
    iou = np.where(union > 0, intersection / np.maximum(union, 1), 0.0)
    best = iou.argmax(1)
    return iou[np.arange(len(best)), best], values[best]
