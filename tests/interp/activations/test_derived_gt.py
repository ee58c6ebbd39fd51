"""The derived ground truth (`derived_gt`) on rendered frames, each map against a brute-force or independent
computation, and pooled into a capture where the probes and the labeller use it."""

from __future__ import annotations

import numpy as np
import pytest

from frobnoscope.interp.activations import derived_gt
from frobnoscope.scenes.spec import parse_spec


@pytest.fixture(scope="module")
def frame(interp_dataset):
    """(channels, spec, derived maps) of the first frame with at least two objects and a shadow."""
    store = interp_dataset
    for k in range(len(store)):
        channels = {name: np.asarray(store.channel(name)[k]) for name in derived_gt.NEEDS + ("shading",)}
        ids = channels["object_id"]
        if len(np.unique(ids[ids != 0])) >= 2 and channels["shadow"].any():
            spec = parse_spec(store.manifest["frames"][k]["spec"])
            return channels, spec, derived_gt.derive_frame(channels, spec)
    pytest.fail("no frame with two objects and a shadow in the test dataset")


def brute_distance(mask: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest True pixel, by comparing every pair."""
    rows, cols = np.nonzero(mask)
    grid_rows, grid_cols = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    return np.sqrt((grid_rows[..., None] - rows) ** 2 + (grid_cols[..., None] - cols) ** 2).min(-1)


def test_image_position_distances_and_object_size_by_brute_force(frame):
    channels, _, derived = frame
    ids = channels["object_id"]
    height, width = ids.shape
    assert derived["image_x"][0, 0] == pytest.approx(0.5 / width) and derived["image_y"][-1, 0] == pytest.approx(
        (height - 0.5) / height)
    np.testing.assert_allclose(derived["dist_object"], brute_distance(ids != 0) / height, atol=1e-6)
    np.testing.assert_allclose(derived["dist_silhouette"], brute_distance((channels["edges"] & 1) != 0) / height,
                               atol=1e-6)
    assert (derived["dist_object"][ids != 0] == 0).all()
    label = np.unique(ids[ids != 0])[0]
    assert derived["object_size"][ids == label][0] == pytest.approx((ids == label).mean())
    assert np.isnan(derived["object_size"][ids == 0]).all()


def test_n_dot_l_is_the_renderers_shading_where_the_light_is_seen(frame):
    channels, spec, derived = frame
    lit = (channels["object_id"][..., None] != 0) & (channels["shadow"] == 0) & (channels["shading"] > 1e-3)
    assert lit.sum() > 20
    np.testing.assert_allclose(derived["n_dot_l"][lit], channels["shading"][lit], atol=1e-4)
    assert derived["n_dot_l"].shape[-1] == len(spec.lights)


def test_n_dot_v_is_one_where_the_surface_faces_the_camera_and_below_elsewhere(frame):
    channels, spec, derived = frame
    surface = channels["object_id"] != 0
    eye = np.asarray(spec.camera.camera_to_world)[:3, 3]
    towards_eye = eye - channels["position_world"][surface]
    towards_eye /= np.linalg.norm(towards_eye, axis=-1, keepdims=True)
    expected = (channels["normal_world"][surface] * towards_eye).sum(-1)
    np.testing.assert_allclose(derived["n_dot_v"][surface], expected, atol=1e-5)
    assert (derived["n_dot_v"][surface] > -0.05).all()  # a visible surface faces the camera (up to interpolation)


def test_depth_gradient_normal_change_and_texture_bands_on_planted_maps(interp_dataset):
    ids = np.zeros((6, 6), np.uint16)
    ids[1:5, 1:5] = 1
    depth = np.where(ids != 0, np.arange(6)[None, :] * 0.5, np.inf).astype(np.float32)  # +0.5 per column
    normal = np.zeros((6, 6, 3), np.float32)
    normal[..., 2] = 1
    normal[:, 3:] = [0.0, np.sin(0.3), np.cos(0.3)]  # the normal turns by 0.3 rad between columns 2 and 3
    channels = {"object_id": ids, "edges": np.zeros((6, 6), np.uint8), "shadow": np.zeros((6, 6, 0), np.float32),
                "position_world": np.zeros((6, 6, 3), np.float32), "normal_world": normal, "depth_z": depth,
                "albedo": np.full((6, 6, 3), 0.4, np.float32)}
    spec = parse_spec(interp_dataset.manifest["frames"][0]["spec"]).model_copy(update={"lights": []})
    derived = derived_gt.derive_frame(channels, spec)
    # pixel (1, 1): right neighbour +0.5 in depth, lower neighbour 0: mean 0.25; the last column has only a lower one
    assert derived["depth_gradient"][1, 1] == pytest.approx(0.25) and derived["depth_gradient"][1, 4] == 0.0
    assert derived["normal_change"][2, 2] == pytest.approx(0.15, abs=1e-6)  # (0.3 to the right + 0 below) / 2
    assert np.isnan(derived["depth_gradient"][0, 0]) and "n_dot_l" not in derived  # background; no lights
    assert np.nanmax(derived["texture_fine"]) == pytest.approx(0.0, abs=1e-6)  # a flat albedo has no texture
    assert np.isnan(derived["dist_silhouette"]).all()  # no silhouette pixel in the frame


def test_capture_pools_the_derived_channels_and_the_probes_use_them(interp_dataset, tiny_model_spec, tmp_path):
    from frobnoscope.interp.activations import gt_pooling
    from frobnoscope.interp.activations.capture import CaptureConfig, capture
    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.probes.linear import ProbeConfig, probe_hook

    run = capture(interp_dataset.path, tmp_path / "run", CaptureConfig(model=tiny_model_spec, hooks="encoder.4",
                                                                       batch_size=8, dtype="float32"))
    store = ActivationStore.open(run)
    assert set(derived_gt.NAMES) <= set(store.gt_channels())
    h, w, _ = store.shape("encoder.4")
    channels = {name: np.asarray(interp_dataset.channel(name)[0:1]) for name in derived_gt.NEEDS}
    spec = parse_spec(interp_dataset.manifest["frames"][0]["spec"])
    expected = gt_pooling.pool_mean(derived_gt.derive_block(channels, [spec])["dist_object"], h, w)
    np.testing.assert_allclose(store.gt("encoder.4", "dist_object")[0:1], expected, rtol=1e-6)
    rows = probe_hook(store, "encoder.4", ProbeConfig(tokens_per_frame=64, max_fit_tokens=2000, logistic_epochs=1))
    factors = {row["factor"] for row in rows}
    assert {"image_x", "dist_object", "n_dot_v", "texture_fine"} <= factors
    assert any(factor.startswith("n_dot_l") for factor in factors)  # one component per light
