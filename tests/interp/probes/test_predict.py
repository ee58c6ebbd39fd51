"""A probe's read-out on one frame (`predict`), on small hand-made arrays."""

import numpy as np
import pytest

from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.probes import predict
from frobnoscope.interp.probes.linear import Fitted

CHANNELS = ["rgb", "depth_z", "normal_world", "shading", "object_id", "edges"]


def test_factor_names_map_to_pooled_channels_and_components():
    assert predict.factor_channel("depth_z", CHANNELS) == ("depth_z", None)
    assert predict.factor_channel("normal_world.y", CHANNELS) == ("normal_world", 1)
    assert predict.factor_channel("rgb.b", CHANNELS) == ("rgb", 2)
    assert predict.factor_channel("shading.1", CHANNELS) == ("shading", 1)
    with pytest.raises(InterpError, match="names no pooled"):
        predict.factor_channel("n_objects", CHANNELS)


def test_heldout_frames_are_the_probes_test_split():
    np.testing.assert_array_equal(predict.heldout_frames(12), [4, 9])


def test_a_ridge_probe_predicts_x_at_weights_plus_intercept_per_cell():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(3, 4, 5)).astype(np.float32)
    probe = Fitted("pixel", rng.normal(size=(5, 1)), np.array([0.5]))
    grid = predict.predict_grid(acts, probe)
    assert grid.shape == (3, 4)
    assert np.isclose(grid[2, 1], acts[2, 1].astype(np.float64) @ probe.weights[:, 0] + 0.5)


def test_a_categorical_probe_predicts_the_class_of_the_largest_logit():
    acts = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    probe = Fitted("pixel", np.eye(2), np.zeros(2), classes=np.array([3, 7], dtype=np.uint16))
    np.testing.assert_array_equal(predict.predict_grid(acts, probe), [[3, 7]])


def test_a_frame_probe_reads_the_token_average_and_has_no_map():
    acts = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    probe = Fitted("frame", np.array([[1.0], [0.0], [2.0]]), np.array([1.0]))
    assert predict.predict_frame_value(acts, probe) == pytest.approx(4.5 + 2 * 6.5 + 1)
    with pytest.raises(InterpError, match="no map"):
        predict.predict_grid(acts, probe)


def test_grid_scores_skip_cells_without_truth():
    truth = np.array([[1.0, 2.0], [3.0, np.nan]])
    assert predict.grid_score(np.array([[1.0, 2.0], [3.0, 99.0]]), truth, categorical=False) == 1.0
    assert predict.grid_score(np.full((2, 2), 2.0), truth, categorical=False) == 0.0
    labels = np.array([[1, 2], [2, 0]])
    assert predict.grid_score(np.array([[1, 2], [0, 0]]), labels, categorical=True) == 0.75
