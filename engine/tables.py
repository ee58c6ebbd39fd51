"""CSV tables that every report writes: one header row from the first row's keys, written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from frobnoscope.engine.runs import write_bytes_atomic


def write_csv(path, rows: list[dict]) -> None:
    """Write `rows` (dicts with the same keys) to `path` through a temp file and a rename."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(Path(path), text.getvalue().encode())
