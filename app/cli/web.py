"""`frob app WORKSPACE`: serve the exploration app (Streamlit) on a study workspace.

Headless, bound to 127.0.0.1 unless `--host` says otherwise, usage statistics off, no file watcher. The workspace is
checked first (one line and exit code 2 if it is not one); the app then reads only inside it (`web.workspace`).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import typer
from rich.console import Console

from frobnoscope.engine.errors import FrobError

console = Console(stderr=True)


def streamlit_command(host: str, port: int) -> list[str]:
    import frobnoscope.app.web

    main_file = Path(frobnoscope.app.web.__file__).parent / "main.py"
    return [sys.executable, "-m", "streamlit", "run", str(main_file), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--client.toolbarMode", "viewer"]


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise FrobError(f"cannot serve on {host}:{port} ({error.strerror}); pass another --port") from None


def app_command(
    workspace: Path = typer.Argument(..., help="a study workspace (`frob study run STUDY --out WORKSPACE`)"),
    port: int = typer.Option(8501, help="port to serve on"),
    host: str = typer.Option("127.0.0.1", help="address to bind (127.0.0.1: this machine only)"),
):
    """Browse a workspace: scenes, model vs optimum, probes, the frobnoloid index, feature pages with live
    interventions, attribution and NeRF views."""
    from frobnoscope.app.web.data import WORKSPACE_ENV
    from frobnoscope.app.web.workspace import Workspace

    root = Workspace(workspace).root
    check_port(host, port)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"frob app: serving {root} at http://{shown}:{port} (Ctrl-C stops it)", highlight=False)
    sys.stdout.flush()
    os.execve(sys.executable, streamlit_command(host, port), {**os.environ, WORKSPACE_ENV: str(root)})


def register(app: typer.Typer) -> None:
    app.command("app")(app_command)
