"""A resumable job over a dataset's frames, cut into blocks: the blocks run through `engine.executor.block_runner`
(in this process, a local pool or a Ray cluster), each block's result is written as it arrives and then journalled
in progress.jsonl, and at the end the run directory's manifest is marked complete and the journal removed.
A rerun skips the journalled blocks; a block cut off half-written is simply written again.
On an object store, which cannot append, the journal is one object per block instead (`JOURNAL_OBJECTS`/START.json,
see `engine.object_store`), read back line by line as the file is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.executor import block_runner
from frobnoscope.engine.runs import MANIFEST, write_json_atomic

JOURNAL = "progress.jsonl"
JOURNAL_OBJECTS = "progress"  # the journal on an object store: one object per finished block


def read_journal_entries(path: Path, payload: str | None = None) -> dict[int, Any]:
    """Finished blocks by start frame, each with its line's `payload` field (None without one: the block alone);
    a line cut short by a kill, or without its payload, is ignored (that block is redone)."""
    return journal_entries(path.read_text().splitlines() if path.exists() else [], payload)


def journal_entries(lines: list[str], payload: str | None = None) -> dict[int, Any]:
    """`read_journal_entries` of the journal's lines, wherever they were read from."""
    done = {}
    for line in lines:
        try:
            entry = json.loads(line)
            done[int(entry["start"])] = entry[payload] if payload else None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    return done


def read_journal(path: Path) -> set[int]:
    """Start frames of finished blocks (`read_journal_entries` without a payload)."""
    return set(read_journal_entries(path))


def run_journalled_blocks(
    out: Path, manifest: dict, n: int, block_size: int, spec: WorkerSpec, *, workers: int, ray_address: str | None,
    write_block: Callable[[int, int, Any], None], on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run frames 0..n-1 in blocks of `block_size` (those not yet journalled in `out`), pass each block's result to
    `write_block(start, stop, result)`, journal it, then write `manifest` to `out` marked complete."""
    done = read_journal(out / JOURNAL)
    todo = [(start, min(start + block_size, n)) for start in range(0, n, block_size) if start not in done]
    finished = n - sum(stop - start for start, stop in todo)
    if on_progress:
        on_progress(finished, n)
    with block_runner(spec, min(workers, max(len(todo), 1)), ray_address) as run_blocks, \
            open(out / JOURNAL, "a") as journal:
        for (start, stop), result in run_blocks(todo):
            write_block(start, stop, result)
            journal.write(json.dumps({"start": start, "stop": stop}) + "\n")
            journal.flush()
            finished += stop - start
            if on_progress:
                on_progress(finished, n)
    manifest["complete"] = True
    write_json_atomic(out / MANIFEST, manifest)
    (out / JOURNAL).unlink(missing_ok=True)
