"""A real local Ray head for the tests (`ray start --head` on 127.0.0.1, a free port, its own temp dir), and a
worker that kills its own process the first time it meets one block."""

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

# Ray picks the machine's outward address for a node unless told that this is no cluster of several
# machines: keep every connection on the loopback interface. Read when `ray` is first imported.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
RAY = Path(sys.executable).with_name("ray")
START_TIMEOUT_S = 90


def free_port() -> int:
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


@contextmanager
def local_ray_head(num_cpus: int = 2) -> Iterator[str]:
    """Start a Ray head on 127.0.0.1 and yield its address; on exit end it and every process it started
    (by process id: the head's tree, never other Ray processes on the machine) and remove its temp dir."""
    os.environ.update(LOOPBACK_ENV)
    temp_dir = tempfile.mkdtemp(prefix="frob-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    log = open(Path(temp_dir) / "head.log", "w")
    command = [str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
               "--num-cpus", str(num_cpus), "--include-dashboard=false", "--disable-usage-stats",
               "--object-store-memory", str(200 * 1024**2), "--temp-dir", temp_dir]
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **LOOPBACK_ENV})
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


class DiesOnceWorker:
    """Wraps a job's worker; the first time any process of it meets block `die_at`, it leaves `marker` and
    kills its own process (`os._exit`: no clean-up, as a crash or the OOM killer would)."""

    def __init__(self, marker: str, die_at: int, factory, *args):
        self.marker, self.die_at = marker, die_at
        self.inner = factory(*args)

    def block(self, start: int, stop: int):
        if start == self.die_at and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.inner.block(start, stop)
