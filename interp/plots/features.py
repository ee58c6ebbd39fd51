"""PNG figures of one feature: its top-activating crops (top row) and activation maps over those frames (bottom).

Crops are centred on the token (grid cell) where the feature peaks in each of the CROPS frames with the highest
peak: CROP_CELLS cells on each side, and at least half the image's height and width (a quarter of the frame), so
the crop shows the scene around the peak, shifted to stay inside the image (`crop_box`); images are shown as the renderer's 8-bit output (1/2.2 gamma of linear RGB),
activation maps upsampled to the image (nearest) and drawn over it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from frobnoscope.scenes.colors import linear_to_render

CROPS = 6
CROP_CELLS = 2


def top_frames(activation: np.ndarray, index: np.ndarray, count: int = CROPS) -> list[tuple[int, int, int, float]]:
    """[(frame, row, col, value)] of the feature's peak token in each of the `count` frames with the highest peaks."""
    order = np.argsort(-activation, kind="stable")
    chosen, seen = [], set()
    for t in order:
        frame = int(index[t, 0])
        if frame not in seen and activation[t] > 0:
            seen.add(frame)
            chosen.append((frame, int(index[t, 1]), int(index[t, 2]), float(activation[t])))
            if len(chosen) == count:
                break
    return chosen


def crop_box(row: int, col: int, grid: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) pixel bounds of the crop around grid cell (row, col) of an image of `shape`."""
    (h, w), (height, width) = grid, shape

    def span(cell: int, cells: int, size: int) -> tuple[int, int]:
        pixels_per_cell = size / cells
        length = min(size, max(round((2 * CROP_CELLS + 1) * pixels_per_cell), -(-size // 2)))
        centre = (cell + 0.5) * pixels_per_cell
        start = int(min(max(0, round(centre - length / 2)), size - length))
        return start, start + length

    return (*span(row, h, height), *span(col, w, width))


def plot_feature(title: str, activation: np.ndarray, index: np.ndarray, grid: tuple[int, int],
                 rgb_of_frame, path: Path) -> None:
    """`rgb_of_frame(k)` -> (H, W, 3) linear RGB of frame k."""
    peaks = top_frames(activation, index)
    h, w = grid
    figure = Figure(figsize=(2.2 * max(len(peaks), 1), 4.6), layout="constrained")
    figure.suptitle(title, fontsize=9)
    axes = figure.subplots(2, max(len(peaks), 1), squeeze=False)
    for column, (frame, row, col, value) in enumerate(peaks):
        image = linear_to_render(rgb_of_frame(frame))
        height, width = image.shape[:2]
        top, bottom, left, right = crop_box(row, col, grid, (height, width))
        axes[0, column].imshow(image[top:bottom, left:right])
        axes[0, column].set_title(f"frame {frame}: {value:.3g}", fontsize=7)
        in_frame = index[:, 0] == frame
        heat = np.zeros((h, w))
        heat[index[in_frame, 1], index[in_frame, 2]] = activation[in_frame]
        axes[1, column].imshow(image)
        axes[1, column].imshow(heat, cmap="magma", alpha=0.6, extent=(0, width, height, 0), interpolation="nearest")
    for ax in axes.ravel():
        ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
