"""Rendered pixels and ray-cast ground truth describe the same surface, checked, not assumed."""

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from frobnoscope.scenes import Scene
from frobnoscope.scenes.colors import linear_to_render
from frobnoscope.scenes.ground_truth import camera_rays, ground_truth
from frobnoscope.scenes.spec import Box, Camera, DirectionalLight, ObjectSpec, Plane, SceneSpec, Transform


@pytest.fixture(scope="module", params=["directional", "spot"])
def frame(request, renderer, showcase_spec, spot_spec):
    spec = showcase_spec() if request.param == "directional" else spot_spec()
    scene = Scene(spec)
    gt = ground_truth(scene, spec.camera)
    render = renderer.render(scene, spec.camera, depth=True, segmentation=True)
    interior = (gt["object_id"] > 0) & ~binary_dilation(gt["edges"] > 0)
    return spec, scene, gt, render, interior


def test_pyrender_depth_matches_ray_cast_depth_z(frame):
    _, _, gt, render, interior = frame
    relative = np.abs(render.depth_z[interior] - gt["depth_z"][interior]) / gt["depth_z"][interior]
    assert interior.sum() > 1000
    assert np.mean(relative < 1e-3) >= 0.99
    assert np.array_equal(np.isinf(render.depth_z), gt["object_id"] == 0)


def test_segmentation_ids_agree(frame):
    _, _, gt, render, interior = frame
    assert np.mean(render.object_id[interior] == gt["object_id"][interior]) >= 0.999
    assert np.mean(render.object_id == gt["object_id"]) >= 0.99


def test_normals_are_unit_and_camera_normals_are_rotated_world_normals(frame):
    spec, _, gt, _, _ = frame
    hit = gt["object_id"] > 0
    np.testing.assert_allclose(np.linalg.norm(gt["normal_world"][hit], axis=1), 1, atol=1e-5)
    rotation = spec.camera.pose()[:3, :3]
    np.testing.assert_allclose(gt["normal_cam"][hit], gt["normal_world"][hit] @ rotation, atol=1e-5)
    assert np.isinf(gt["normal_world"][~hit]).all()


def test_depths_and_positions_are_one_geometry(frame):
    spec, _, gt, _, _ = frame
    origins, directions = camera_rays(spec.camera)
    hit = (gt["object_id"] > 0).reshape(-1)
    depth_ray = gt["depth_ray"].reshape(-1)[hit]
    position = gt["position_world"].reshape(-1, 3)[hit]
    np.testing.assert_allclose(position, origins[hit] + directions[hit] * depth_ray[:, None], atol=1e-4)
    forward = -(directions[hit] @ spec.camera.pose()[:3, :3])[:, 2]
    np.testing.assert_allclose(gt["depth_z"].reshape(-1)[hit], depth_ray * forward, rtol=1e-5)


def test_neutral_render_shows_the_albedo(frame, renderer):
    spec, scene, gt, _, interior = frame
    neutral = renderer.render(scene, spec.camera, neutral=True)
    difference = np.abs(linear_to_render(neutral.rgb).astype(int) - linear_to_render(gt["albedo"]).astype(int)).max(axis=-1)
    assert np.mean(difference[interior] <= 1) >= 0.99
    textured = np.isin(gt["object_id"], [1, 2])  # the checkered floor and the striped sphere
    assert len(np.unique(gt["albedo"][textured & interior], axis=0)) >= 4


def test_render_matches_the_shading_model(frame):
    """Specular and diffuse terms are pyrender's own: the ray-cast shading predicts the rendered pixel."""
    spec, scene, gt, render, interior = frame
    origins, directions = camera_rays(spec.camera)
    hit = np.flatnonzero((gt["object_id"] > 0).reshape(-1))
    surface = scene.surface(*_hits(scene, origins, directions, hit))
    colour, specular = scene.shade(surface, -directions[hit])
    predicted = np.zeros((spec.camera.height * spec.camera.width, 3))
    predicted[hit] = colour
    predicted = predicted.reshape(render.rgb.shape)
    difference = np.abs(linear_to_render(predicted).astype(int) - linear_to_render(render.rgb).astype(int)).max(axis=-1)
    assert np.mean(difference[interior] <= 2) >= 0.995  # the rest: shadow-map texels vs exact shadow rays
    np.testing.assert_allclose(gt["specular"].reshape(-1, 3)[hit], specular, rtol=1e-5, atol=1e-7)
    assert gt["specular"][gt["object_id"] > 0].max() > 0.05


def _hits(scene, origins, directions, hit):
    hits = scene.intersect(origins[hit], directions[hit])
    return hits.face, hits.bary_u, hits.bary_v


def test_radiance_query_predicts_the_render(frame):
    spec, scene, gt, render, interior = frame
    points = gt["position_world"][interior]
    _, directions = camera_rays(spec.camera)
    view = directions.reshape(*interior.shape, 3)[interior]
    radiance = scene.radiance(points, view)
    difference = np.abs(linear_to_render(radiance).astype(int) - linear_to_render(render.rgb[interior]).astype(int)).max(-1)
    assert np.mean(difference <= 2) >= 0.9
    assert np.isnan(scene.radiance(points[:3] + [0, 5, 0], view[:3])).all()


def test_query_at_surface_points_agrees_with_pixels(frame):
    _, scene, gt, _, interior = frame
    points = gt["position_world"][interior][::7]
    out = scene.query(points)
    assert np.mean(out["object_id"] == gt["object_id"][interior][::7]) > 0.97  # near contacts two objects tie
    assert np.abs(out["sdf"]).max() < 0.01
    same = out["object_id"] == gt["object_id"][interior][::7]
    np.testing.assert_allclose(out["albedo"][same], gt["albedo"][interior][::7][same], atol=1e-6)


def test_shadow_and_shading_under_a_box():
    """A box over a floor, light straight down: the floor is shadowed exactly under the box's footprint."""
    camera = Camera.look_at((0, 6, 0.01), (0, 0, 0), fov_y_deg=60, width=64, height=64)
    spec = SceneSpec(
        objects=[ObjectSpec(name="floor", shape=Plane(size=6)),
                 ObjectSpec(name="box", shape=Box(extents=(1, 0.2, 1)), transform=Transform(position=(0, 1, 0)))],
        lights=[DirectionalLight(direction=(0, -1, 0))], camera=camera,
    )
    scene = Scene(spec)
    gt = ground_truth(scene, camera)
    floor = gt["object_id"] == 1
    x, z = gt["position_world"][..., 0], gt["position_world"][..., 2]
    clear = floor & ((np.abs(x) > 0.52) | (np.abs(z) > 0.52))
    assert not (floor & (np.maximum(np.abs(x), np.abs(z)) < 0.52)).any()  # from above, the box hides the floor under it
    assert (gt["shadow"][clear][:, 0] == 0).all()
    np.testing.assert_allclose(gt["shading"][clear][:, 0], 1.0, atol=1e-6)  # N.L = 1 on a lit floor
    side = Camera.look_at((0, 0.6, 3), (0, 0, 0), fov_y_deg=60, width=64, height=64)
    gt_side = ground_truth(scene, side)
    floor_side = gt_side["object_id"] == 1
    xs, zs = gt_side["position_world"][..., 0], gt_side["position_world"][..., 2]
    under_side = floor_side & (np.abs(xs) < 0.48) & (np.abs(zs) < 0.48)
    assert under_side.sum() > 0
    assert (gt_side["shadow"][under_side][:, 0] == 1).all()
    assert (gt_side["shading"][under_side][:, 0] == 0).all()


def test_edges_mark_silhouettes_and_occlusions(frame):
    _, _, gt, _, _ = frame
    ids, edges = gt["object_id"], gt["edges"]
    differs = np.zeros_like(ids, dtype=bool)
    differs[:-1] |= ids[:-1] != ids[1:]
    differs[1:] |= ids[:-1] != ids[1:]
    differs[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    differs[:, 1:] |= ids[:, :-1] != ids[:, 1:]
    assert np.array_equal((edges & 3) > 0, differs)
    assert (edges & 2).any() and (edges & 1).any()
