"""Repairing a dataset directory left damaged by something other than one `frob scenes generate` run: two jobs that
wrote it at once (before the writer lock), a full disk, a file deleted or cut short. `check_and_repair` is what a
rerun of generate does first, with the two steps below.

`restore_layout` removes the temp files of interrupted writes (zarr's `*.partial`, our `.*.tmp`) and writes back
every zarr metadata file (the group's and each array's `zarr.json`) and the camera arrays where they are missing
or differ from what `DatasetStore.create` writes. `intact_blocks` reads each block's chunk files directly (one
file per channel: `CHANNEL/c/INDEX/0/0[/0]`, little-endian bytes compressed with blosc) and keeps the blocks
whose every frame still has the checksums recorded for it (in the journal, or a finished manifest); the others
are rendered again. `path`/`out` may be a prefix on an object store (`engine.storage`): the same checks read and
write its objects.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numcodecs import Blosc

from frobnoscope.engine.checked_array import BLOSC_HEADER
from frobnoscope.engine.runs import MANIFEST
from frobnoscope.engine.storage import location
from frobnoscope.scenes.channels import CHANNELS, pixel_shape
from frobnoscope.scenes.errors import StoreError
from frobnoscope.scenes.store import CHECKSUM, DatasetStore, checksum, manifest_problem

Checksums = list[dict[str, str]]  # one {channel: checksum} per frame of a block


def restore_layout(path, manifest: dict, cameras: np.ndarray, intrinsics: np.ndarray) -> list[str]:
    """Make the zarr metadata and camera arrays in `path` exactly what `DatasetStore.create` writes for `manifest`,
    keeping every chunk of the channels; return the files written back (relative paths)."""
    where = location(path)
    where.remove_temp_files()
    with tempfile.TemporaryDirectory(prefix="frob-layout-") as temp:
        template = Path(temp) / "dataset"
        DatasetStore.create(template, manifest, cameras=cameras, intrinsics=intrinsics)
        expected = {p.relative_to(template).as_posix(): p.read_bytes()
                    for p in sorted(template.rglob("*")) if p.is_file() and p.name != MANIFEST}
    actual = where.read_many(list(expected))
    differ = {relative: data for relative, data in expected.items() if not _same_file(relative, data, actual[relative])}
    where.write_many(differ)
    return list(differ)


def _same_file(relative: str, expected: bytes, actual: bytes | None) -> bool:
    if actual is None:
        return False
    if not relative.endswith("zarr.json"):
        return expected == actual
    try:
        return json.loads(expected) == json.loads(actual)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def chunk_file(channel_name: str, ndim: int, index: int) -> str:
    """The file of chunk `index` (along the frame axis) of an array with `ndim` dimensions, relative to the dataset."""
    return "/".join([channel_name, "c", str(index), *["0"] * (ndim - 1)])


def _decode_chunk(encoded: bytes | None, manifest: Mapping, channel) -> np.ndarray | None:
    """A chunk of `channel`, decoded; None if its file is missing or does not decode to a whole chunk."""
    tail = (manifest["height"], manifest["width"], *pixel_shape(channel, manifest["n_lights"]))
    try:
        if encoded is None:
            return None
        if len(encoded) < BLOSC_HEADER or int.from_bytes(encoded[12:16], "little") != len(encoded):
            return None  # cut short: blosc would decode past its end
        raw = Blosc().decode(encoded)
        return np.frombuffer(raw, dtype=np.dtype(channel.dtype).newbyteorder("<")).reshape(
            manifest["chunk_frames"], *tail)
    except (OSError, RuntimeError, ValueError, TypeError):
        return None


def intact_blocks(path, manifest: Mapping, recorded: Mapping[int, Checksums], algorithm: str = CHECKSUM,
                  on_block: Callable[[int], None] | None = None) -> dict[int, Checksums]:
    """Blocks (by start frame) of `recorded` whose frames decode to their recorded checksums (in `algorithm`),
    each with its frames' checksums in `CHECKSUM`; `on_block(frames)` after each intact block. A block's chunk files
    are read together (on an object store, concurrently)."""
    where = location(path)
    n, block = manifest["n"], manifest["chunk_frames"]
    ndims = {c.name: 3 + len(pixel_shape(c, manifest["n_lights"])) for c in CHANNELS}
    intact = {}
    for start, checksums in sorted(recorded.items()):
        stop = min(start + block, n)
        if start % block or not 0 <= start < n or not isinstance(checksums, list) or len(checksums) != stop - start:
            continue
        found: Checksums = [{} for _ in range(start, stop)]
        files = where.read_many([chunk_file(c.name, ndims[c.name], start // block) for c in CHANNELS])
        for channel in CHANNELS:
            data = _decode_chunk(files[chunk_file(channel.name, ndims[channel.name], start // block)], manifest, channel)
            if data is None:
                break
            for offset, frame in enumerate(data[:stop - start]):
                if not isinstance(checksums[offset], dict) or \
                        checksums[offset].get(channel.name) != checksum(frame, algorithm):
                    break
                found[offset][channel.name] = checksum(frame) if algorithm != CHECKSUM else \
                    checksums[offset][channel.name]
            else:
                continue
            break
        else:
            intact[start] = found
            if on_block:
                on_block(stop - start)
    return intact


def _recorded(manifest: dict, chunk_frames: int) -> dict[int, list]:
    """The checksums a finished manifest records, by block start (blocks with a frame lacking them left out)."""
    frames = manifest.get("frames") if isinstance(manifest.get("frames"), list) else []
    recorded = {}
    for start in range(0, len(frames), chunk_frames):
        checksums = [f.get("checksums") if isinstance(f, dict) else None for f in frames[start:start + chunk_frames]]
        if all(isinstance(c, dict) for c in checksums):
            recorded[start] = checksums
    return recorded


def _frame_records(manifest: dict) -> list:
    return [{k: v for k, v in f.items() if k != "checksums"} if isinstance(f, dict) else f
            for f in manifest.get("frames") or []]


def check_and_repair(out, stored: dict, manifest: dict, cameras: np.ndarray, intrinsics: np.ndarray, *,
                     on_block: Callable[[int], None] | None = None) -> tuple[DatasetStore, dict[int, Checksums]]:
    """The dataset in `out` (its manifest as read: `stored`; as generate makes it anew: `manifest`, with the
    cameras), checked and made whole where it can be (see the module's docstring): missing or changed zarr
    metadata and camera arrays written back, temp files removed, and the blocks recorded as done (journal, or a
    finished manifest) kept only where their chunks decode to the recorded checksums. A finished dataset that is
    whole is returned as it is; otherwise the manifest is rewritten unfinished and the journal lists only the
    intact blocks, so the caller renders the rest. Returns the store and its intact blocks' checksums."""
    out = location(out)
    n, chunk_frames = manifest["n"], manifest["chunk_frames"]
    finished = bool(stored.get("complete")) and manifest_problem(stored) is None
    if stored.get("complete"):  # finished, though perhaps with a damaged manifest: its checksums still tell
        recorded, algorithm = _recorded(stored, chunk_frames), stored.get("checksum", "blake2b")
    else:
        recorded, algorithm = out.journal_entries("checksums"), CHECKSUM
    intact = intact_blocks(out, manifest, recorded, algorithm, on_block=on_block)  # reads chunk files, not metadata
    starts = range(0, n, chunk_frames)
    if finished and len(intact) < len(starts) and _frame_records(stored) != manifest["frames"]:
        damaged = [k for s in starts if s not in intact for k in range(s, min(s + chunk_frames, n))]
        raise StoreError(f"{out} has damaged frames ({_ranges(damaged)}) and was made by another version of "
                         f"frobnoscope, so they cannot be rendered again to match; delete {out} and rerun to start over")
    restore_layout(out, manifest, cameras, intrinsics)
    if finished and len(intact) == len(starts):
        return DatasetStore(out, stored), intact
    out.write_journal([{"start": s, "checksums": c} for s, c in sorted(intact.items())])
    out.write_json(MANIFEST, manifest)
    return DatasetStore(out, manifest), intact


def _ranges(frames: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    spans: list[list[int]] = []
    for k in frames:
        if spans and k == spans[-1][1] + 1:
            spans[-1][1] = k
        else:
            spans.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
