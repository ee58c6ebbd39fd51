"""`frob app WORKSPACE`: serve the exploration app (Streamlit) on a study workspace.

Headless, bound to 127.0.0.1 unless `--host` says otherwise, usage statistics off, no file watcher. The workspace is
checked first (one line and exit code 2 if it is not one); the app then reads only inside it (`web.workspace`).
Streamlit runs as a child process logging to WORKSPACE/.app.log; once it answers its health check, the URL and how
to stop it are the last lines printed. Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer

from frobnoscope.engine.errors import FrobError


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
    if importlib.util.find_spec("streamlit") is None:
        raise FrobError("the app needs its extra: pip install -e '.[app]' (or `make install`, which installs it)")
    check_port(host, port)
    log = root / ".app.log"
    signal.signal(signal.SIGTERM, _stop)
    with open(log, "w") as output:
        server = subprocess.Popen(streamlit_command(host, port), stdout=output, stderr=subprocess.STDOUT,
                                  env={**os.environ, WORKSPACE_ENV: str(root)})
    try:
        wait_until_serving(server, host, port, log)
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        print(f"frob app: serving {root} at http://{shown}:{port}  (Ctrl-C stops it; server log: {log})", flush=True)
        server.wait()
    except KeyboardInterrupt:
        print("frob app: stopped", flush=True)
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


def _stop(signum, frame):
    raise KeyboardInterrupt


def wait_until_serving(server: subprocess.Popen, host: str, port: int, log: Path, timeout: float = 60) -> None:
    """Return once the server answers its health check; a server that exits or never answers is one line."""
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/_stcore/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            last = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
            raise FrobError(f"the app's server stopped at start ({last}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise FrobError(f"the app's server did not answer on {host}:{port} within {timeout:.0f} s; see {log}")


def register(app: typer.Typer) -> None:
    app.command("app")(app_command)
