"""`existing_run`: resume only a run of the same kind, settings and dataset; refuse anything else in one line."""

import pytest

from frobnoscope.engine.errors import RunError
from frobnoscope.engine.runs import MANIFEST, existing_run, run_header, write_json_atomic

DATASET = {"path": "/data/a", "manifest_blake2b": "aa", "params": {}}
CONFIG = {"batch_size": 8, "field": {"hidden_width": 64}}


def resume(out, config=CONFIG, dataset=DATASET, run_format="frobnoscope.eval/1"):
    return existing_run(out, run_format=run_format, what="an evaluation", make_with="frob eval", config=config,
                        dataset=dataset)


@pytest.fixture
def run(tmp_path):
    write_json_atomic(tmp_path / MANIFEST, {**run_header("frobnoscope.eval/1"), "config": CONFIG, "dataset": DATASET})
    return tmp_path


def test_a_new_or_empty_directory_starts_a_run(tmp_path):
    assert resume(tmp_path / "new") is None
    assert resume(tmp_path) is None


def test_the_same_settings_and_dataset_resume(run):
    assert resume(run)["config"] == CONFIG


@pytest.mark.parametrize("change, message", [
    ({"config": {"batch_size": 4, "field": {"hidden_width": 32}}}, r"other settings \(batch_size, field.hidden_width\)"),
    ({"dataset": {**DATASET, "path": "/data/b", "manifest_blake2b": "bb"}}, r"another dataset \(/data/a\)"),
    ({"run_format": "frobnoscope.sae/1"}, r"is not an evaluation \(its manifest has format 'frobnoscope.eval/1'"),
])
def test_anything_else_is_refused_in_one_line_naming_what_differs(run, change, message):
    before = (run / MANIFEST).read_bytes()
    with pytest.raises(RunError, match=message) as error:
        resume(run, **change)
    assert "\n" not in str(error.value) and (run / MANIFEST).read_bytes() == before


def test_a_directory_holding_something_else_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="exists and is not an evaluation; choose an empty or new output directory"):
        resume(tmp_path)
