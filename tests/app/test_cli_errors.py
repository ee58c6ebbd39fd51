"""Operating-system errors from any job reach the user as one line naming the path and the fix, exit code 2."""

import errno
import subprocess
import sys

import pytest

from frobnoscope.app.cli import main as cli
from frobnoscope.app.cli.errors import error_line


@pytest.mark.parametrize("code, fix", [
    (errno.ENOSPC, "free some space, then rerun the same command to resume"),
    (errno.EROFS, "read-only"),
    (errno.EACCES, "choose a directory you can write to"),
])
def test_an_os_error_is_one_line_with_the_path_and_the_fix(monkeypatch, capsys, tmp_path, code, fix):
    def fail(*args, **kwargs):
        raise OSError(code, "the operating system said no", str(tmp_path / "run" / "rgb" / "c" / "0"))

    monkeypatch.setattr("frobnoscope.app.cli.scenes.generate", fail)
    argv = ["frob", "scenes", "generate", "--n", "2", "--res", "16", "--out", str(tmp_path / "run")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    line = capsys.readouterr().err.strip().splitlines()[-1]  # after the job's progress bar
    assert exit_info.value.code == 2 and line.startswith("error: the operating system said no")
    assert str(tmp_path / "run" / "rgb") in line and fix in line


def test_a_path_through_a_file_is_one_line_from_the_real_command(tmp_path):
    (tmp_path / "file").write_text("")
    frob = [sys.executable, "-m", "frobnoscope.app.cli.main"]
    result = subprocess.run([*frob, "eval", str(tmp_path / "file" / "data"), "--model", "taef2", "--out",
                             str(tmp_path / "file" / "out")], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_other_errors_keep_their_own_line():
    assert error_line(ValueError("plain")) == "plain"
