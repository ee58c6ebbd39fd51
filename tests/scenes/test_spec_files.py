"""Scene spec files a person writes by hand: the look-at camera, one-line errors listing every problem, the JSON
schema, and the shipped examples/scenes/*.yaml."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from frobnoscope.app.cli.main import app
from frobnoscope.scenes import Scene, SpecError, load_spec, parse_spec
from frobnoscope.scenes.spec import Camera

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "scenes").glob("*.yaml"))
BALL = {"name": "ball", "shape": {"kind": "sphere"}}


def _spec(camera: dict, objects=(BALL,)) -> dict:
    return {"objects": list(objects), "camera": camera}


def _problems(data: dict) -> str:
    with pytest.raises(SpecError) as error:
        parse_spec(data, "hand.yaml")
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("eye, target, up, fov_y_deg, width, height", [
    ((2.0, 2.0, 3.0), (0.0, 0.5, 0.0), None, 45.0, 64, 48),
    ((0.0, 4.0, 0.0), (0.0, 0.0, 0.0), None, 30.0, 16, 16),  # straight down, along `up`
    ((1.0, -2.0, 0.5), (0.3, 0.0, 0.0), (0.0, 0.0, 1.0), 90.0, 20, 30),
])
def test_look_at_form_is_exactly_camera_look_at(eye, target, up, fov_y_deg, width, height):
    friendly = {"eye": eye, "target": target, "fov_y_deg": fov_y_deg, "width": width, "height": height}
    camera = parse_spec(_spec({**friendly, **({"up": up} if up else {})})).camera
    expected = Camera.look_at(eye, target, up or (0.0, 1.0, 0.0), fov_y_deg=fov_y_deg, width=width, height=height)
    assert camera.camera_to_world == expected.camera_to_world
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (expected.fx, expected.fy, expected.cx, expected.cy)
    assert set(camera.model_dump()) == {"width", "height", "fx", "fy", "cx", "cy", "camera_to_world", "znear", "zfar"}
    world_to_camera = np.linalg.inv(camera.pose())
    x, y, z = (world_to_camera @ [*target, 1.0])[:3]
    assert z < 0  # OpenGL: the camera looks down its -Z axis
    assert camera.cx + camera.fx * x / -z == pytest.approx(width / 2) and camera.cy - camera.fy * y / -z == pytest.approx(height / 2)
    assert camera.fy == pytest.approx(0.5 * height / np.tan(np.radians(fov_y_deg) / 2))


def test_look_at_form_keeps_clipping_planes_and_dumps_the_explicit_form():
    spec = parse_spec(_spec({"eye": [0, 0, 3], "target": [0, 0, 0], "fov_y_deg": 50, "width": 8, "height": 8,
                             "znear": 0.5, "zfar": 9}))
    assert (spec.camera.znear, spec.camera.zfar) == (0.5, 9)
    assert parse_spec(spec.model_dump(mode="json")) == spec


def test_a_mix_of_both_camera_forms_names_the_fields():
    explicit = Camera.look_at((0, 0, 3), fov_y_deg=50, width=8, height=8).model_dump(mode="json")
    message = _problems(_spec({**explicit, "eye": [0, 0, 3], "fov_y_deg": 50}))
    assert "camera: give either the look-at form" in message
    assert "got eye, fov_y_deg with fx, fy, cx, cy, camera_to_world" in message


def test_every_problem_is_listed_with_its_field_path():
    camera = {"eye": [0, 0, 3], "target": [0, 0], "fov_y_deg": 200, "width": 8, "height": 8}
    message = _problems(_spec(camera, [{**BALL, "material": {"roughness": 2}}]))
    assert message.startswith("invalid scene spec hand.yaml: ")
    for path in ("objects.0.material.roughness: ", "camera.target.2: ", "camera.fov_y_deg: "):
        assert path in message, message
    assert "more)" not in message
    assert "camera: eye and target must differ" in _problems(_spec({**camera, "target": [0, 0, 3], "fov_y_deg": 9}))


def test_past_five_problems_the_rest_are_counted():
    objects = [{"name": f"o{k}", "shape": {"kind": "sphere", "radius": -1}} for k in range(7)]
    message = _problems(_spec(Camera.look_at((0, 0, 3), fov_y_deg=50, width=8, height=8).model_dump(), objects))
    assert [f"objects.{k}.shape.sphere.radius" in message for k in range(7)] == [True] * 5 + [False] * 2
    assert message.endswith("(and 2 more)")


def test_schema_command_prints_the_json_schema_with_both_camera_forms():
    result = CliRunner().invoke(app, ["scenes", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    forms = {form["title"]: form for form in schema["$defs"]["Camera"]["anyOf"]}
    assert {"eye", "target", "up", "fov_y_deg", "width", "height"} <= set(forms["Camera (look-at form)"]["properties"])
    assert "camera_to_world" in forms["Camera (explicit form)"]["properties"]
    import jsonschema  # in the dev extra
    for path in EXAMPLES:  # the hand-written (look-at) files and a stored (explicit) spec both validate
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    jsonschema.validate(load_spec(EXAMPLES[0]).model_dump(mode="json"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_spec({"eye": [0, 0, 3], "target": [0, 0, 0], "fov_y_deg": 50, "width": 8, "height": 8,
                                   "fx": 4}), schema)


def test_examples_include_a_mesh_file():
    assert len(EXAMPLES) >= 3
    kinds = {obj.shape.kind for path in EXAMPLES for obj in load_spec(path).objects}
    assert "mesh" in kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_each_example_loads_and_renders_its_objects(path, renderer):
    assert f"frob scenes show examples/scenes/{path.name} --out preview.png" in path.read_text().split("\nobjects:")[0]
    spec = load_spec(path)
    camera = spec.camera
    scale = 32 / max(camera.width, camera.height)
    small = camera.model_copy(update={"width": round(camera.width * scale), "height": round(camera.height * scale),
                                      "fx": camera.fx * scale, "fy": camera.fy * scale,
                                      "cx": camera.cx * scale, "cy": camera.cy * scale})
    scene = Scene(spec)
    rendered = renderer.render(scene, small, segmentation=True)
    assert rendered.rgb.shape == (small.height, small.width, 3) and np.isfinite(rendered.rgb).all()
    visible = set(np.unique(rendered.object_id).tolist()) - {0}
    assert visible == set(range(1, len(spec.objects) + 1)), [obj.name for obj in spec.objects]
