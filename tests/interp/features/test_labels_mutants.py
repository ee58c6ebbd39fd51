"""Feature labels pinned where the mutation runner found them unpinned (`make mutation`, issue 18).

Expected values come from the definitions in `labels`' docstring, written out by hand here (the one-hot design's
quantile bins, its non-finite bin and dropped levels, the 64 most frequent labels), or from numpy (Pearson r on the
finite tokens): the one-hot expansion of the ground truth, the correlations with NaN and infinite values, the best
channel and label per feature, and the rule that says which evidence names a feature.
"""

import numpy as np
import pytest

from frobnoscope.interp.activations.tokens import TokenTruth
from frobnoscope.interp.features import labels


def truth_of(continuous=None, categorical=None, factors=None, tokens=None) -> TokenTruth:
    channels = [*(continuous or {}).values(), *(categorical or {}).values(), *(factors or {}).values()]
    t = tokens if tokens is not None else len(channels[0])
    return TokenTruth(continuous or {}, categorical or {}, np.arange(t) // 2, factors or {})


# --- gt_design: the one-hot expansion of all ground truth ---------------------------------------------------------


def test_gt_design_cuts_continuous_channels_into_eight_quantile_bins_and_non_finite_values_into_their_own():
    """0..79 in random order plus NaN, +inf and -inf: the 1/8 .. 7/8 quantiles (9.875, 19.75, ..., 69.125) put the
    values in tens, bin = value // 10; non-finite values in a ninth bin. One-hot with the first level (bin 0)
    dropped: columns bin 1 .. bin 7, then non-finite. Then channels, in order: one that is never finite (no
    columns), one finite at one token only (bin 0 there, the non-finite bin elsewhere: one column), a two-valued
    per-frame factor (one column: the higher value), a constant factor (its single level kept: a column of ones)."""
    rng = np.random.default_rng(0)
    depth = np.concatenate([rng.permutation(80).astype(np.float64), [np.nan, np.inf, -np.inf, np.nan, -np.inf]])
    t = len(depth)
    one_finite = np.full(t, np.nan)
    one_finite[3] = 5.0
    light = np.where(np.arange(t) % 3 == 0, 0.7, 0.2)
    truth = truth_of(continuous={"depth_z": depth, "never": np.full(t, np.nan), "one_finite": one_finite},
                     factors={"light": light, "fixed": np.full(t, 0.3)})
    finite = np.isfinite(depth)
    bins = np.where(finite, np.nan_to_num(depth, posinf=0, neginf=0) // 10, 8)
    expected = [bins == b for b in range(1, 9)]
    expected += [~np.isfinite(one_finite), light == 0.7, np.ones(t, dtype=bool)]
    design = labels.gt_design(truth)
    assert design.shape == (t, 11) and design.dtype == np.float32
    np.testing.assert_array_equal(design, np.stack(expected, axis=1).astype(np.float32))


def test_gt_design_keeps_the_64_most_frequent_labels_and_pools_the_rest():
    """66 labels, label l on l + 1 tokens: the 64 most frequent are 2 .. 65; labels 0 and 1 share one pooled
    level. Levels 2 .. 65 and the pool, the first (label 2) dropped: columns label 3 .. label 65, then the pool.
    A second channel with three labels gives two columns (labels 5 and 9; label 1 dropped)."""
    rng = np.random.default_rng(1)
    shape = rng.permutation(np.repeat(np.arange(66), np.arange(1, 67)))
    material = np.array([1, 5, 9])[rng.integers(0, 3, len(shape))]
    design = labels.gt_design(truth_of(categorical={"shape_id": shape, "material_id": material}))
    expected = [shape == label for label in range(3, 66)] + [np.isin(shape, [0, 1]), material == 5, material == 9]
    assert design.shape == (len(shape), 66)
    np.testing.assert_array_equal(design, np.stack(expected, axis=1).astype(np.float32))


def test_gt_r2_of_a_constant_feature_is_zero():
    """A feature that never varies has no held-out variance to explain: its R^2 (undefined) is reported as 0."""
    rng = np.random.default_rng(2)
    depth = rng.uniform(1, 3, 40)
    activations = np.stack([np.full(40, 1.0), np.sin(3 * depth)], axis=1)
    r2 = labels.gt_r2(activations, truth_of(continuous={"depth_z": depth}))
    assert r2[0] == 0.0 and r2[1] > 0.5


# --- correlations: Pearson r on the finite tokens -----------------------------------------------------------------


def test_correlations_use_only_finite_tokens_and_match_numpy():
    """Each channel against numpy's Pearson r over the tokens where that channel is finite. Feature 1 is tiny
    (r does not depend on scale), feature 2 constant (r = 0), feature 3 is -depth where depth is finite and huge
    where it is not (those tokens are ignored: r = -1). A channel finite on 3 tokens is correlated over those 3;
    on 2 tokens (too few) and a constant channel give 0."""
    rng = np.random.default_rng(3)
    t = 12
    depth = rng.normal(size=t)
    depth[[1, 4]], depth[7], depth[10] = np.nan, np.inf, -np.inf
    finite = np.isfinite(depth)
    three = np.full(t, np.nan)
    three[[0, 5, 9]] = [0.2, 1.5, -0.7]
    two = np.full(t, np.nan)
    two[[2, 3]] = [1.0, 2.0]
    activations = np.stack([rng.normal(size=t), 1e-3 * rng.normal(size=t), np.full(t, 2.0),
                            np.where(finite, -np.nan_to_num(depth), 1e6)], axis=1)
    names, r = labels.correlations(activations, truth_of(
        continuous={"depth_z": depth, "three": three, "two": two, "flat": np.ones(t)}))
    assert names == ["depth_z", "three", "two", "flat"]
    for i in (0, 1, 3):
        assert r[i, 0] == pytest.approx(np.corrcoef(activations[finite, i], depth[finite])[0, 1])
        assert r[i, 1] == pytest.approx(np.corrcoef(activations[[0, 5, 9], i], three[[0, 5, 9]])[0, 1])
    assert r[3, 0] == pytest.approx(-1.0)
    assert np.all(r[2] == 0.0) and np.all(r[:, 2] == 0.0) and np.all(r[:, 3] == 0.0)


# --- label_features: best channel and label per feature, matched, best factor --------------------------------------

U = np.array([1.0, 0, -1, 0, 0, 0, 0, 0])
V = np.array([0.0, 0, 0, 0, 1, -1, 1, -1])


def test_label_features_take_the_largest_abs_r_and_a_correlation_of_exactly_the_bar_matches():
    """Feature 0 = (1, -1, 0, ...) has r = 1 / (sqrt 2 sqrt 2) = 0.5 exactly with U and 0 with V: best U, matched
    (|r| >= 0.5). Feature 1 = 3 V: best V with r = 1. No categorical channel: no label, IoU 0. Feature 2 fires
    (> 0) on 3 of 8 tokens, each below 1."""
    activations = np.stack([np.array([1.0, -1, 0, 0, 0, 0, 0, 0]), 3 * V,
                            np.array([0, 0.5, 0.25, 0, 0, 0, 0.75, 0])], axis=1)
    rows = labels.label_features(activations, truth_of(continuous={"u": U, "v": V}))
    assert rows[0]["best_continuous"] == "u" and rows[0]["correlation"] == 0.5
    assert rows[1]["best_continuous"] == "v" and rows[1]["correlation"] == pytest.approx(1.0)
    for row in rows[:2]:
        assert row["matched"] and row["best_factor"] == row["best_continuous"]
        assert row["best_categorical"] is None and row["label"] is None and row["iou"] == 0.0
    assert [row["active_fraction"] for row in rows] == [1 / 8, 2 / 8, 3 / 8]


def test_label_features_without_continuous_or_categorical_channels_match_nothing():
    rows = labels.label_features(np.array([[0.0], [1.0], [2.0], [3.0]]),
                                 truth_of(factors={"light": np.array([0.1, 0.1, 0.9, 0.9])}))
    assert "correlation" not in rows[0] and rows[0]["iou"] == 0.0 and rows[0]["best_categorical"] is None
    assert not rows[0]["matched"] and rows[0]["best_factor"] == ""


def test_label_features_pick_the_channel_with_the_best_iou_and_the_first_on_ties():
    """Masks (top 0.5% and > 0): feature 0 fires on tokens {0, 1}, feature 1 on {4, 5}, feature 2 nowhere.
    IoUs by hand -- A: f0 1/2 (label 1), f1 1 (label 3); B: f0 1 (label 2), f1 2/6 (label 0); A_copy = A.
    f0 -> B=2; f1 -> A=3 (A_copy ties it, the first channel wins); f2 -> every IoU 0: the first channel, its
    first label, not matched."""
    a = np.array([1, 0, 0, 0, 3, 3, 0, 0])
    b = np.array([2, 2, 0, 0, 0, 0, 0, 0])
    activations = np.stack([np.array([1.0, 1, 0, 0, 0, 0, 0, 0]), np.array([0.0, 0, 0, 0, 1, 1, 0, 0]),
                            np.zeros(8)], axis=1)
    rows = labels.label_features(activations, truth_of(categorical={"A": a, "B": b, "A_copy": a.copy()}))
    picked = [(row["best_categorical"], row["label"], row["iou"], row["matched"], row["best_factor"]) for row in rows]
    assert picked == [("B", 2, 1.0, True, "B=2"), ("A", 3, 1.0, True, "A=3"), ("A", 0, 0.0, False, "")]


@pytest.mark.parametrize(("correlation", "iou", "expected"), [
    (0.5, 0.04, "depth_z"),  # both exactly at their bars, equal strength (0.04 / 0.04 x 0.5): the correlation
    (0.9, 0.05, "depth_z"),  # IoU strength 0.05 / 0.04 x 0.5 = 0.625 < 0.9
    (0.6, 0.5, "shape_id=2"),  # IoU strength 6.25 > 0.6
    (-0.7, 0.01, "depth_z"),  # |r| counts; IoU below its bar
    (0.3, 0.01, ""),  # neither at its bar (0.3 is still above the IoU's strength 0.125)
    (0.2, 0.04, "shape_id=2"),  # IoU exactly at its bar
    (None, 0.0, ""),  # no continuous channel at all
])
def test_best_factor_by_hand(correlation, iou, expected):
    row = {"iou": iou, "best_categorical": "shape_id", "label": 2}
    if correlation is not None:
        row.update(correlation=correlation, best_continuous="depth_z")
    assert labels._best_factor(row) == expected
