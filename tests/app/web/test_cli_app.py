"""`frob app`: a directory that is not a workspace, or a port in use, is one line and exit code 2 before anything
starts; the server is headless, bound to 127.0.0.1 by default, with usage statistics off."""

import socket

from frobnoscope.app.cli.web import streamlit_command


def test_a_directory_that_is_not_a_workspace_is_one_line(frob_cli, tmp_path):
    code, err = frob_cli("app", tmp_path / "nothing")
    assert code == 2
    assert "not a directory" in err and "frob study run" in err
    assert len(err.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line_naming_the_flag(frob_cli, study_workspace):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, err = frob_cli("app", study_workspace, "--port", busy.getsockname()[1])
    assert code == 2
    assert "--port" in err and len(err.strip().splitlines()) == 1


def test_the_server_is_headless_local_and_sends_no_statistics():
    command = streamlit_command("127.0.0.1", 8123)
    options = dict(zip(command[5::2], command[6::2]))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8123"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


def test_without_the_app_extra_it_says_how_to_install_it(frob_cli, study_workspace, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    code, err = frob_cli("app", study_workspace)
    assert code == 2
    assert ".[app]" in err and len(err.strip().splitlines()) == 1
