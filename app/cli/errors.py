"""What the command line prints for an error it stops on: one line, the problem and the fix, exit code 2.

Operating-system errors (a full disk, a read-only or unwritable directory, a path that is a file) reach here from
any job; the jobs write atomically and resume, so the line can say to rerun the same command once the cause is gone.
"""

from __future__ import annotations

import errno

from frobnoscope.app.cli.options import flag_of
from frobnoscope.engine.config import ConfigError, format_problems

RERUN = "rerun the same command to resume (what was finished is kept)"
FIXES = {
    errno.ENOSPC: f"free some space, then {RERUN}",
    errno.EDQUOT: f"free some space within your quota, then {RERUN}",
    errno.EACCES: "choose a directory you can write to, or fix its permissions",
    errno.EPERM: "choose a directory you can write to, or fix its permissions",
    errno.EROFS: "the file system is read-only: choose an output directory on a writable one",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EEXIST: "a file is in the way of a directory: choose another path or remove it",
    errno.EISDIR: "a directory is where a file was expected: choose another path",
    errno.ENOENT: "check the path",
}


# what to lower when a command's model runs out of device memory (the rest: run it on the CPU)
MEMORY_FLAGS = {"train ae": "--batch-size", "eval": "--batch-size", "capture": "--batch-size",
                "attribute": "--internal-batch-size (or --batch-size)", "sae train": "--batch-tokens",
                "sae meta": "--batch-tokens",
                "features label": "--max-tokens", "train nerf": "--rays-per-step", "probe": "--tokens-per-frame",
                "study run": "the stage's batch settings in the study file"}


def is_out_of_memory(error: BaseException) -> bool:
    """A device out of memory: torch's OutOfMemoryError (CUDA), or the RuntimeError MPS raises (torch need not be
    imported to tell)."""
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def out_of_memory_line(error: BaseException, argv: list[str]) -> str:
    """One line for a device that ran out of memory under `frob ARGV`: the flag to lower, or the CPU."""
    command = next((name for name in sorted(MEMORY_FLAGS, key=len, reverse=True)
                    if argv[:len(name.split())] == name.split()), None)
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    fix = f"lower {MEMORY_FLAGS[command]}, or run on the CPU with --device cpu" if command else \
        "run on the CPU with --device cpu"
    return f"the device ran out of memory ({first.split('. ')[0].rstrip('.')}); {fix}; {RERUN}"


def error_line(error: BaseException) -> str:
    """The one line that describes `error` (a FrobError, ConfigError or OSError) to a user of the CLI."""
    if isinstance(error, ConfigError):  # name the flags, not the config fields
        return format_problems(error.what, error.problems, rename=flag_of)
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        fix = FIXES.get(error.errno, RERUN)
        return f"{error.strerror or type(error).__name__}{where}; {fix}"
    return str(error)
