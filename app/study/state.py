"""A study workspace's record of its stages: WORKSPACE/manifest.json (format STUDY_FORMAT), read without importing
the runner's jobs (and so torch): the app opens workspaces with it."""

from __future__ import annotations

from pathlib import Path

from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.runs import MANIFEST as STATE
from frobnoscope.engine.runs import load_manifest

STUDY_FORMAT = "frobnoscope.study/1"


class StudyError(FrobError):
    """A workspace that does not fit the study, or a stage that cannot run."""


def read_state(workspace: Path) -> dict:
    """The workspace's manifest ({} for a new or empty workspace)."""
    workspace = Path(workspace)
    if not (workspace / STATE).is_file():
        if workspace.exists() and any(workspace.iterdir()):
            raise StudyError(f"{workspace} exists and is not a study workspace; choose an empty or new --out")
        return {}
    return load_manifest(workspace, expected_format=STUDY_FORMAT, what="a study workspace", make_with="frob study run",
                         error=StudyError)
