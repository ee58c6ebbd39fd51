"""Checking a capture run before `frob capture` resumes it, so that a run damaged by something other than one capture
(two jobs that wrote it at once before the writer lock, a full disk, a file deleted or cut short) repairs itself.

Temp files of interrupted writes are removed. If an array (`<hook>/acts`, `<hook>/gt/<channel>`, `factors/<name>`)
is missing or its metadata damaged, the capture starts over: the journal is removed and the caller creates the
arrays anew. Otherwise each block recorded as done (in the journal; every block of a finished run) is kept only if
every array's chunk of it has its file and decodes; the journal is rewritten with those blocks, and a finished run
with a damaged block is marked unfinished, so the resumed capture redoes exactly the damaged blocks.
"""

from __future__ import annotations

import json
from pathlib import Path

import zarr

from frobnoscope.engine.checked_array import CheckedArray
from frobnoscope.engine.journal import JOURNAL, read_journal
from frobnoscope.engine.runs import MANIFEST, remove_temp_files, write_bytes_atomic, write_json_atomic
from frobnoscope.interp.activations.store import ACTS, FACTORS, GT, ZARR
from frobnoscope.interp.errors import InterpError


def repair_fix(run: Path) -> str:
    return f"the activation run is damaged; rerun the `frob capture` command that made {run} to repair it"


def array_paths(manifest: dict) -> list[str]:
    """Every array a capture run holds, relative to its zarr group."""
    per_hook = [ACTS, *(f"{GT}/{name}" for name in manifest["gt"])]
    return [f"{hook}/{name}" for hook in manifest["hooks"] for name in per_hook] + \
        [f"{FACTORS}/{name}" for name in manifest["factors"]]


def open_arrays(out: Path, manifest: dict) -> list[CheckedArray] | None:
    """The run's arrays, or None if one is missing or its metadata is damaged."""
    try:
        group = zarr.open_group(str(out / ZARR), mode="r")
        return [CheckedArray(group[path], out / ZARR, repair_fix(out), InterpError) for path in array_paths(manifest)]
    except (KeyError, ValueError, TypeError, FileNotFoundError, zarr.errors.BaseZarrError):
        return None


def check_capture(out: Path, manifest: dict) -> dict | None:
    """The manifest of the capture in `out`, ready to resume (see the module's docstring); None to start over."""
    remove_temp_files(out)
    arrays = open_arrays(out, manifest)
    factors = [a for a in arrays or [] if a.path.startswith(f"{FACTORS}/")]
    if arrays is None or not all(_readable(a, 0, len(a)) for a in factors):
        (out / JOURNAL).unlink(missing_ok=True)
        return None
    n, block = manifest["frames"], manifest["config"]["batch_size"]
    starts = range(0, n, block)
    recorded = set(starts) if manifest.get("complete") else read_journal(out / JOURNAL) & set(starts)
    per_frame = [a for a in arrays if a not in factors]
    intact = [s for s in sorted(recorded) if all(_readable(a, s, min(s + block, n)) for a in per_frame)]
    if manifest.get("complete") and len(intact) == len(starts):
        return manifest
    journal = "".join(json.dumps({"start": s, "stop": min(s + block, n)}) + "\n" for s in intact)
    write_bytes_atomic(out / JOURNAL, journal.encode())
    if manifest.get("complete"):
        manifest = {**manifest, "complete": False}
        write_json_atomic(out / MANIFEST, manifest)
    return manifest


def _readable(array: CheckedArray, start: int, stop: int) -> bool:
    try:
        array[start:stop]
        return True
    except InterpError:
        return False
