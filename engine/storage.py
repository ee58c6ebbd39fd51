"""Where a run directory lives: a local (or mounted, shared) directory, or a prefix on an object store.

`location(out)` is a `LocalDir` for a path and an `ObjectDir` (`engine.object_store`) for a URL such as
`s3://bucket/prefix` (any URL fsspec knows; `file://` is a local path). Both offer what a job that writes a run
needs, each write atomic: names at the top level, reading and writing whole files (several at once), the journal
(`engine.journal`: here an append-only `progress.jsonl`), removing temp files, and sizes. A local write is a temp
file beside the target, then a rename (`engine.runs`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from frobnoscope.engine.journal import JOURNAL, read_journal_entries
from frobnoscope.engine.runs import remove_temp_files, write_bytes_atomic, write_json_atomic

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(where) -> bool:
    """Whether `where` is a URL of an object store (a `str` with a scheme; a `Path` or `file://` never is)."""
    return isinstance(where, str) and bool(URL.match(where)) and not where.startswith("file://")


def location(where):
    """The `LocalDir` or `ObjectDir` of `where` (a path, a URL, or already a location)."""
    if hasattr(where, "url_of"):  # a LocalDir or an ObjectDir already
        return where
    if is_url(where):
        from frobnoscope.engine.object_store import ObjectDir

        return ObjectDir(where)
    return LocalDir(str(where).removeprefix("file://"))


class LocalDir:
    """A run directory on a file system: `path`; `url` is the same as text."""

    fs = None

    def __init__(self, path):
        self.path = Path(path)
        self.url = str(self.path)

    def __str__(self) -> str:
        return self.url

    def url_of(self, relative: str) -> str:
        return str(self.path / relative)

    def names(self) -> list[str]:
        """Names of the top-level entries ([] if the directory does not exist)."""
        return sorted(p.name for p in self.path.iterdir()) if self.path.is_dir() else []

    def exists(self, relative: str) -> bool:
        return (self.path / relative).is_file()

    def read_bytes(self, relative: str) -> bytes | None:
        """The file's bytes, None if it is missing (or not a file)."""
        try:
            return (self.path / relative).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def read_many(self, relatives: list[str]) -> dict[str, bytes | None]:
        return {relative: self.read_bytes(relative) for relative in relatives}

    def write_bytes(self, relative: str, data: bytes) -> None:
        write_bytes_atomic(self.path / relative, data)

    def write_many(self, files: Mapping[str, bytes]) -> None:
        for relative, data in files.items():
            self.write_bytes(relative, data)

    def write_json(self, relative: str, data) -> None:
        write_json_atomic(self.path / relative, data)

    def remove(self, relative: str) -> None:
        (self.path / relative).unlink(missing_ok=True)

    def remove_temp_files(self) -> list:
        return remove_temp_files(self.path)

    def make_writable(self) -> None:
        """Create the directory and write a probe file in it (an `OSError` if it cannot be written)."""
        self.path.mkdir(parents=True, exist_ok=True)
        probe = self.path / ".write-test"
        probe.write_text("")
        probe.unlink()

    def size(self, relative: str = "") -> int:
        """Bytes in the files under `relative` (all of the directory by default)."""
        return sum(f.stat().st_size for f in (self.path / relative).rglob("*") if f.is_file())

    def zarr_store(self) -> str:
        return str(self.path)

    # --- the journal: one JSON line per finished block, appended ----------------------------

    def journal_entries(self, payload: str | None = None) -> dict:
        return read_journal_entries(self.path / JOURNAL, payload)

    @contextmanager
    def journal(self) -> Iterator[Callable[[dict], None]]:
        """`append(entry)`, which writes `entry` as one line and flushes it."""
        with open(self.path / JOURNAL, "a") as handle:
            def append(entry: dict) -> None:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()

            yield append

    def write_journal(self, entries: list[dict]) -> None:
        """Replace the journal with `entries` (atomically)."""
        write_bytes_atomic(self.path / JOURNAL, "".join(json.dumps(e) + "\n" for e in entries).encode())

    def remove_journal(self) -> None:
        (self.path / JOURNAL).unlink(missing_ok=True)
