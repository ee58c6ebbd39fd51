"""`frob study`: the built-in CI study end to end, then resumed (nothing redone), refused with a changed setting,
and redone from one stage (it and its dependents rerun, the rest kept); study files with problems name the field."""

import shutil

import pytest
import yaml
from typer.testing import CliRunner

from frobnoscope.app.cli.main import app
from frobnoscope.app.study.builtin import BUILTIN, builtin_names, study_path
from frobnoscope.app.study.plan import plan_study
from frobnoscope.app.study.runner import StudyError, dependents, run_study
from frobnoscope.app.study.schema import load_study, parse_study
from frobnoscope.engine.config import ConfigError
from frobnoscope.engine.open_run import RunDirectory, open_run

CI = yaml.safe_load((BUILTIN / "ci.yaml").read_text())


def run(study, workspace, redo=()):
    """Run `study` (a parsed dict) in `workspace`; returns {stage: "skipped" | "done"}."""
    events = {}
    spec = parse_study(study, "test")
    run_study(plan_study(spec, workspace), workspace, spec.name, redo=list(redo),
              on_stage=lambda name, state, seconds: events.__setitem__(name, state))
    return events


def mtimes(workspace):
    return {path: path.stat().st_mtime_ns for path in workspace.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def ci_workspace(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("study") / "ws"
    events = run(CI, workspace)
    assert set(events.values()) == {"done"}
    return workspace


@pytest.mark.slow
def test_the_ci_study_runs_every_stage_into_its_fixed_layout(ci_workspace):
    for path in ["data/tabletop", "data/orbit", "models/conv", "conv/eval", "conv/capture/trained",
                 "conv/capture/random", "conv/probes/probes.csv", "conv/saes/decoder.4.s0/report.json",
                 "conv/saes/decoder.4.s1/report.json", "conv/features/decoder.4/features.csv", "models/orbit",
                 "orbit/eval/breakdown.csv"]:
        assert (ci_workspace / path).exists(), path
    assert len(list((ci_workspace / "conv/attribution/decoder.4").glob("latent*/scores.csv"))) == 2
    workspace = open_run(ci_workspace)
    assert isinstance(workspace, RunDirectory) and workspace.kind == "study"
    assert all(stage["done"] for stage in workspace.manifest["stages"].values())


@pytest.mark.slow
def test_a_rerun_skips_every_finished_stage_and_writes_nothing(ci_workspace):
    before = mtimes(ci_workspace)
    events = run(CI, ci_workspace)
    assert set(events.values()) == {"skipped"}
    after = mtimes(ci_workspace)
    assert {p: t for p, t in after.items() if p.name != "manifest.json" or p.parent != ci_workspace} == \
           {p: t for p, t in before.items() if p.name != "manifest.json" or p.parent != ci_workspace}


@pytest.mark.slow
def test_a_changed_setting_is_refused_and_redo_reruns_that_stage_and_its_dependents(ci_workspace, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(ci_workspace, workspace)
    changed = yaml.safe_load(yaml.safe_dump(CI))
    changed["models"]["conv"]["features"]["candidates"] = 3
    with pytest.raises(StudyError, match=r"conv.features.decoder.4 \(LabelConfig.candidates\)") as error:
        run(changed, workspace)
    assert "\n" not in str(error.value) and "--redo" in str(error.value)
    kept = {p: t for p, t in mtimes(workspace).items() if "features" not in p.parts and "attribution" not in p.parts
            and p.name != "manifest.json"}
    events = run(changed, workspace, redo=["conv.features.*"])
    assert {name for name, state in events.items() if state == "done"} == {"conv.features.decoder.4",
                                                                             "conv.attribution.decoder.4"}
    assert all(mtimes(workspace)[p] == t for p, t in kept.items())


def test_redo_closes_over_dependents_in_plan_order(tmp_path):
    plan = plan_study(parse_study(CI, "ci"), tmp_path)
    assert dependents(plan, {"conv.capture"}) == {"conv.capture", "conv.probes", "conv.sae.decoder.4.s0",
                                                  "conv.sae.decoder.4.s1", "conv.features.decoder.4",
                                                  "conv.attribution.decoder.4"}
    with pytest.raises(StudyError, match="no stage matches 'conv.nope'"):
        run(CI, tmp_path / "ws", redo=["conv.nope"])


def with_change(path, value):
    study = yaml.safe_load(yaml.safe_dump(CI))
    *parents, key = path
    node = study
    for part in parents:
        node = node[part]
    if value is None:
        del node[key]
    else:
        node[key] = value
    return study


@pytest.mark.parametrize("change, field", [
    ((("models", "conv", "colour"), "red"), "models.conv.colour: unknown field"),
    ((("datasets", "tabletop", "n"), "many"), "datasets.tabletop.n: Input should be a valid integer"),
    ((("models", "conv", "data"), "nowhere"), "models.conv.data: no dataset named 'nowhere'"),
    ((("models", "conv", "capture", "batch_size"), 0), "models.conv.capture.batch_size: Input should be greater"),
    ((("nerfs", "orbit", "train", "steps"), -1), "nerfs.orbit.train.steps"),
    ((("models", "conv", "fallback"), "conv"), "models.conv.fallback"),
    ((("datasets",), None), "datasets: Field required"),
])
def test_a_study_file_with_a_problem_is_one_line_naming_the_field(change, field):
    with pytest.raises(ConfigError) as error:
        parse_study(with_change(*change), "study.yaml")
    assert field in str(error.value) and "\n" not in str(error.value)


def test_every_builtin_study_validates_and_plans(tmp_path):
    assert {"ci", "demo", "full"} <= set(builtin_names())
    for name in builtin_names():
        plan = plan_study(load_study(study_path(name)), tmp_path / name)
        names = [stage.name for stage in plan.stages]
        assert len(names) == len(set(names)), name
        for position, stage in enumerate(plan.stages):
            assert all(need in names[:position] for need in stage.needs), (name, stage.name)


def test_the_cli_shows_a_builtin_study_and_refuses_an_unknown_one(tmp_path):
    shown = CliRunner().invoke(app, ["study", "show", "ci"])
    assert shown.exit_code == 0 and yaml.safe_load(shown.output) == CI
    missing = CliRunner().invoke(app, ["study", "run", "no-such-study", "--out", str(tmp_path / "ws")])
    assert missing.exit_code != 0 and "neither a file nor a built-in study" in str(missing.exception)


def test_a_model_whose_weights_are_missing_gives_way_to_its_fallback_with_a_note(tmp_path, monkeypatch):
    study = load_study(study_path("demo"))
    monkeypatch.setenv("FROB_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    plan = plan_study(study, tmp_path / "ws")
    names = [stage.name for stage in plan.stages]
    assert "conv.train" in names and not any(name.startswith("taef2.") for name in names)
    (note,) = [note for note in plan.notes if "not available" in note]
    assert note.startswith("taef2 (taef2) is not available: weight file") and "studying conv instead" in note
