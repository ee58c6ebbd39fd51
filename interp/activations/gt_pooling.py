"""Ground truth pooled onto a layer's (h, w) grid, so each activation token has a target.

Image pixel (y, x) of an (H, W) frame falls in grid cell (y * h // H, x * w // W): the cells tile the image exactly
(when H is not a multiple of h, cell sizes differ by at most one pixel).

- Continuous channels (`CONTINUOUS`): the mean over the cell's finite pixels, float32; a cell with no finite pixel
  (all background, where float channels are `inf`) is NaN. `background_fraction` is the share of the cell's pixels
  with object_id 0, so a consumer can keep cells that are mostly surface.
- Categorical channels (`CATEGORICAL`): the majority label (ties: the smaller label), in the channel's dtype, plus
  `<channel>_purity`, the majority's share of the cell's pixels (float32, 1 = the cell is pure).
- `edges`: the share of the cell's pixels on any edge (bitmask != 0), float32.
- Derived channels (`derived_gt.NAMES`: image position, distances to silhouettes, occlusion and shadow edges and
  objects, object size, N.V, N.L per light, normal change, depth gradient, texture bands): the cell mean, as for
  the continuous channels; capture derives them per frame before pooling.
Multi-component channels keep their last axis: (N, h, w, C); single-component ones are (N, h, w).
"""

from __future__ import annotations

import numpy as np

from frobnoscope.interp.activations import derived_gt

CONTINUOUS = ("rgb", "depth_z", "depth_ray", "position_world", "normal_world", "normal_cam", "albedo", "shading",
              "shadow", "specular")
CATEGORICAL = ("object_id", "shape_id", "material_id")
FRACTIONS = ("edges",)
SOURCE_CHANNELS = CONTINUOUS + CATEGORICAL + FRACTIONS  # what is read from the dataset
DERIVED = derived_gt.NAMES  # what capture derives from them and the frame's spec (pooled by the cell mean)
BACKGROUND_FRACTION = "background_fraction"


def purity_name(channel: str) -> str:
    return f"{channel}_purity"


def cell_index(height: int, width: int, h: int, w: int) -> np.ndarray:
    """(H, W) int64: the flat grid cell (row * w + col) each image pixel falls in."""
    rows = np.arange(height) * h // height
    cols = np.arange(width) * w // width
    return rows[:, None] * w + cols[None, :]


def _frame_cells(n: int, cells: np.ndarray, n_cells: int) -> np.ndarray:
    """(N, H, W) flat index frame * n_cells + cell."""
    return (np.arange(n)[:, None, None] * n_cells + cells[None]).reshape(-1)


def pool_mean(values: np.ndarray, h: int, w: int) -> np.ndarray:
    """(N, H, W[, C]) -> (N, h, w[, C]) float32: the mean of each cell's finite values (NaN where there are none)."""
    n, height, width = values.shape[:3]
    flat = values.reshape(n * height * width, -1).astype(np.float64)
    index = _frame_cells(n, cell_index(height, width, h, w), h * w)
    finite = np.isfinite(flat)
    out = np.empty((n * h * w, flat.shape[1]), dtype=np.float32)
    for c in range(flat.shape[1]):
        weights = np.where(finite[:, c], flat[:, c], 0.0)
        sums = np.bincount(index, weights=weights, minlength=n * h * w)
        counts = np.bincount(index, weights=finite[:, c], minlength=n * h * w)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out.reshape((n, h, w, *values.shape[3:]))


def pool_majority(labels: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) integer labels -> (majority (N, h, w) in the input dtype, purity (N, h, w) float32)."""
    n, height, width = labels.shape
    index = _frame_cells(n, cell_index(height, width, h, w), h * w)
    values, inverse = np.unique(labels.reshape(-1), return_inverse=True)
    counts = np.bincount(index * len(values) + inverse.reshape(-1), minlength=n * h * w * len(values))
    counts = counts.reshape(n * h * w, len(values))
    majority = values[counts.argmax(axis=1)].astype(labels.dtype)
    purity = (counts.max(axis=1) / counts.sum(axis=1)).astype(np.float32)
    return majority.reshape(n, h, w), purity.reshape(n, h, w)


def pool_fraction(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """(N, H, W) bool -> (N, h, w) float32 share of True pixels per cell."""
    return pool_mean(mask.astype(np.float32), h, w)


def pool_frames(frames: dict[str, np.ndarray], h: int, w: int) -> dict[str, np.ndarray]:
    """Every pooled ground-truth array for a block of frames ({channel: (N, H, W[, C])}, as read from the dataset)."""
    pooled = {}
    for channel in CONTINUOUS + DERIVED:
        if channel in frames:
            pooled[channel] = pool_mean(frames[channel], h, w)
    for channel in CATEGORICAL:
        if channel in frames:
            pooled[channel], pooled[purity_name(channel)] = pool_majority(frames[channel], h, w)
    for channel in FRACTIONS:
        if channel in frames:
            pooled[channel] = pool_fraction(frames[channel] != 0, h, w)
    if "object_id" in frames:
        pooled[BACKGROUND_FRACTION] = pool_fraction(frames["object_id"] == 0, h, w)
    return pooled
