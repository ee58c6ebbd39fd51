"""Every command that reads a dataset takes it as its first argument; `--data DIR` still works for one release."""

import pytest
from typer.testing import CliRunner

from frobnoscope.app.cli.main import app

COMMANDS = [["capture"], ["train", "ae"], ["train", "nerf"], ["eval"], ["attribute"], ["export"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_the_dataset_is_the_first_argument(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert usage.split("[OPTIONS]")[1].split()[0].strip("[]{}") == "DATA", usage


@pytest.mark.parametrize("command", [["capture", "--model", "taef2", "--hooks", "encoder.*"], ["train", "ae"], ["train", "nerf"]],
                         ids=lambda command: " ".join(command[:2]))
def test_the_old_data_option_still_reads_the_dataset_with_a_note(command, tmp_path):
    missing = tmp_path / "missing"
    by_option = CliRunner().invoke(app, [*command, "--data", str(missing), "--out", str(tmp_path / "o")])
    by_argument = CliRunner().invoke(app, [*command, str(missing), "--out", str(tmp_path / "o")])
    assert "deprecated" in by_option.output and "deprecated" not in by_argument.output
    assert str(missing) in str(by_option.exception or by_option.output)
    both = CliRunner().invoke(app, [*command, str(missing), "--data", str(missing), "--out", str(tmp_path / "o")])
    assert "give the dataset once" in str(both.exception)
