"""Fixtures of the engine tests: a real local Ray head (`ray start --head` on 127.0.0.1, a free port, its own temp
dir) for the module that asks for it, and free loopback ports. `ray_head` starts one as a context manager, for
tests elsewhere that need a head with an environment of their own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Ray picks the machine's outward address for a node unless told that this is no cluster of several
# machines: keep every connection on the loopback interface. Read when `ray` is first imported.
# RAY_AUTH_MODE explicit: with it unset, a ~/.ray/auth_token left by any local `ray.init()` (e.g. bench/) turns on
# token auth for the head, and its clients then fail with InvalidAuthToken; a loopback test head needs none
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
RAY = Path(sys.executable).with_name("ray")
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when asked)."""
    return _free_port()


@pytest.fixture(scope="module")
def ray_address():
    """Start a Ray head with 2 CPUs on 127.0.0.1 and yield its address; at the end of the module, end it and every
    process it started (by process id: the head's tree, never other Ray processes on the machine) and remove its
    temp dir."""
    with ray_head() as address:
        yield address


@contextmanager
def ray_head(env: dict[str, str] | None = None) -> Iterator[str]:
    """`ray_address`'s head as a context manager, its processes (the workers too) started with `env` added to this
    process's environment (tests/scenes/test_generate_s3.py gives them an S3 endpoint and credentials)."""
    os.environ.update(LOOPBACK_ENV)
    temp_dir = tempfile.mkdtemp(prefix="frob-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    log = open(Path(temp_dir) / "head.log", "w")
    command = [str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
               "--object-store-memory", str(200 * 1024**2), "--temp-dir", temp_dir]
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {}), **LOOPBACK_ENV})
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in (Path(temp_dir) / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed: {(Path(temp_dir) / 'head.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        started = _descendants(head.pid)
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pass
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
