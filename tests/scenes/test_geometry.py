"""The meshes sit on the analytic shapes, and the analytic SDFs agree with an independent mesh SDF."""

import numpy as np
import pytest
import trimesh

from frobnoscope.scenes import Scene
from frobnoscope.scenes.geometry import surface_mesh
from frobnoscope.scenes.sdf import local_sdf
from frobnoscope.scenes.spec import Camera, Capsule, Cone, Cylinder, ObjectSpec, Plane, SceneSpec, Torus, Transform


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


# --- each primitive's sizes, axis and SDF by hand (local frame, +Y up) -------------------------------------------------

HAND_SDF = {  # (shape, [(point, signed distance worked out by hand)])
    "cylinder": (Cylinder(radius=0.3, height=0.8), [
        ((0, 0, 0), -0.3), ((0.3, 0, 0), 0.0), ((0, 0, -0.3), 0.0), ((0, 0.4, 0), 0.0), ((0.2, -0.4, 0.1), 0.0),
        ((0.5, 0, 0), 0.2), ((0, -0.6, 0), 0.2), ((0.4, 0.5, 0), np.hypot(0.1, 0.1)),
        ((0, 0.38, 0), -0.02),  # inside along +Y (its axis)...
        ((0, 0, 0.38), 0.08),  # ...outside as far along Z
    ]),
    "cone": (Cone(radius=0.4, height=0.9), [
        ((0, 0.45, 0), 0.0), ((0, -0.45, 0), 0.0), ((0.4, -0.45, 0), 0.0), ((0, 0, 0.2), 0.0),  # apex, base, rim, side
        ((0, 0.55, 0), 0.1), ((0, -0.55, 0), 0.1), ((0.6, -0.45, 0), 0.2),
        ((0, 0, 0), -0.18 / np.sqrt(0.97)),  # to the side line through (0.4, -0.45) and (0, 0.45)
        ((0.2, 0, 0) + 0.05 * np.array([0.9, 0.4, 0]) / np.sqrt(0.97), 0.05),  # along the side's outward normal
        ((0.3, -0.4, 0), -0.05),  # near the base (radius 0.378 there: the base plane is nearer than the side)...
        ((0.3, 0.4, 0), None),  # ...outside near the apex (radius 0.022 there)
    ]),
    "torus": (Torus(major_radius=0.45, minor_radius=0.15), [
        ((0.45, 0, 0), -0.15), ((0, 0, -0.45), -0.15), ((0.6, 0, 0), 0.0), ((0.3, 0, 0), 0.0), ((0, 0.15, 0.45), 0.0),
        ((0, 0, 0), 0.3),  # the hole
        ((0, 0.45, 0), np.hypot(0.45, 0.45) - 0.15),  # on the axis: the ring lies in XZ, around +Y
        ((0.45, 0.25, 0), 0.1),
    ]),
    "capsule": (Capsule(radius=0.25, height=0.5), [
        ((0, 0, 0), -0.25), ((0.25, 0, 0), 0.0), ((0.25, 0.25, 0), 0.0), ((0, 0.5, 0), 0.0), ((0, -0.5, 0), 0.0),
        ((0, 0.6, 0), 0.1), ((0.3, 0.3, 0), np.hypot(0.3, 0.05) - 0.25), ((0, 0, 0.4), 0.15),
        ((0, 0.45, 0), -0.05),  # total height height + 2 radius = 1 along +Y...
        ((0.45, 0, 0), 0.2),  # ...and only 2 radius across
    ]),
}
HAND_EXTENTS = {  # the mesh's bounding box by hand: (min corner, max corner)
    "cylinder": ((-0.3, -0.4, -0.3), (0.3, 0.4, 0.3)),
    "cone": ((-0.4, -0.45, -0.4), (0.4, 0.45, 0.4)),
    "torus": ((-0.6, -0.15, -0.6), (0.6, 0.15, 0.6)),
    "capsule": ((-0.25, -0.5, -0.25), (0.25, 0.5, 0.25)),
}


@pytest.mark.parametrize("kind", list(HAND_SDF))
def test_primitive_sdf_by_hand(kind):
    shape, cases = HAND_SDF[kind]
    points = np.array([point for point, _ in cases], dtype=float)
    sdf = local_sdf(shape, points)
    for (point, expected), value in zip(cases, sdf):
        if expected is None:
            assert value > 0.05, (point, value)
        else:
            assert value == pytest.approx(expected, abs=1e-9), point


@pytest.mark.parametrize("kind", list(HAND_EXTENTS))
def test_primitive_mesh_sizes_and_axis_by_hand(kind):
    shape = HAND_SDF[kind][0]
    corners = surface_mesh(shape).corners
    low, high = HAND_EXTENTS[kind]
    np.testing.assert_allclose(corners.min(axis=0), low, atol=1e-9)
    np.testing.assert_allclose(corners.max(axis=0), high, atol=1e-9)
    radial = np.hypot(corners[:, 0], corners[:, 2])
    if kind == "cone":  # the base disc is at -height/2, the apex (radius 0) at +height/2
        assert radial[corners[:, 1] > 0.45 - 1e-9].max() < 1e-9
        assert radial[corners[:, 1] < -0.45 + 1e-9].max() == pytest.approx(0.4)
    if kind == "torus":  # the hole: no corner nearer the axis than major - minor radius
        assert radial.min() == pytest.approx(0.3, abs=0.3 * 3e-3)


def test_rotated_and_scaled_cone_in_the_world_frame():
    """Transform: scale 2, then 90 degrees about +Z (right-handed: +Y goes to -X), then translate: the apex lies at
    position - (0.9, 0, 0), the base centre at position + (0.9, 0, 0), distances in world units."""
    position = np.array([1.0, 2.0, 3.0])
    cone = ObjectSpec(name="cone", shape=Cone(radius=0.4, height=0.9),
                      transform=Transform(position=tuple(position), rotation_deg=(0, 0, 90), scale=2.0))
    camera = Camera.look_at((0, 0, 10), tuple(position), fov_y_deg=40, width=8, height=8)
    scene = Scene(SceneSpec(objects=[cone], camera=camera))
    offsets = np.array([[-0.9, 0, 0], [0.9, 0, 0], [-1.1, 0, 0], [0, 0, 0], [0.6, 0.5, 0], [-0.6, 0.5, 0]])
    sdf = scene.query(position + offsets)["sdf"]
    np.testing.assert_allclose(sdf[:4], [0.0, 0.0, 0.2, -2 * 0.18 / np.sqrt(0.97)], atol=1e-9)
    assert sdf[4] < 0 < sdf[5]  # wide at the base (+X), narrow at the apex (-X)
