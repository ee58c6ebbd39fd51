"""`DatasetStore`: a directory holding a zarr (v3) group, one array per channel, and `manifest.json`.

The directory may be a prefix on an object store instead (`s3://bucket/prefix`: `engine.storage`, each file an
object written with one PUT); `path` is then that URL.

Arrays are (N, H, W[, C]), chunked along the frame axis in blocks of `chunk_frames` frames and
compressed with Blosc (lz4, byte shuffle). `camera_to_world` (N, 4, 4) and `intrinsics` (N, 3, 3)
hold every frame's camera. The manifest records what made the dataset (command, family, config,
seed, package version), each frame's spec, factors, split and per-channel checksums.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import xxhash
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec, BytesCodec

from frobnoscope.engine.checked_array import CheckedArray
from frobnoscope.engine.runs import MANIFEST, load_manifest
from frobnoscope.engine.storage import LocalDir, is_url, location
from frobnoscope.scenes.channels import CHANNELS, pixel_shape
from frobnoscope.scenes.errors import StoreError

FORMAT = "frobnoscope.dataset/1"
# lz4: a tabletop frame at 128x128 encodes in 0.9 ms (zstd level 1: 2.2 ms) and decodes faster; 4.1x smaller than
# raw (zstd level 1: 4.7x)
COMPRESSOR = BloscCodec(cname="lz4", clevel=9, shuffle="shuffle")
SHUFFLES = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
CHECKSUM = "xxh3_128"  # of each frame's raw bytes, per channel; written to the manifest as "checksum"
CAMERA_ARRAYS = {"camera_to_world": (4, 4), "intrinsics": (3, 3)}


def _chunk_encoder(array: zarr.Array) -> Callable[[np.ndarray], bytes]:
    """A function encoding a whole chunk as `array`'s codecs do: little-endian bytes, then blosc."""
    codecs = array.metadata.codecs
    if len(codecs) != 2 or not isinstance(codecs[0], BytesCodec) or not isinstance(codecs[1], BloscCodec):
        raise StoreError(f"{array.path} has codecs {codecs}, not bytes+blosc; regenerate the dataset with this version")
    blosc = codecs[1]
    encoder = Blosc(cname=blosc.cname.name, clevel=blosc.clevel, shuffle=SHUFFLES[blosc.shuffle.name],
                    blocksize=blosc.blocksize, typesize=blosc.typesize)

    def encode(data: np.ndarray) -> bytes:
        little_endian = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
        return encoder.encode(little_endian.view(np.uint8).reshape(-1))

    return encode


def checksum(array: np.ndarray, algorithm: str = CHECKSUM) -> str:
    """Hex digest of an array's C-order bytes (`blake2b` was the algorithm of earlier datasets)."""
    data = np.ascontiguousarray(array)
    if algorithm == "xxh3_128":
        return xxhash.xxh3_128_hexdigest(data)
    if algorithm == "blake2b":
        return hashlib.blake2b(data, digest_size=16).hexdigest()
    raise StoreError(f"unknown checksum algorithm {algorithm!r}; regenerate the dataset with this version")


def _fill_value(dtype: str):
    return np.inf if dtype.startswith("float") else 0


class DatasetStore:
    def __init__(self, path, manifest: dict):
        """`path`: a directory, an object store URL, or their `engine.storage` location."""
        self.location = location(path)
        self.path = self.location.path  # a Path, or the URL
        self.manifest = manifest
        try:
            self._group = zarr.open_group(self.location.zarr_store(), mode="r+")
        except (FileNotFoundError, ValueError, KeyError, zarr.errors.NodeTypeValidationError,
                zarr.errors.GroupNotFoundError) as error:
            raise StoreError(f"{self.location.url_of('zarr.json')} is missing or damaged ({type(error).__name__}); "
                             "rerun the `frob scenes generate` command that made it to repair it") from None
        self._fix = (f"the dataset is damaged; rerun the `frob scenes generate` command that made {self.path} to "
                     f"repair it (`frob scenes verify {self.path}` lists the damaged frames)")
        self._arrays: dict[str, CheckedArray] = {}
        for name in self.channel_names():
            try:
                self._arrays[name] = CheckedArray(self._group[name], self.path, self._fix, StoreError,
                                                  fs=self.location.fs)
            except (KeyError, ValueError, TypeError):  # missing, or its zarr.json damaged: `channel` says so
                continue
        self._encoders: dict[str, Callable[[np.ndarray], bytes]] = {}
        self._staged: dict[str, bytes] | None = None  # chunks of the block being written, written together

    # --- creating and opening --------------------------------------------------------------

    @classmethod
    def create(cls, path, manifest: dict, *, cameras: np.ndarray, intrinsics: np.ndarray) -> DatasetStore:
        """Create the arrays (empty) and write the manifest; `manifest` needs n, height, width, n_lights, chunk_frames."""
        where = location(path)
        n, height, width = manifest["n"], manifest["height"], manifest["width"]
        block = manifest["chunk_frames"]
        group = zarr.open_group(where.zarr_store(), mode="w")
        for channel in CHANNELS:
            tail = (height, width, *pixel_shape(channel, manifest["n_lights"]))
            group.create_array(
                channel.name, shape=(n, *tail), chunks=(block, *tail), dtype=channel.dtype,
                compressors=COMPRESSOR, fill_value=_fill_value(channel.dtype),
            )
        for name, values in (("camera_to_world", cameras), ("intrinsics", intrinsics)):
            group.create_array(name, data=np.asarray(values, dtype=np.float64), chunks=(n, *CAMERA_ARRAYS[name]))
        where.write_json(MANIFEST, manifest)
        return cls(where, manifest)

    @classmethod
    def open(cls, path) -> DatasetStore:
        """The dataset at `path` (a directory or an object store URL)."""
        where = location(path)
        manifest = read_manifest(where.path)
        return cls(where, manifest)

    # --- frames ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.manifest["n"]

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    def channel(self, name: str) -> CheckedArray:
        if name not in self._arrays:
            if name in self.channel_names():
                raise StoreError(f"{self.location.url_of(name)} is missing or damaged; rerun the `frob scenes generate` "
                                 "command that made it to repair it")
            raise StoreError(f"{self.path} has no channel {name!r}; channels: {', '.join(self.channel_names())}")
        return self._arrays[name]

    def channel_names(self) -> list[str]:
        return [c.name for c in CHANNELS] + list(CAMERA_ARRAYS)

    def check_files(self) -> None:
        """A `StoreError` naming the first array or chunk file that is missing or cut short (nothing is decoded)."""
        for name in self.channel_names():
            array = self.channel(name)
            for index in range(-(-array.shape[0] // array.chunks[0])):
                array.check_chunk(index)

    def write_block(self, start: int, frames: list[dict[str, np.ndarray]]) -> list[dict[str, str]]:
        """Write frames start, start+1, ... (a whole number of chunks, or the tail) in one go;
        return each frame's per-channel checksums. The chunks are written together once all are encoded (on an object
        store, concurrently)."""
        block = self.manifest["chunk_frames"]
        if start % block or (len(frames) % block and start + len(frames) != len(self)):
            raise ValueError(f"write_block needs whole chunks of {block} frames (or the tail), got {start}+{len(frames)}")
        stacked = {c.name: np.stack([f[c.name] for f in frames], dtype=c.dtype) for c in CHANNELS}
        self._staged = {}
        try:
            for name, data in stacked.items():
                for offset in range(0, len(frames), block):
                    self._write_chunk(name, (start + offset) // block, data[offset:offset + block])
            self.location.write_many(self._staged)
        finally:
            self._staged = None
        return [{name: checksum(data[i]) for name, data in stacked.items()} for i in range(len(frames))]

    def _write_chunk(self, name: str, index: int, data: np.ndarray) -> None:
        """Encode one whole chunk along the frame axis and write its file atomically (inside `write_block`: stage
        it, and `write_block` writes them all).

        The same bytes zarr would write (its `bytes` then `blosc` codecs, see `_chunk_encoder`),
        without zarr's per-call async machinery, which costs several times the compression itself.
        A tail chunk is padded with the fill value, as zarr stores edge chunks.
        """
        array = self._arrays[name]
        if len(data) < array.chunks[0]:
            padding = np.full((array.chunks[0] - len(data), *data.shape[1:]), array.fill_value, dtype=data.dtype)
            data = np.concatenate([data, padding])
        key = array.metadata.encode_chunk_key((index,) + (0,) * (data.ndim - 1))
        if name not in self._encoders:
            self._encoders[name] = _chunk_encoder(array)
        encoded = self._encoders[name](data)
        if self._staged is not None:
            self._staged[f"{name}/{key}"] = encoded
        else:
            self.location.write_bytes(f"{name}/{key}", encoded)

    def read_frame(self, k: int, channels=None) -> dict[str, np.ndarray]:
        if not 0 <= k < len(self):
            raise StoreError(f"frame {k} is out of range; {self.path} holds frames 0 to {len(self) - 1}")
        return {name: self.channel(name)[k] for name in (channels or self.channel_names())}

    def damaged_frames(self, on_block=None) -> dict[int, list[str]]:
        """Frame -> channels whose data no longer match the manifest's checksums (read block by block)."""
        damaged: dict[int, list[str]] = {}
        algorithm = self.manifest.get("checksum", "blake2b")
        block = self.manifest["chunk_frames"]
        for start in range(0, len(self), block):
            stop = min(start + block, len(self))
            for channel in CHANNELS:
                try:
                    data = self._arrays[channel.name][start:stop]
                except (KeyError, StoreError, RuntimeError, ValueError):  # no array, or a chunk missing or corrupt
                    data = None
                for k in range(start, stop):
                    expected = self.manifest["frames"][k].get("checksums", {}).get(channel.name)
                    if data is None or expected != checksum(data[k - start], algorithm):
                        damaged.setdefault(k, []).append(channel.name)
            if on_block:
                on_block(stop - start)
        return damaged


def read_manifest(path) -> dict:
    """The manifest of a dataset made by `frob scenes generate`, checked (see `load_manifest` and `manifest_problem`)."""
    manifest = load_raw_manifest(path)
    problem = manifest_problem(manifest)
    if problem:
        raise StoreError(f"{location(path).url_of(MANIFEST)} is damaged ({problem}); rerun the `frob scenes generate` "
                         "command that made it to repair it")
    return manifest


def load_raw_manifest(path) -> dict:
    """The manifest, only checked to be JSON of the dataset format (what `frob scenes generate` repairs)."""
    return load_manifest(location(path) if is_url(path) else path, expected_format=FORMAT,
                         what="a frobnoscope dataset", make_with="frob scenes generate", error=StoreError)


LAYOUT_KEYS = {"n": int, "height": int, "width": int, "n_lights": int, "chunk_frames": int, "params": dict,
               "channels": dict, "frames": list}


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with a dataset manifest's layout (a key missing or of the wrong type, a channel or frame
    missing), or None."""
    for key, kind in LAYOUT_KEYS.items():
        if not isinstance(manifest.get(key), kind) or (kind is int and manifest[key] < (0 if key == "n_lights" else 1)):
            return f"no valid {key!r}"
    missing = [c.name for c in CHANNELS if c.name not in manifest["channels"]]
    if missing:
        return f"'channels' lacks {', '.join(missing)}"
    if len(manifest["frames"]) != manifest["n"] or not all(isinstance(f, dict) and "spec" in f
                                                           for f in manifest["frames"]):
        return f"'frames' does not hold {manifest['n']} frames with their specs"
    return None


def dataset_reference(store: DatasetStore) -> dict:
    """{path, manifest_blake2b, params}: enough to tell whether a run was made from this very dataset."""
    manifest_bytes = store.location.read_bytes(MANIFEST)
    if manifest_bytes is None:
        raise StoreError(f"{store.location.url_of(MANIFEST)} is missing; rerun the `frob scenes generate` command that "
                         "made it to repair it")
    where = str(store.path.resolve()) if isinstance(store.location, LocalDir) else store.path
    return {"path": where, "manifest_blake2b": hashlib.blake2b(manifest_bytes, digest_size=16).hexdigest(),
            "params": store.manifest.get("params")}
