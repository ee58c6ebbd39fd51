"""`DatasetStore`: a directory holding a zarr (v3) group, one array per channel, and `manifest.json`.

Arrays are (N, H, W[, C]), chunked along the frame axis in blocks of `chunk_frames` frames and
compressed with Blosc (zstd, byte shuffle). `camera_to_world` (N, 4, 4) and `intrinsics` (N, 3, 3)
hold every frame's camera. The manifest records what made the dataset (command, family, config,
seed, package version), each frame's spec, factors, split and per-channel checksums.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec
from zarr.core.sync import sync

from .channels import CHANNELS, pixel_shape
from .errors import StoreError

MANIFEST = "manifest.json"
FORMAT = "frobnoscope.dataset/1"
COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")
CAMERA_ARRAYS = {"camera_to_world": (4, 4), "intrinsics": (3, 3)}


def package_version() -> str:
    try:
        return version("frobnoscope")
    except PackageNotFoundError:
        return "unknown"


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temp file beside `path`, then rename over it: readers never see half a file."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def checksum(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


def _fill_value(dtype: str):
    return np.inf if dtype.startswith("float") else 0


class DatasetStore:
    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        self._group = zarr.open_group(str(self.path), mode="r+")
        self._arrays = {name: self._group[name] for name in self.channel_names() if name in self._group}

    # --- creating and opening --------------------------------------------------------------

    @classmethod
    def create(cls, path, manifest: dict, *, cameras: np.ndarray, intrinsics: np.ndarray) -> DatasetStore:
        """Create the arrays (empty) and write the manifest; `manifest` needs n, height, width, n_lights, chunk_frames."""
        path = Path(path)
        n, height, width = manifest["n"], manifest["height"], manifest["width"]
        block = manifest["chunk_frames"]
        group = zarr.open_group(str(path), mode="w")
        for channel in CHANNELS:
            tail = (height, width, *pixel_shape(channel, manifest["n_lights"]))
            group.create_array(
                channel.name, shape=(n, *tail), chunks=(block, *tail), dtype=channel.dtype,
                compressors=COMPRESSOR, fill_value=_fill_value(channel.dtype),
            )
        for name, values in (("camera_to_world", cameras), ("intrinsics", intrinsics)):
            group.create_array(name, data=np.asarray(values, dtype=np.float64), chunks=(n, *CAMERA_ARRAYS[name]))
        write_json_atomic(path / MANIFEST, manifest)
        return cls(path, manifest)

    @classmethod
    def open(cls, path) -> DatasetStore:
        manifest = read_manifest(path)
        return cls(Path(path), manifest)

    # --- frames ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.manifest["n"]

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    def channel(self, name: str) -> zarr.Array:
        if name not in self._arrays:
            raise StoreError(f"{self.path} has no channel {name!r}; channels: {', '.join(self.channel_names())}")
        return self._arrays[name]

    def channel_names(self) -> list[str]:
        return [c.name for c in CHANNELS] + list(CAMERA_ARRAYS)

    def write_block(self, start: int, frames: list[dict[str, np.ndarray]]) -> list[dict[str, str]]:
        """Write frames start, start+1, ... (a whole number of chunks, or the tail) in one go;
        return each frame's per-channel checksums."""
        stacked = {c.name: np.stack([f[c.name] for f in frames]).astype(c.dtype, copy=False) for c in CHANNELS}
        stop = start + len(frames)

        async def write_all():
            await asyncio.gather(*(self._arrays[name]._async_array.setitem(slice(start, stop), data) for name, data in stacked.items()))

        sync(write_all())
        return [{name: checksum(data[i]) for name, data in stacked.items()} for i in range(len(frames))]

    def read_frame(self, k: int, channels=None) -> dict[str, np.ndarray]:
        if not 0 <= k < len(self):
            raise StoreError(f"frame {k} is out of range; {self.path} holds frames 0 to {len(self) - 1}")
        return {name: self.channel(name)[k] for name in (channels or self.channel_names())}

    def damaged_frames(self, on_block=None) -> dict[int, list[str]]:
        """Frame -> channels whose data no longer match the manifest's checksums (read block by block)."""
        damaged: dict[int, list[str]] = {}
        block = self.manifest["chunk_frames"]
        for start in range(0, len(self), block):
            stop = min(start + block, len(self))
            for channel in CHANNELS:
                try:
                    data = self._arrays[channel.name][start:stop]
                except Exception:  # a corrupt chunk fails to decode: every frame in it is damaged
                    data = None
                for k in range(start, stop):
                    expected = self.manifest["frames"][k].get("checksums", {}).get(channel.name)
                    if data is None or expected != checksum(data[k - start]):
                        damaged.setdefault(k, []).append(channel.name)
            if on_block:
                on_block(stop - start)
        return damaged


def read_manifest(path) -> dict:
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise StoreError(f"{path} is not a frobnoscope dataset (no {MANIFEST}); make one with `frob scenes generate`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise StoreError(f"{manifest_path} is not valid JSON ({error.msg}); regenerate the dataset") from None
    if manifest.get("format") != FORMAT:
        raise StoreError(f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}; regenerate it with this version")
    return manifest
