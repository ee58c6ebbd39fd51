"""A fitted probe's read-out on one frame, beside the truth it was fitted to (the app's probes page).

A pixel-level probe reads every token (row, col) of a hook's (h, w, C) activations x: a ridge probe predicts
x @ weights + intercept, one number per cell; a categorical probe takes the class of the largest logit,
classes[argmax_j (x @ weights + intercept)_j]. A frame-level probe reads the token average mean_(row, col) x and
predicts one number per frame, so it has no map. The truth of a pixel-level factor is the hook's pooled ground truth
(`gt_pooling`): a factor CHANNEL.COMPONENT (normal_world.x, albedo.r, shading.0) is that component of the pooled
channel, a bare name (depth_z, edges, object_id) the channel itself. Held-out frames are the probes' test split
(`linear.frame_splits`: k % 5 == 4), used neither to fit a probe nor to choose its lambda.
"""

from __future__ import annotations

import numpy as np

from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.probes.linear import COMPONENT_NAMES, SPLITS, Fitted, frame_splits

TEST_SPLIT = SPLITS.index("test")


def heldout_frames(n: int) -> np.ndarray:
    """The frames a probe of an n-frame run was scored on (its test split), sorted."""
    return np.flatnonzero(frame_splits(n) == TEST_SPLIT)


def factor_channel(factor: str, gt_channels: list[str]) -> tuple[str, int | None]:
    """(pooled channel, component index or None for the whole channel) that a pixel-level factor names."""
    if factor in gt_channels:
        return factor, None
    channel, _, suffix = factor.rpartition(".")
    letters = COMPONENT_NAMES.get(channel, "")
    if channel in gt_channels and suffix in letters:
        return channel, letters.index(suffix)
    if channel in gt_channels and suffix.isdigit():
        return channel, int(suffix)
    raise InterpError(f"{factor!r} names no pooled ground-truth channel; channels: {', '.join(gt_channels)}")


def predict_grid(acts: np.ndarray, probe: Fitted) -> np.ndarray:
    """(h, w, C) activations -> (h, w): each cell's prediction (a categorical probe's: its class label)."""
    if probe.level != "pixel":
        raise InterpError("a frame-level probe reads the token-averaged activations: it predicts no map")
    h, w, c = acts.shape
    if probe.weights.shape[0] != c:
        raise InterpError(f"the probe reads {probe.weights.shape[0]} channels, the activations have {c}")
    out = acts.reshape(h * w, c).astype(np.float64) @ probe.weights + probe.intercept  # (h * w, K)
    if probe.classes is not None:
        return probe.classes[out.argmax(axis=1)].reshape(h, w)
    return out[:, 0].reshape(h, w)


def predict_frame_value(acts: np.ndarray, probe: Fitted) -> float:
    """A frame-level probe's prediction: mean over tokens of (h, w, C) activations, @ weights + intercept."""
    mean = acts.reshape(-1, acts.shape[-1]).mean(axis=0, dtype=np.float64)
    return float((mean @ probe.weights + probe.intercept)[0])


def truth_grid(store: ActivationStore, hook: str, factor: str, k: int) -> np.ndarray:
    """(h, w) the pooled ground truth of `factor` on frame k at `hook` (NaN where a continuous channel has no
    surface)."""
    channel, component = factor_channel(factor, store.gt_channels())
    values = np.asarray(store.gt(hook, channel)[k])
    if values.ndim == 3:
        values = values[..., 0 if component is None else component]
    return values


def grid_score(predicted: np.ndarray, truth: np.ndarray, categorical: bool) -> float:
    """One frame's score over its cells with finite truth: accuracy (share of cells whose label is right), or
    R^2 = 1 - sum (truth - predicted)^2 / sum (truth - mean truth)^2 (NaN when the frame's truth is constant)."""
    keep = np.isfinite(truth) if np.issubdtype(truth.dtype, np.floating) else np.ones(truth.shape, dtype=bool)
    if not keep.any():
        return float("nan")
    if categorical:
        return float((predicted[keep] == truth[keep]).mean())
    target = truth[keep].astype(np.float64)
    total = ((target - target.mean()) ** 2).sum()
    return float(1 - ((target - predicted[keep]) ** 2).sum() / total) if total > 0 else float("nan")
