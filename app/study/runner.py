"""Running a study's plan in a workspace: resume, skip what is finished, refuse changed settings, redo on request.

WORKSPACE/manifest.json (format frobnoscope.study/1, written atomically after every stage) records the study's name
and, per stage, its `settings` and `done` (with `seconds`, the stage's wall time when it finished). On a rerun:
- a finished stage with the same settings is skipped;
- a stage whose settings changed is refused with one line naming it (and what changed), before anything runs;
- `redo` (stage names or globs) removes those stages' outputs and every stage that depends on them, and runs
  them again; the others are kept;
- an unfinished stage runs again: its job resumes where it stopped (or starts over if its job cannot resume).
"""

from __future__ import annotations

import fnmatch
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from frobnoscope.app.study.plan import Plan, Stage
from frobnoscope.app.study.state import STATE, STUDY_FORMAT, StudyError, read_state
from frobnoscope.engine.config import changed_fields
from frobnoscope.engine.runs import run_header, write_json_atomic

__all__ = ["STUDY_FORMAT", "StudyError", "check_workspace", "dependents", "read_state", "run_study", "select"]

def dependents(plan: Plan, names: set[str]) -> set[str]:
    """`names` and every stage that needs one of them, directly or not."""
    closed = set(names)
    for stage in plan.stages:  # in dependency order: a stage's needs come before it
        if closed.intersection(stage.needs):
            closed.add(stage.name)
    return closed


def select(plan: Plan, patterns: list[str]) -> set[str]:
    """Stage names matching `patterns` (names or globs); a pattern that matches nothing is an error."""
    names = [stage.name for stage in plan.stages]
    chosen = set()
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched:
            raise StudyError(f"no stage matches {pattern!r}; stages: {', '.join(names)}")
        chosen.update(matched)
    return chosen


def check_workspace(plan: Plan, workspace: Path, study_name: str, redo: list[str] = ()) -> set[str]:
    """The stages to redo (`redo` and their dependents); one-line `StudyError`s, before anything runs, for a
    workspace of another study and for finished stages whose settings changed (all of them, named)."""
    state = read_state(workspace)
    if state and state.get("study") != study_name:
        raise StudyError(f"{workspace} holds study {state.get('study')!r}, not {study_name!r}; use another --out")
    redone = dependents(plan, select(plan, list(redo)))
    recorded = state.get("stages", {})
    changed = {stage.name: changed_fields(recorded[stage.name]["settings"], stage.settings) for stage in plan.stages
               if stage.name in recorded and stage.name not in redone}
    changed = {name: fields for name, fields in changed.items() if fields}
    if changed:
        listed = "; ".join(f"{name} ({', '.join(fields)})" for name, fields in changed.items())
        raise StudyError(f"stages run with other settings: {listed}; rerun with --redo STAGE (a name or glob: it and "
                         "what depends on it are redone), or use another workspace")
    return redone


def run_study(plan: Plan, workspace: Path, study_name: str, *, redo: list[str] = (),
              on_stage: Callable[[str, str, float | None], None] = lambda name, state, seconds: None,
              on_progress: Callable[[str, int, int], None] = lambda name, done, total: None) -> dict:
    """Run the plan's stages in order; `on_stage(name, "skipped" | "running" | "done", seconds)` and
    `on_progress(name, done, total)` report. Returns the final state."""
    workspace = Path(workspace)
    redone = check_workspace(plan, workspace, study_name, redo)
    recorded = read_state(workspace).get("stages", {})
    workspace.mkdir(parents=True, exist_ok=True)
    state = {**run_header(STUDY_FORMAT), "study": study_name, "stages": recorded}
    for stage in plan.stages:
        entry = recorded.get(stage.name)
        if stage.name in redone or (entry and not entry["done"] and not stage.resumable):
            _clear(stage, workspace)
        elif entry and entry["done"]:
            on_stage(stage.name, "skipped", entry.get("seconds"))
            continue
        recorded[stage.name] = {"settings": stage.settings, "done": False}
        write_json_atomic(workspace / STATE, state)
        on_stage(stage.name, "running", None)
        started = time.perf_counter()
        stage.run(lambda done, total, name=stage.name: on_progress(name, done, total))
        seconds = time.perf_counter() - started
        recorded[stage.name] = {"settings": stage.settings, "done": True, "seconds": round(seconds, 2)}
        write_json_atomic(workspace / STATE, state)
        on_stage(stage.name, "done", seconds)
    return state


def _clear(stage: Stage, workspace: Path) -> None:
    for output in stage.outputs:
        if workspace.resolve() not in Path(output).resolve().parents:
            raise StudyError(f"stage {stage.name} writes outside the workspace ({output}); refusing to delete it")
        shutil.rmtree(output, ignore_errors=True)
