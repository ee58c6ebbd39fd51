import numpy as np
import pytest

from frobnoscope.scenes import Scene, SpecError
from frobnoscope.scenes.families import FAMILIES, make_family
from frobnoscope.scenes.families.shapes3d import FACTORS, Shapes3DConfig


@pytest.mark.parametrize("name", FAMILIES)
def test_frames_depend_only_on_seed_and_index(name):
    a, b = make_family(name, 7, {"res": "16"}), make_family(name, 7, {"res": "16"})
    for k in (0, 1, 5):
        assert a.frame(k).spec == b.frame(k).spec
        assert a.frame(k).factors == b.frame(k).factors
    assert make_family(name, 8, {"res": "16"}).frame(1).spec != a.frame(1).spec or name == "shapes3d"


def test_tabletop_objects_rest_on_the_ground_and_factors_describe_them():
    family = make_family("tabletop", 0, {"res": "16"})
    counts = []
    for k in range(30):
        frame = family.frame(k)
        scene = Scene(frame.spec)
        objects = frame.factors["objects"]
        counts.append(len(objects))
        assert frame.factors["n_objects"] == len(objects) == len(frame.spec.objects) - 1
        assert len(frame.spec.lights) == 1 and frame.spec.lights[0].kind == "directional"
        for factors in objects:
            faces = scene.object_faces(factors["object_id"] - 1)
            lowest = scene.corners[3 * faces.start:3 * faces.stop, 1].min()
            assert abs(lowest) < 1e-6, (k, factors["shape"], lowest)
            assert frame.spec.objects[factors["object_id"] - 1].shape.kind == factors["shape"]
        eye = frame.spec.camera.pose()[:3, 3]
        assert eye[1] > 0
    assert min(counts) >= 1 and max(counts) <= 6 and len(set(counts)) > 2


def test_shapes3d_is_a_complete_grid():
    family = make_family("shapes3d", 0, {"res": "16", "floor_hue_levels": "2", "orientation_levels": "2"})
    grid = family.config.grid_shape()
    assert family.default_n() == int(np.prod(grid)) == 2 * 3 * 4 * 3 * 4 * 2
    seen = {tuple(family.frame(k).factors["grid_index"]) for k in range(family.default_n())}
    assert seen == set(np.ndindex(*grid))
    last = family.frame(family.default_n() - 1).factors
    assert last["shape"] == "capsule" and last["orientation"] == 30.0 and last["scale"] == 1.25
    published = Shapes3DConfig(floor_hue_levels=10, wall_hue_levels=10, object_hue_levels=10, scale_levels=8, orientation_levels=15)
    assert published.grid_shape() == (10, 10, 10, 8, 4, 15) and len(FACTORS) == 6


def test_orbit_views_one_scene_from_a_sphere_with_splits():
    family = make_family("orbit", 3, {"res": "16"})
    frames = [family.frame(k) for k in range(40)]
    assert all(f.spec.objects == frames[0].spec.objects for f in frames)
    target = np.array([0.0, 0.3, 0.0])
    distances = [np.linalg.norm(f.spec.camera.pose()[:3, 3] - target) for f in frames]
    np.testing.assert_allclose(distances, family.config.radius)
    splits = [f.split for f in frames]
    assert splits.count("test") == 5 and splits.count("val") == 5 and splits.count("train") == 30
    assert len({round(f.factors["camera_azimuth_deg"], 6) for f in frames}) == 40


def test_bad_family_and_settings_fail_clearly():
    with pytest.raises(SpecError, match="unknown family 'nope'; choose one of tabletop"):
        make_family("nope")
    with pytest.raises(SpecError, match="unknown setting 'colour'"):
        make_family("tabletop", 0, {"colour": "red"})
    with pytest.raises(SpecError, match="max_objects"):
        make_family("tabletop", 0, {"max_objects": "many"})
