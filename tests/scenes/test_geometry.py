"""The meshes sit on the analytic shapes, and the analytic SDFs agree with an independent mesh SDF."""

import numpy as np
import trimesh

from frobnoscope.scenes import Scene
from frobnoscope.scenes.geometry import surface_mesh
from frobnoscope.scenes.sdf import local_sdf
from frobnoscope.scenes.spec import Plane


def test_mesh_corners_lie_on_the_analytic_surface(primitive):
    mesh = surface_mesh(primitive)
    assert np.abs(local_sdf(primitive, mesh.corners)).max() < 1e-9
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-9)
    assert np.isfinite(mesh.uv).all()


def test_analytic_sdf_matches_the_mesh_sdf(primitive):
    mesh = surface_mesh(primitive)
    solid = trimesh.Trimesh(mesh.corners, np.arange(len(mesh.corners)).reshape(-1, 3))
    solid.merge_vertices()
    assert solid.is_watertight
    points = np.random.default_rng(0).uniform(-0.8, 0.8, (400, 3))
    mesh_sdf = -trimesh.proximity.signed_distance(solid, points)
    analytic = local_sdf(primitive, points)
    assert np.mean((analytic < 0) == (mesh_sdf < 0)) > 0.99
    np.testing.assert_allclose(analytic, mesh_sdf, atol=0.006)  # tessellation error of 64 sections


def test_plane_is_solid_below():
    shape = Plane(size=2)
    sdf = local_sdf(shape, np.array([[0, 0.3, 0], [0, -0.2, 0], [2, -0.1, 0]]))
    np.testing.assert_allclose(sdf, [0.3, -0.2, 1.0])


def test_query_in_world_frame(showcase_spec):
    spec = showcase_spec()
    scene = Scene(spec)
    sphere = next(o for o in spec.objects if o.name == "sphere")
    centre = np.array(sphere.transform.position)
    out = scene.query(np.array([centre, centre + [0, 0.75, 0], centre + [0, 0.5, 0]]))
    np.testing.assert_allclose(out["sdf"], [-0.5, 0.25, 0.0], atol=1e-9)
    assert out["occupancy"].tolist() == [True, False, False]
    assert out["object_id"][0] == spec.objects.index(sphere) + 1
