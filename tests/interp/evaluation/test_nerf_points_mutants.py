"""NeRF judging's point-level numbers by hand, on points at the bounds (issue 18: they pin what the mutation runner
changes in `interp/evaluation/nerf_points.py`: thresholds, bin edges, tolerances, denominators)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from frobnoscope.interp.evaluation import nerf_points

T = 1 / 256  # a true depth for which (T + tol) - T == tol exactly in float64, for tol in 0.01, 0.05, 0.1


def test_the_default_threshold_makes_a_step_of_005_units_half_opaque():
    threshold = nerf_points.DEFAULT_THRESHOLD
    assert 1 - math.exp(-threshold * 0.05) == pytest.approx(0.5, abs=1e-12)  # ln 2 / 0.05 = 13.86 per unit
    below, above = threshold * (1 - 1e-9), threshold * (1 + 1e-9)
    sdf = np.array([-1.0, -1.0])
    assert nerf_points.occupancy_iou(np.array([below, above]), sdf) == 0.5
    rows = nerf_points.density_by_sdf(np.array([below, above]), sdf)
    assert [row["predicted_solid"] for row in rows if row["points"]] == [0.5]


def test_occupancy_iou_at_the_bounds_by_hand():
    # density equal to the threshold is not solid; sdf exactly 0 (the surface) is not solid either
    density = np.array([10.0, 10.5, 0.0, 1e3, 1e3])
    sdf = np.array([-1.0, -1.0, 0.0, 0.5, -0.25])
    # predicted solid: F T F T T; truly solid: T T F F T -> intersection 2, union 4
    assert nerf_points.occupancy_iou(density, sdf, threshold=10.0) == 0.5
    assert np.isnan(nerf_points.iou(np.zeros(3, bool), np.zeros(3, bool)))
    assert nerf_points.iou(np.array([True, True, False]), np.array([True, False, True])) == pytest.approx(1 / 3)


def test_the_iou_sweep_runs_over_05_to_500_in_1_2_5_steps():
    sweep = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
    density = np.array(sweep)  # one point at each threshold: at threshold k, the points above it are solid
    rows = nerf_points.iou_sweep(density, -np.ones(len(sweep)))
    assert [row["threshold"] for row in rows] == list(sweep)
    assert [row["iou"] for row in rows] == pytest.approx([(9 - k) / 10 for k in range(10)])


LABELS = ["[-inf, -0.2)", "[-0.2, -0.1)", "[-0.1, -0.05)", "[-0.05, -0.02)", "[-0.02, -0.01)", "[-0.01, 0)",
          "[0, 0.01)", "[0.01, 0.02)", "[0.02, 0.05)", "[0.05, 0.1)", "[0.1, 0.2)", "[0.2, inf)"]


def test_sdf_bins_labels_centres_and_true_state_by_hand():
    assert nerf_points.sdf_bin_labels() == LABELS
    # one point on each lower edge (a point on an edge belongs to the bin above it), one below the first edge
    edges = [-0.2, -0.1, -0.05, -0.02, -0.01, 0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
    sdf = np.array([-0.5, *edges])
    density = np.arange(12, dtype=float)
    rows = nerf_points.density_by_sdf(density, sdf, threshold=5.0)
    assert [row["sdf_bin"] for row in rows] == LABELS
    assert [row["points"] for row in rows] == [1] * 12
    assert [row["median_density"] for row in rows] == list(density)
    assert [row["mean_density"] for row in rows] == list(density)
    assert [row["predicted_solid"] for row in rows] == [0.0] * 6 + [1.0] * 6  # 5.0 is not above 5.0
    assert [row["truly_solid"] for row in rows] == [True] * 6 + [False] * 6  # [0, 0.01) holds the surface: not solid
    centres = [-0.2, -0.15, -0.075, -0.035, -0.015, -0.005, 0.005, 0.015, 0.035, 0.075, 0.15, 0.2]
    assert [row["sdf_centre"] for row in rows] == pytest.approx(centres, abs=1e-12)


def test_density_by_sdf_medians_means_and_empty_bins_by_hand():
    sdf = np.array([-0.15, -0.12, -0.11, 0.3, 0.5])
    density = np.array([1.0, 3.0, 8.0, 0.0, 2.0])
    rows = {row["sdf_bin"]: row for row in nerf_points.density_by_sdf(density, sdf, threshold=3.0)}
    inside, outside = rows["[-0.2, -0.1)"], rows["[0.2, inf)"]
    assert (inside["points"], inside["median_density"], inside["mean_density"]) == (3, 3.0, 4.0)
    assert inside["predicted_solid"] == pytest.approx(1 / 3)
    assert (outside["points"], outside["median_density"], outside["mean_density"], outside["predicted_solid"]) == (
        2, 1.0, 1.0, 0.0)
    empty = rows["[0, 0.01)"]
    assert empty["points"] == 0 and np.isnan(empty["median_density"]) and np.isnan(empty["predicted_solid"])


def test_termination_errors_at_each_tolerance_by_hand():
    depth_ray = np.array([T, T, T, T, np.inf, np.inf])
    predicted = {"depth": np.array([T + 0.01, T - 0.05, T + 0.1, np.nan, 5.0, np.nan])}
    accumulation = np.array([1.0, 0.5, 1.0, 0.5, 0.25, 0.75])
    stats = nerf_points.termination_errors(predicted, depth_ray, accumulation)
    assert (stats["rays"], stats["hit_rays"], stats["depth_rays_without_depth"]) == (6, 4, 1)
    assert stats["hit_accumulation_mean"] == 0.75 and stats["miss_accumulation_mean"] == 0.5
    # errors +0.01, -0.05, +0.1 (the NaN ray has no depth but counts among the hit rays): an error equal to the
    # tolerance is within it
    assert (stats["depth_within_0.01"], stats["depth_within_0.05"], stats["depth_within_0.1"]) == (0.25, 0.5, 0.75)
    assert stats["depth_mean_error"] == pytest.approx(0.02)
    assert stats["depth_median_abs_error"] == pytest.approx(0.05)
    assert sorted(k for k in stats if "within" in k) == ["depth_within_0.01", "depth_within_0.05", "depth_within_0.1"]


def test_termination_errors_with_one_hit_and_with_none():
    one = nerf_points.termination_errors({"peak": np.array([2.5, 1.0])}, np.array([2.0, np.inf]), np.array([1.0, 0.0]))
    assert one["peak_within_0.01"] == 0.0 and one["peak_mean_error"] == 0.5 and one["peak_median_abs_error"] == 0.5
    exact = nerf_points.termination_errors({"peak": np.array([2.0, 1.0])}, np.array([2.0, np.inf]), np.zeros(2))
    assert exact["peak_within_0.01"] == 1.0 and exact["peak_within_0.1"] == 1.0  # 1 of 1 hitting rays
    none = nerf_points.termination_errors({"peak": np.array([1.0])}, np.array([np.inf]), np.array([0.5]))
    assert none["hit_rays"] == 0 and none["peak_within_0.05"] == 0.0 and np.isnan(none["peak_mean_error"])
    assert none["miss_accumulation_mean"] == 0.5 and np.isnan(none["hit_accumulation_mean"])


def test_colour_errors_by_hand():
    rgb = np.array([[0.2, 0.4, 0.6], [0.5, 0.5, 0.5]])
    radiance = np.array([[0.1, 0.4, 0.9], [np.nan, 0.0, 0.0]])  # the second point is off the surface
    albedo = np.array([[0.4, 0.8, 1.2], [0.0, 0.0, 0.0]])
    out = nerf_points.color_errors(rgb, radiance, albedo)
    mse = (0.1 ** 2 + 0.3 ** 2) / 3
    assert out["surface_points"] == 1
    assert out["rmse_vs_radiance"] == pytest.approx(math.sqrt(mse))
    assert out["psnr_vs_radiance"] == pytest.approx(-10 * math.log10(mse))
    assert out["rmse_vs_albedo"] == pytest.approx(math.sqrt((0.2 ** 2 + 0.4 ** 2 + 0.6 ** 2) / 3))
    assert out["correlation_with_albedo"] == pytest.approx(1.0)
    assert out["correlation_with_radiance"] == pytest.approx(np.corrcoef([0.2, 0.4, 0.6], [0.1, 0.4, 0.9])[0, 1])
    flat = nerf_points.color_errors(rgb[:1], radiance[:1], np.full((1, 3), 0.5))  # constant albedo: no correlation
    assert np.isnan(flat["correlation_with_albedo"]) and not np.isnan(flat["correlation_with_radiance"])
    grey = nerf_points.color_errors(np.full((1, 3), 0.5), radiance[:1], albedo[:1])  # constant colour
    assert np.isnan(grey["correlation_with_albedo"]) and np.isnan(grey["correlation_with_radiance"])


def test_correlation_needs_two_values_and_both_varying():
    assert nerf_points._correlation(np.array([0.0, 1.0]), np.array([0.0, 2.0])) == pytest.approx(1.0)
    assert nerf_points._correlation(np.array([0.0, 1.0]), np.array([2.0, 0.0])) == pytest.approx(-1.0)
    assert nerf_points._correlation(np.array([0.0, 2.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)  # std 1
    assert np.isnan(nerf_points._correlation(np.array([1.0]), np.array([2.0])))


def test_undefined_correlations_are_nan_without_numpy_warnings():
    # np.corrcoef would also give NaN here, but through 0 / 0 and its RuntimeWarnings
    rgb, radiance = np.array([[0.2, 0.4, 0.6]]), np.array([[0.1, 0.4, 0.9]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = nerf_points.color_errors(rgb, radiance, np.full((1, 3), 0.5))
        grey = nerf_points.color_errors(np.full((1, 3), 0.5), radiance, radiance)
        none = nerf_points.color_errors(rgb, np.full((1, 3), np.nan), radiance)
    assert np.isnan(flat["correlation_with_albedo"]) and np.isnan(grey["correlation_with_radiance"])
    assert none["surface_points"] == 0 and np.isnan(none["correlation_with_albedo"]) and np.isnan(none["rmse_vs_albedo"])
