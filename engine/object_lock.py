"""The writer lock of a run directory on an object store (what `engine.lock.run_lock` takes for a URL).

An object store has no flock. The lock is an object beside the prefix, `.NAME.lock` (for `s3://bucket/runs/a`:
`s3://bucket/runs/.a.lock`), created with a conditional put (`If-None-Match: *`: AWS S3 since 2024, MinIO, moto),
so of two jobs that start at once exactly one creates it; the other gets `RunLocked` naming the holder (pid, host,
command, start time) and writes nothing. The holder deletes it when it ends in any way Python sees (an error,
Ctrl-C). A holder killed outright (kill -9, a lost machine) leaves it behind, and nothing on the store tells that
it is gone: a job on the holder's host checks whether that process still runs (same pid and start time) and if
not takes the lock over, with a note (a put conditional on the object's ETag, so of two such jobs one wins); a
job on another host cannot tell, so it refuses and names the object to delete once the holder is known to be gone.
A store that ignores the condition (older S3-compatible servers) cannot keep a second writer out: after creating
the lock a second conditional put must fail, and if it does not, a note says so. Workers never take the lock: the
job's driver alone writes the manifest and the journal, and workers write only the chunks of their blocks.
"""

from __future__ import annotations

import datetime
import json
import os
import posixpath
import shlex
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.object_store import ObjectDir, StorageError, storage_problem


def lock_key(directory: ObjectDir) -> str:
    parent, name = posixpath.split(directory.root)
    return posixpath.join(parent, f".{name}.lock")


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot), None where /proc cannot tell."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _still_running(holder: dict) -> bool:
    """Whether the holder may still run: True unless it was on this host and its process is gone."""
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _process_start(pid) == holder.get("process_start")  # else the pid was reused


@contextmanager
def object_lock(url: str, on_note: Callable[[str], None], locked: type[FrobError]) -> Iterator[None]:
    """Hold the writer lock of the run directory at `url` for the duration; `locked` (`engine.lock.RunLocked`) if
    another job holds it."""
    directory = ObjectDir(url)
    fs, key = directory.fs, lock_key(directory)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv),
              "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "process_start": _process_start(os.getpid()), "token": uuid.uuid4().hex}
    try:
        _acquire(fs, key, json.dumps(holder).encode(), url, on_note, locked)
    except FrobError:
        raise
    except Exception as error:  # noqa: BLE001 - the store's own errors, as one line
        raise StorageError(f"{url}: {storage_problem(error)}") from None
    try:
        yield
    finally:
        _release(fs, key, holder["token"], url, on_note)


def _acquire(fs, key: str, body: bytes, url: str, on_note: Callable[[str], None], locked: type[FrobError]) -> None:
    """Create the lock object `key` (or take over a dead holder's), then check that the store honours the condition."""
    shown = fs.unstrip_protocol(key)
    for _ in range(3):  # the holder may release it between our attempt and our look at it
        try:
            fs.pipe_file(key, body, mode="create")
            break
        except FileExistsError:
            try:
                etag, left = fs.info(key).get("ETag"), json.loads(fs.cat_file(key))
            except FileNotFoundError:
                continue
            except (json.JSONDecodeError, UnicodeDecodeError):
                etag, left = None, {}
        left = left if isinstance(left, dict) else {}
        if _still_running(left):
            elsewhere = "" if left.get("host") == socket.gethostname() else \
                f"; if it is no longer running (killed, or its machine lost), delete {shown} and rerun"
            raise locked(f"{url} is being written by process {left.get('pid', '?')} on {left.get('host', '?')} "
                         f"({left.get('command', 'unknown command')}) since {left.get('since', '?')}; wait for it "
                         f"to finish or stop it, then rerun{elsewhere}")
        on_note(f"note: taking over the lock of {url} left by process {left.get('pid')} on {left.get('host')}, "
                "which is no longer running")
        try:
            fs.pipe_file(key, body, **({"IfMatch": etag} if etag and "s3" in fs.protocol else {}))
        except OSError:
            raise locked(f"{url}: another job took over its stale lock at the same time; rerun") from None
        break
    else:
        raise locked(f"{url}: other jobs keep taking and releasing its lock ({shown}); rerun when they are done")
    try:
        fs.pipe_file(key, body, mode="create")  # must fail now: the object exists
        honoured = False
    except FileExistsError:
        honoured = True
    except (TypeError, NotImplementedError, ValueError):  # a backend without exclusive create
        honoured = False
    if not honoured:
        on_note(f"note: the store of {url} ignores conditional writes, so its lock ({shown}) cannot keep a second "
                "writer out: run one job at a time on it")


def _release(fs, key: str, token: str, url: str, on_note: Callable[[str], None]) -> None:
    """Delete the lock if it is still ours (a job that took it over meanwhile keeps it)."""
    try:
        if json.loads(fs.cat_file(key)).get("token") == token:
            fs.rm_file(key)
    except FileNotFoundError:
        pass
    except Exception as error:  # noqa: BLE001 - the job is over: say so, do not fail it
        on_note(f"note: could not release the lock of {url} ({storage_problem(error)}); a rerun on this host "
                "takes it over")
