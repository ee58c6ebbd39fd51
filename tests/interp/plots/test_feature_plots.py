"""A feature's crops show the scene around its peak: at least a quarter of the frame, inside the image."""

import pytest

from frobnoscope.interp.plots.features import CROP_CELLS, crop_box


@pytest.mark.parametrize("grid, shape", [((64, 64), (128, 128)), ((8, 8), (128, 128)), ((16, 12), (64, 48)), ((2, 2), (32, 32))])
def test_a_crop_holds_its_peak_and_a_quarter_of_the_frame(grid, shape):
    (h, w), (height, width) = grid, shape
    for row in range(h):
        for col in range(w):
            top, bottom, left, right = crop_box(row, col, grid, shape)
            assert 0 <= top < bottom <= height and 0 <= left < right <= width
            assert (bottom - top) * (right - left) >= height * width / 4
            cell_top, cell_left = row * height / h, col * width / w
            assert top <= cell_top and cell_top + height / h <= bottom + 1e-9, (row, col)
            assert left <= cell_left and cell_left + width / w <= right + 1e-9, (row, col)


def test_a_coarse_grid_keeps_its_cells_on_each_side():
    top, bottom, left, right = crop_box(4, 4, (8, 8), (128, 128))  # 16-pixel cells: 5 cells = 80 > 64 pixels
    assert bottom - top == right - left == (2 * CROP_CELLS + 1) * 16
