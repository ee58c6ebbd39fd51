"""The names researchers give features: WORKSPACE/labels.jsonl, append-only.

One JSON object per line: {"feature": KEY, "name": ..., "note": ..., "time": ISO 8601 UTC}; KEY is
`<features run, relative to the workspace>#<kind>:<index>` (e.g. `taef2/features/decoder.12#latent:495`). The last
line for a key wins; an empty name and note clears it. Appends hold an exclusive lock on `.labels.jsonl.lock` and
write one whole line with a single `write` (O_APPEND) followed by fsync, so two browser tabs (or processes) never
lose each other's lines; a line cut short by a crash is skipped on reading, never fatal.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

LABELS = "labels.jsonl"


def feature_key(run: str, kind: str, index: int) -> str:
    return f"{run}#{kind}:{int(index)}"


class LabelBook:
    def __init__(self, root):
        self.path = Path(root) / LABELS
        self.lock_path = Path(root) / f".{LABELS}.lock"

    def add(self, key: str, name: str, note: str = "") -> dict:
        entry = {"feature": key, "name": name.strip(), "note": note.strip(),
                 "time": datetime.now(UTC).isoformat(timespec="seconds")}
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if self._ends_mid_line():
                    line = b"\n" + line  # a line cut short by a crash stays on its own line
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return entry

    def _ends_mid_line(self) -> bool:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("feature"), str):
                out.append(entry)
        return out

    def current(self) -> dict[str, dict]:
        """{key: its latest entry} for keys whose latest entry names or notes something."""
        latest = {}
        for entry in self.entries():
            latest[entry["feature"]] = entry
        return {key: entry for key, entry in latest.items() if entry.get("name") or entry.get("note")}
