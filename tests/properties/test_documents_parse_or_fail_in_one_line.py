"""Any scene spec or study file, however damaged, either parses or fails with one line that names the field: never
a traceback of another exception type (property-based, hypothesis)."""

import copy
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from frobnoscope.app.study.builtin import BUILTIN
from frobnoscope.app.study.schema import StudyFile, parse_study
from frobnoscope.engine.config import ConfigError
from frobnoscope.scenes.errors import SpecError
from frobnoscope.scenes.spec import SceneSpec, load_spec, parse_spec

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def paths_of(node, prefix=()):
    """Every path (tuple of keys and indices) into a JSON document, the root included."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from paths_of(child, (*prefix, key))


def damaged(document: dict):
    """A strategy: `document` with one place replaced by any JSON value, deleted, or given an unknown key."""
    paths = list(paths_of(document))

    @st.composite
    def strategy(draw):
        copy_ = copy.deepcopy(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            return draw(JSON_VALUES) if action == "replace" else copy_
        parent = copy_
        for key in path[:-1]:
            parent = parent[key]
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
        return copy_

    return strategy()


SPEC = yaml.safe_load((Path(__file__).parents[2] / "examples" / "scenes" / "tabletop.yaml").read_text())
STUDY = yaml.safe_load((BUILTIN / "ci.yaml").read_text())


def one_line_naming_a_field(message: str, prefix: str) -> bool:
    return "\n" not in message and message.startswith(prefix) and ": " in message.removeprefix(prefix)


@given(damaged(SPEC))
def test_a_damaged_scene_spec_parses_or_fails_in_one_line(data):
    try:
        spec = parse_spec(data, "s.yaml") if isinstance(data, dict) else None
    except SpecError as error:
        assert one_line_naming_a_field(str(error), "invalid scene spec s.yaml"), str(error)
        return
    assert spec is None or isinstance(spec, SceneSpec)


@given(damaged(SPEC))
def test_a_damaged_scene_spec_file_loads_or_fails_in_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("spec") / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_spec(path)
    except SpecError as error:
        assert "\n" not in str(error) and str(path) in str(error), str(error)


@given(damaged(STUDY))
def test_a_damaged_study_file_parses_or_fails_in_one_line(data):
    try:
        study = parse_study(data, "study.yaml")
    except ConfigError as error:
        assert one_line_naming_a_field(str(error), "invalid study file study.yaml"), str(error)
        return
    assert isinstance(study, StudyFile)
