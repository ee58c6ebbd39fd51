"""Where an export lands: the atomic output directory, the export's manifest, and the optional
libraries a format needs (with the extra that provides them)."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import importlib
import os
import secrets
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from frobnoscope.engine.runs import MANIFEST, package_version
from frobnoscope.scenes.export.job import ExportError, ExportJob

EXPORT_FORMAT = "frobnoscope.export/1"
EXTRA_HINT = "pip install 'frobnoscope[export]'"
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1  # linux/fs.h


def check_new_output(out: Path) -> None:
    if os.path.lexists(out):
        raise ExportError(f"{out} already exists; export never overwrites: choose a new output directory or delete it")


@contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """Yield an empty directory beside `out`; when the block succeeds it is renamed to `out`, when it fails
    (or is interrupted) it is removed, with any parent directories made for it, so `out` is either
    complete or absent. Directories are made with the process's umask, as `mkdir` makes them."""
    out = Path(out)
    check_new_output(out)
    created = []
    try:
        created = _make_parents(out.parent)
        temp = _make_temp_beside(out)
    except OSError as error:
        _remove_empty(created)
        raise ExportError(f"cannot write beside {out}: {error.strerror}; choose a writable output directory") from None
    try:
        yield temp
        try:
            _rename_no_replace(temp, out)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise ExportError(f"{out} appeared while exporting; it was left as it is and nothing was written to it: "
                                  "choose a new output directory") from None
            raise ExportError(f"cannot move the finished export to {out}: {error.strerror}; choose another output directory") from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        _remove_empty(created)
        raise


def _make_parents(directory: Path) -> list[Path]:
    """`mkdir -p directory`; return the directories it made, deepest first."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    directory.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(directories: list[Path]) -> None:
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:  # something else was put there meanwhile: leave it and what holds it
            return


def _make_temp_beside(out: Path) -> Path:
    """A new hidden directory next to `out` (mode 0o777 less the umask, as `mkdir` makes directories)."""
    while True:
        temp = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
        try:
            temp.mkdir()
            return temp
        except FileExistsError:
            continue


def _rename_no_replace(source: Path, target: Path) -> None:
    """rename(2) that raises FileExistsError where `target` exists. Plain rename silently replaces an
    empty directory; Linux's renameat2(RENAME_NOREPLACE) checks and renames in one step."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # EINVAL: a filesystem without RENAME_NOREPLACE
            raise OSError(code, os.strerror(code), str(target))
    if os.path.lexists(target):  # fallback: check, then rename (a narrow race remains)
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)


def export_manifest(job: ExportJob) -> dict:
    """What made the export: command, source dataset (path, manifest hash, parameters), frames, channels."""
    source_manifest = (job.store.path / MANIFEST).read_bytes()
    return {
        "format": EXPORT_FORMAT, "export_format": job.fmt.name, "package_version": package_version(),
        "command": shlex.join(sys.argv),
        "source": {"path": str(job.store.path.resolve()), "manifest_blake2b": hashlib.blake2b(source_manifest, digest_size=16).hexdigest(),
                   "params": job.store.manifest["params"]},
        "split": job.split, "channels": list(job.channels), "frames": list(job.indices),
        "width": job.width, "height": job.height,
    }


def require(module: str, format_name: str) -> ModuleType:
    """Import an optional library, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"format {format_name} needs the Python package {module!r}; install it with: {EXTRA_HINT}") from None
