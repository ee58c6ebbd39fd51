"""The app's pictures as numpy: overlays blend where (and as strongly as) a feature fires, grid maps land on the
pixels their cells cover, outlines trace a mask's boundary, example crops show at least a quarter of the frame."""

import numpy as np
import pytest

from frobnoscope.app.web import images
from frobnoscope.interp.plots.features import crop_box


def test_a_grid_cell_covers_its_block_of_pixels():
    grid = np.arange(6, dtype=float).reshape(2, 3)
    big = images.upsample(grid, (4, 6))
    np.testing.assert_array_equal(big, np.kron(grid, np.ones((2, 2))))


def test_the_overlay_leaves_silent_cells_alone_and_blends_by_activation():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    grid = np.array([[0.0, 1.0], [0.5, np.nan]])
    out = images.overlay(image, grid, alpha=0.6, high=1.0)
    np.testing.assert_array_equal(out[:2, :2], image[:2, :2])  # activation 0: untouched
    np.testing.assert_array_equal(out[2:, 2:], image[2:, 2:])  # NaN: untouched
    top = images.colourise(np.array([[1.0]]), "inferno", low=0.0, high=1.0)[0, 0]
    np.testing.assert_array_equal(out[0, 2], np.round(0.4 * 100 + 0.6 * top.astype(float)).astype(np.uint8))
    half = images.colourise(np.array([[0.5]]), "inferno", low=0.0, high=1.0)[0, 0]
    np.testing.assert_array_equal(out[2, 0], np.round(0.7 * 100 + 0.3 * half.astype(float)).astype(np.uint8))


def test_the_outline_is_the_mask_boundary():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:5, 1:5] = True
    out = images.outline(np.zeros((6, 6, 3), dtype=np.uint8), mask, colour=(255, 0, 0))
    drawn = out[..., 0] == 255
    expected = mask.copy()
    expected[2:4, 2:4] = False
    np.testing.assert_array_equal(drawn, expected)


@pytest.mark.parametrize("cell", [(0, 0), (7, 3), (15, 15)])
def test_an_example_crop_is_at_least_a_quarter_of_the_frame_and_holds_its_cell(cell):
    top, bottom, left, right = crop_box(*cell, grid=(16, 16), shape=(128, 128))
    assert (bottom - top) * (right - left) >= 128 * 128 / 4
    assert top <= cell[0] * 8 < bottom and left <= cell[1] * 8 < right


def test_ground_truth_pictures_keep_background_distinct():
    ids = np.array([[0, 1], [2, 0]])
    pictures = images.channel_picture("object_id", ids)
    assert (pictures[0, 0] == 0).all() and (pictures[1, 1] == 0).all()
    assert not (pictures[0, 1] == pictures[1, 0]).all()
    depth = np.array([[1.0, np.inf], [2.0, np.nan]])
    coloured = images.channel_picture("depth_z", depth)
    np.testing.assert_array_equal(coloured[0, 1], images.BACKGROUND)
    np.testing.assert_array_equal(coloured[1, 1], images.BACKGROUND)
