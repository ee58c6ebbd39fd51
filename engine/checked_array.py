"""`CheckedArray`: a zarr array of a run directory whose reads refuse damaged chunks instead of returning wrong values.

zarr reads a missing chunk file as the fill value (`inf`, 0, NaN): silently wrong data. A chunk cut short or
overwritten fails deep inside its codec, or worse: blosc decodes a chunk cut short without noticing, reading past
its end. Reads through a `CheckedArray` first check that every chunk they touch along the first axis has its file
(`ROOT/ARRAY/c/INDEX/0/...`) and, for blosc, the size its header records; a chunk that is missing, cut short or
does not decode is a one-line error naming the file, the frames it holds and `fix` (rerun the command that made
the run, which rewrites damaged chunks). Everything else (shape, dtype, chunks, metadata) is the zarr array's.
On an object store (`fs`: its fsspec file system, `root`: the run's URL) the same checks read the object's size
and header.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from frobnoscope.engine.errors import FrobError, RunError

BLOSC_HEADER = 16  # version, versionlz, flags, typesize, then int32 LE: nbytes, blocksize, cbytes (the chunk's size)


class CheckedArray:
    def __init__(self, array: zarr.Array, root: Path | str, fix: str, error: type[FrobError] = RunError, fs=None):
        """`root`: the directory of the zarr group `array.path` is relative to (with `fs`: its URL)."""
        self._array, self._fix, self._error, self._fs = array, fix, error, fs
        self._root = root if fs is not None else Path(root)
        self._blosc = any(isinstance(codec, BloscCodec) for codec in array.metadata.codecs)

    def __getattr__(self, name: str):
        return getattr(self._array, name)

    def __len__(self) -> int:
        return self._array.shape[0]

    def __array__(self, dtype=None, copy=None):
        data = self[:]
        return data if dtype is None else data.astype(dtype)

    def __getitem__(self, selection):
        return self._read(selection, lambda: self._array[selection])

    def get_orthogonal_selection(self, selection):
        return self._read(selection, lambda: self._array.get_orthogonal_selection(selection))

    def _read(self, selection, read):
        chunks = self._chunks(selection)
        for index in chunks:
            self.check_chunk(index)
        try:
            return read()
        except (RuntimeError, ValueError):
            size = self._array.chunks[0]
            for index in chunks:  # which chunk: read each alone
                try:
                    self._array[index * size:(index + 1) * size]
                except (RuntimeError, ValueError):
                    raise self._damaged(index, "does not decode (cut short or overwritten)") from None
            raise

    def check_chunk(self, index: int) -> None:
        """The error `fix` names if chunk `index` is missing or cut short (it is not decoded)."""
        problem = self._chunk_problem(index)
        if problem:
            raise self._damaged(index, problem)

    def _chunk_problem(self, index: int) -> str | None:
        """"is missing", "is cut short" (a blosc chunk shorter than its header says: blosc would read past its end
        without noticing), or None."""
        path = self.chunk_file(index)
        try:
            if self._fs is not None:
                size = self._fs.size(path)
                header = self._fs.cat_file(path, start=0, end=BLOSC_HEADER) if size else b""
            else:
                with open(path, "rb") as f:
                    header = f.read(BLOSC_HEADER)
                    size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            return "is missing"
        if self._blosc and (len(header) < BLOSC_HEADER or int.from_bytes(header[12:16], "little") != size):
            return "is cut short"
        return None

    def _chunks(self, selection) -> list[int]:
        """Chunk indices along the first axis that `selection` (int, slice, index array, or a tuple led by one) reads."""
        first = selection[0] if isinstance(selection, tuple) and selection else selection
        n = self._array.shape[0]
        if isinstance(first, slice):
            frames = np.arange(*first.indices(n))
        elif first is Ellipsis or (isinstance(selection, tuple) and not selection):
            frames = np.arange(n)
        else:
            try:
                frames = np.asarray(first, dtype=np.int64).reshape(-1)
            except (TypeError, ValueError):
                return []
            frames = np.where(frames < 0, frames + n, frames)
            frames = frames[(frames >= 0) & (frames < n)]
        return sorted(set((frames // self._array.chunks[0]).tolist()))

    def chunk_file(self, index: int) -> Path | str:
        """The file of chunk `index` along the first axis (its URL on an object store)."""
        key = self._array.metadata.encode_chunk_key((index,) + (0,) * (self._array.ndim - 1))
        if self._fs is not None:
            return f"{self._root}/{self._array.path}/{key}"
        return self._root / self._array.path / key

    def _damaged(self, index: int, problem: str) -> FrobError:
        size = self._array.chunks[0]
        last = min((index + 1) * size, self._array.shape[0]) - 1
        return self._error(f"{self.chunk_file(index)} (frames {index * size}-{last} of {self._array.path}) {problem}; "
                           f"{self._fix}")
