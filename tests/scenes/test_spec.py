import json

import numpy as np
import pytest
import trimesh
import yaml

from frobnoscope.scenes import Scene, SpecError, load_spec
from frobnoscope.scenes.spec import Camera


def test_json_and_yaml_load_the_same_spec(tmp_path, showcase_spec):
    spec = showcase_spec()
    data = spec.model_dump(mode="json")
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    assert load_spec(tmp_path / "s.json") == spec
    assert load_spec(tmp_path / "s.yaml") == spec


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["objects"][1]["shape"].update(radius=-1), "objects.1.shape.sphere.radius"),
        (lambda d: d["objects"][0]["material"].update(roughness=2), "objects.0.material.roughness"),
        (lambda d: d["camera"].update(camera_to_world=[[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "camera.camera_to_world"),
        (lambda d: d["lights"][0].update(kind="laser"), "lights.0"),
        (lambda d: d.update(objects=[]), "objects"),
        (lambda d: d["objects"][2].update(colour="red"), "objects.2.colour"),
    ],
)
def test_invalid_spec_fails_with_one_line_naming_the_field(tmp_path, mutate, field, showcase_spec):
    data = showcase_spec().model_dump(mode="json")
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError) as error:
        load_spec(path)
    message = str(error.value)
    assert "\n" not in message
    assert field in message, message


def test_unreadable_and_malformed_specs(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid json"):
        load_spec(tmp_path / "broken.json")


def test_mesh_file_objects_load_relative_to_the_spec(tmp_path, renderer, showcase_spec):
    trimesh.creation.box(extents=(1, 1, 1)).export(tmp_path / "cube.obj")
    data = showcase_spec(res=48).model_dump(mode="json")
    data["objects"].append({"name": "cube", "shape": {"kind": "mesh", "path": "cube.obj"},
                            "transform": {"position": [0, 0.5, 0]}})
    (tmp_path / "scene.yaml").write_text(yaml.safe_dump(data))
    spec = load_spec(tmp_path / "scene.yaml")
    scene = Scene(spec)
    image = renderer.render(scene, spec.camera).rgb
    assert image.shape == (48, 48, 3)
    inside = scene.query(np.array([[0.0, 0.5, 0.0], [0.0, 3.0, 0.0]]))
    assert inside["sdf"][0] == pytest.approx(-0.5, abs=1e-6)
    assert inside["object_id"][0] == len(spec.objects)


def test_look_at_gives_an_opengl_pose():
    camera = Camera.look_at((0, 0, 5), (0, 0, 0), fov_y_deg=90, width=10, height=10)
    pose = camera.pose()
    np.testing.assert_allclose(pose[:3, 2], [0, 0, 1], atol=1e-12)  # camera looks down -Z, towards the origin
    np.testing.assert_allclose(pose[:3, 1], [0, 1, 0], atol=1e-12)
    assert camera.fx == pytest.approx(5.0)


def test_missing_opengl_libraries_are_named(monkeypatch):
    import ctypes.util

    from frobnoscope.scenes import RendererUnavailable
    from frobnoscope.scenes.render import choose_platform

    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")  # so that teardown restores the variable as it was
    monkeypatch.delenv("PYOPENGL_PLATFORM")
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(RendererUnavailable, match="libegl1 .* or libosmesa6"):
        choose_platform()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libOSMesa.so.8" if name == "OSMesa" else None)
    assert choose_platform() == "osmesa"
