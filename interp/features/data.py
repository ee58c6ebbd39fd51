"""Reading an activation run for SAEs and feature labelling: held-out frames, token matrices, per-token truth.

Held-out frames: those whose dataset split is `val` or `test`; a dataset without such splits holds out every
HOLDOUT_EVERY-th frame (k % 10 == 9), and a run shorter than that its last frame.
Token subsampling: when a hook has more tokens than `max_tokens`, frames are taken evenly spaced (whole frames),
so every token of a chosen frame is kept.
"""

from __future__ import annotations

import numpy as np
import torch

from frobnoscope.interp.activations import gt_pooling
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.features.labels import TokenTruth

HOLDOUT_EVERY = 10
HELDOUT_SPLITS = ("val", "test")


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
