"""Signed distances by hand, inside and outside along every axis, for the primitives `test_geometry` only checks
against a tessellated mesh, and a mesh file's sign (issue 18: these pin what the mutation runner changes in
`scenes/sdf.py`)."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from frobnoscope.scenes.sdf import local_sdf
from frobnoscope.scenes.spec import Box, Capsule, Cone, Cylinder, MeshFile, Plane, Sphere, Torus

HAND = {  # shape, [(point, signed distance by hand)]
    "sphere": (Sphere(radius=0.5), [
        ((0, 0, 0), -0.5), ((0.3, 0.4, 0), 0.0), ((0, 0.3, -0.4), 0.0), ((1.2, 0, 1.6), 1.5), ((0, -0.1, 0), -0.4),
    ]),
    "box": (Box(extents=(0.6, 0.4, 0.8)), [  # half sizes 0.3, 0.2, 0.4
        ((0, 0, 0), -0.2), ((0.25, 0, 0), -0.05), ((0, 0.15, 0), -0.05), ((0, 0, -0.35), -0.05),
        ((0.5, 0, 0), 0.2), ((0, -0.5, 0), 0.3), ((0, 0, 0.7), 0.3),
        ((0.6, 0.5, 0), np.hypot(0.3, 0.3)), ((-0.4, 0.3, 0.6), np.sqrt(0.01 + 0.01 + 0.04)),
        ((0.3, 0.2, 0.4), 0.0), ((0.29, 0.19, 0.39), -0.01),
    ]),
    "plane": (Plane(size=2), [  # the square |x|, |z| <= 1 at y = 0, solid below
        ((0, 0.3, 0), 0.3), ((0, -0.2, 0), -0.2), ((2, -0.1, 0), 1.0), ((0, -0.1, 1.5), 0.5), ((0, 0.4, -1.3), 0.5),
        ((0.9, -0.5, 0), -0.1), ((0, -0.5, 0.95), -0.05), ((-1.3, 0.4, 0), 0.5),
    ]),
    "cylinder": (Cylinder(radius=0.3, height=0.8), [
        ((0.25, 0, 0), -0.05), ((0, 0.35, 0), -0.05), ((0, 0, 0.7), 0.4), ((0.6, -0.8, 0), np.hypot(0.3, 0.4)),
    ]),
    "cone": (Cone(radius=0.4, height=0.9), [
        ((0.6, -0.6, 0), np.hypot(0.2, 0.15)),  # below and beyond the rim: the rim is nearest
        ((0, -0.45, 3.4), 3.0),  # far out in the base plane (more than 2 units: squares exceed doubles)
        ((0, -0.44, 0.1), -0.01),  # just above the base centre
        ((0, 0.6, 0), 0.15),  # above the apex
        ((0, -0.7, 0.3), 0.25),  # below the base, inside its radius
    ]),
    "torus": (Torus(major_radius=0.45, minor_radius=0.15), [
        ((0, 0.1, 0.45), -0.05), ((0.8, 0, 0), 0.2), ((0, 0, -0.25), 0.05),
    ]),
    "capsule": (Capsule(radius=0.25, height=0.5), [
        ((0, -0.6, 0), 0.1), ((0, -0.45, 0), -0.05), ((0.3, -0.3, 0.4), np.hypot(np.hypot(0.3, 0.4), 0.05) - 0.25),
        ((0, 0.1, 0.2), -0.05),
    ]),
}


@pytest.mark.parametrize("kind", list(HAND))
def test_signed_distances_by_hand(kind):
    shape, cases = HAND[kind]
    sdf = local_sdf(shape, np.array([point for point, _ in cases], dtype=float))
    for (point, expected), value in zip(cases, sdf):
        assert value == pytest.approx(expected, abs=1e-12), point


def test_a_mesh_file_is_negative_inside(tmp_path):
    path = tmp_path / "cube.stl"
    trimesh.creation.box(extents=(1.0, 1.0, 1.0)).export(path)
    sdf = local_sdf(MeshFile(path=str(path)), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.3, 0.0]]))
    np.testing.assert_allclose(sdf, [-0.5, 0.5, -0.2], atol=1e-9)
