"""One writer per run directory: an exclusive lock that every job writing a run directory holds for its life.

The lock is `fcntl.flock` on `.<name>.lock` beside the directory (not inside it: a new run directory must stay
empty until its job writes it, and an export renames its directory into place). The kernel releases it when the
holder exits in any way, kill -9 included. While held, the file names the holder (pid, host, command); a second
writer gets a one-line `RunLocked` naming them and touches nothing. A file that still names a holder but whose
lock is free was left by a process that died: it is taken over, with a note. Readers never take the lock.
A run directory on an object store (a URL, `s3://bucket/prefix`) has no flock: its lock is an object created with a
conditional put (`engine.object_lock`, which says what it can and cannot guarantee).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from frobnoscope.engine.errors import FrobError, RunError
from frobnoscope.engine.storage import is_url


class RunLocked(FrobError):
    """Another process is writing this run directory."""


def lock_path(run_dir: Path) -> Path:
    run_dir = Path(run_dir).absolute()
    return run_dir.parent / f".{run_dir.name}.lock"


@contextmanager
def run_lock(run_dir: Path, on_note: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold `run_dir`'s writer lock for the duration; `RunLocked` if another live process holds it."""
    if is_url(run_dir):
        from frobnoscope.engine.object_lock import object_lock

        with object_lock(run_dir, on_note or _to_stderr, RunLocked):
            yield
        return
    path = lock_path(run_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as error:
        raise RunError(f"cannot write to {run_dir}: {error.strerror} ({error.filename}); choose a writable output "
                       "directory") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            raise RunLocked(f"{run_dir} is being written by process {holder.get('pid', '?')} on "
                            f"{holder.get('host', '?')} ({holder.get('command', 'unknown command')}); wait for it to "
                            "finish or stop it, then rerun") from None
        left = _holder(handle)
        if left and left.get("pid") != os.getpid():
            (on_note or _to_stderr)(f"note: taking over the lock of {run_dir} left by process {left.get('pid')} on "
                    f"{left.get('host')}, which is no longer running")
        _write_holder(handle, {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv)})
        try:
            yield
        finally:
            _write_holder(handle, {})
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_stderr(note: str) -> None:
    print(note, file=sys.stderr)


def _holder(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}


def _write_holder(handle, holder: dict) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder) if holder else "")
    handle.flush()
