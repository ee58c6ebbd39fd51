"""The app reads only inside its workspace: relative escapes, absolute paths elsewhere and symlinks out are refused;
paths recorded in manifests of a moved workspace are found inside it; a directory that is not a workspace is one
line naming the command that makes one."""

import shutil

import pytest

from frobnoscope.app.web.workspace import OutsideWorkspace, Workspace
from frobnoscope.engine.errors import FrobError


def test_paths_outside_the_workspace_are_refused(study_workspace, tmp_path):
    ws = Workspace(study_workspace)
    assert ws.path("conv/eval") == study_workspace.resolve() / "conv" / "eval"
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    for outside in ("../../etc/passwd", "/etc/passwd", str(secret), "conv/../../x"):
        with pytest.raises(OutsideWorkspace, match="outside the workspace"):
            ws.path(outside)


def test_a_symlink_out_of_the_workspace_is_refused(study_workspace, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(study_workspace, root)
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutsideWorkspace):
        Workspace(root).path("link")


def test_a_moved_workspace_finds_the_paths_its_manifests_recorded(study_workspace, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(study_workspace, moved)
    ws = Workspace(moved)
    recorded = study_workspace / "conv" / "capture" / "trained"
    assert ws.relocate(recorded) == moved.resolve() / "conv" / "capture" / "trained"
    with pytest.raises(OutsideWorkspace):
        ws.relocate(tmp_path / "nowhere" / "at" / "all")


def test_a_directory_that_is_not_a_workspace_is_one_line(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    with pytest.raises(FrobError, match="frob study run"):
        Workspace(tmp_path / "x")
    with pytest.raises(FrobError, match="not a directory"):
        Workspace(tmp_path / "missing")
    assert "\n" not in str(pytest.raises(FrobError, Workspace, tmp_path / "missing").value)
