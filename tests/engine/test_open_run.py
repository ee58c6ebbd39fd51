"""`open_run` opens every kind of run directory with its reader, and refuses what it cannot read in one line."""

import json
import re
from pathlib import Path

import pytest

from frobnoscope.engine.errors import RunError
from frobnoscope.engine.open_run import FORMATS, RunDirectory, open_run, parse_format
from frobnoscope.engine.runs import run_header, write_json_atomic
from frobnoscope.interp.activations.store import ACTIVATIONS_FORMAT
from frobnoscope.scenes.store import FORMAT as DATASET_FORMAT
from frobnoscope.scenes.store import DatasetStore


def test_every_format_a_module_writes_is_one_open_run_knows():
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r'^\w*FORMAT = "(frobnoscope\.[\w.-]+/\d+)"', re.MULTILINE)
    written = {match for folder in ("engine", "scenes", "models", "interp", "app")
               for source in (root / folder).rglob("*.py") for match in pattern.findall(source.read_text())}
    assert {DATASET_FORMAT, ACTIVATIONS_FORMAT} <= written  # the scan finds the formats
    kinds = [parse_format(value) for value in written]
    assert sorted(kind for kind, _ in kinds) == sorted(FORMATS)
    assert all(version == FORMATS[kind].version for kind, version in kinds)


def test_a_dataset_opens_as_its_store(tmp_path):
    from frobnoscope.scenes.generate import generate

    generate("tabletop", n=2, seed=0, out=tmp_path / "d", settings={"res": "16"})
    store = open_run(tmp_path / "d")
    assert isinstance(store, DatasetStore) and len(store) == 2


def test_a_kind_without_a_reader_class_opens_as_a_run_directory(tmp_path):
    write_json_atomic(tmp_path / "manifest.json", {**run_header("frobnoscope.probes/1"), "complete": False})
    (tmp_path / "probes.csv").write_text("hook,factor,score\nencoder.1,depth_z,0.5\n")
    run = open_run(tmp_path)
    assert isinstance(run, RunDirectory) and run.kind == "probes" and not run.complete
    assert run.table("probes.csv") == [{"hook": "encoder.1", "factor": "depth_z", "score": "0.5"}]


@pytest.mark.parametrize("manifest, message", [
    (None, "is not a run directory"),
    ("{not json", "is not valid JSON"),
    ({"format": "frobnoscope.sae/9"}, "written by a newer frobnoscope .* `frob sae train`"),
    ({"format": "frobnoscope.teapot/1"}, "not a frobnoscope run this version reads"),
    ({"format": "someone-else/1"}, "not a frobnoscope run"),
])
def test_what_cannot_be_opened_is_refused_in_one_line(tmp_path, manifest, message):
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    with pytest.raises(RunError, match=message) as error:
        open_run(tmp_path)
    assert "\n" not in str(error.value)
