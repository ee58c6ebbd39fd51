"""What every exporter shares: the job (which frames, which channels), frames read block by block
from the store, the encodings used at the file boundary, shards, and the atomic output directory.

RGB at the file boundary: the store's `rgb` is float32 linear, decoded from pyrender's 8-bit output
by `colors.render_to_linear`. Exports write those 8-bit values back (`colors.linear_to_render`), so
every PNG holds exactly the rendered pixels and `render_to_linear(png)` gives the store's float32 back
bit for bit. The bytes are 1/2.2-gamma encoded, which viewers show as sRGB; re-encoding them with the
exact sRGB curve would merge 10 of the 256 levels and move others by up to 9, so exports do not.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from ..channels import CHANNELS_BY_NAME
from ..colors import linear_to_render
from ..errors import FrobError
from ..store import MANIFEST, DatasetStore, package_version

EXPORT_FORMAT = "frobnoscope.export/1"
EXTRA_HINT = "pip install 'frobnoscope[export]'"
PNG_COMPRESS_LEVEL = 1  # zlib level: lossless at any level; 1 writes fastest
UNSPLIT = "train"  # shard and file name for the frames of a dataset without splits
SPLITS = ("train", "val", "test")

CONVENTIONS = """\
- World: right-handed, +Y up, scene units. Cameras: `camera_to_world` 4x4 in the OpenGL convention
  (+X right, +Y up, the camera looks down -Z), as pyrender and nerfstudio's `transform_matrix`.
- Intrinsics `fx fy cx cy` in pixels; pixel (row i, col j) is sampled at its centre, the image point
  (j + 0.5, i + 0.5) measured from the top-left corner.
- Depth: `depth_z` is the distance along the camera's -Z axis, `depth_ray` the distance along the pixel's ray.
- Background: `inf` in float channels, 0 in integer channels (object id 0 is the background).
- Normals: unit vectors, world frame (`normal_world`) and camera frame (`normal_cam`).
- RGB: PNG bytes are the renderer's own 8-bit output (1/2.2 gamma, shown by viewers as sRGB); the source
  dataset's linear float32 `rgb` is `np.power(png.astype(np.float32) / 255, np.float32(2.2))`, bit for bit
  (`frobnoscope.scenes.colors.render_to_linear`).
- Ids: object id = 1 + index in the frame's `spec.objects`; factors list each object with its `object_id`.
"""


class ExportError(FrobError):
    """An export cannot be made as asked (bad format, channel, split or output directory)."""


@dataclass(frozen=True)
class ExportFrame:
    """One frame as exporters see it. `index` is the frame's index in the source store."""

    index: int
    split: str | None
    factors: dict
    camera_to_world: np.ndarray  # (4, 4) float64, OpenGL convention
    intrinsics: np.ndarray  # (3, 3) float64, pixels
    channels: dict[str, np.ndarray]  # name -> (H, W[, C]) array with the store's dtype


@dataclass(frozen=True)
class ExportJob:
    """The frames (store indices, ascending) and channels (store order) one export writes."""

    store: DatasetStore
    indices: tuple[int, ...]
    channels: tuple[str, ...]
    split: str | None

    @property
    def width(self) -> int:
        return self.store.manifest["width"]

    @property
    def height(self) -> int:
        return self.store.manifest["height"]

    @property
    def has_splits(self) -> bool:
        return dataset_has_splits(self.store.manifest)

    def frame_split(self, index: int) -> str | None:
        return self.store.manifest["frames"][index]["split"]

    def output_split(self, index: int) -> str:
        """The split a frame is filed under: its own, or `UNSPLIT` for a dataset without splits."""
        return self.frame_split(index) or UNSPLIT

    def channel_pixel_shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.store.manifest["channels"][name]["shape"][1:])

    def bytes_per_frame(self) -> int:
        return sum(math.prod(self.channel_pixel_shape(name)) * np.dtype(CHANNELS_BY_NAME[name].dtype).itemsize
                   for name in self.channels)

    def frames(self) -> Iterator[ExportFrame]:
        """The job's frames in index order, each channel read once per store chunk (not once per frame)."""
        manifest = self.store.manifest
        cameras = self.store.channel("camera_to_world")[:]
        intrinsics = self.store.channel("intrinsics")[:]
        block = manifest["chunk_frames"]
        wanted = list(self.indices)
        while wanted:
            start = wanted[0] // block * block
            stop = min(start + block, len(self.store))
            in_block = [k for k in wanted if k < stop]
            wanted = wanted[len(in_block):]
            data = {name: self.store.channel(name)[start:stop] for name in self.channels}
            for k in in_block:
                yield ExportFrame(
                    index=k, split=manifest["frames"][k]["split"], factors=manifest["frames"][k]["factors"],
                    camera_to_world=cameras[k], intrinsics=intrinsics[k],
                    channels={name: values[k - start] for name, values in data.items()},
                )


def dataset_has_splits(manifest: dict) -> bool:
    return any(frame["split"] is not None for frame in manifest["frames"])


@dataclass(frozen=True)
class ExportFormat:
    """How one format is written. `write(job, directory, advance)` fills `directory` and calls `advance()`
    once per frame written."""

    name: str
    summary: str
    write: Callable[[ExportJob, Path, Callable[[], None]], None]
    required_channels: tuple[str, ...] = ()  # always written, whatever --channels says
    default_channels: tuple[str, ...] | None = None  # without --channels; None: every channel
    libraries: tuple[str, ...] = ()  # importable modules from the `export` extra
    needs_splits: bool = False
    notes: Callable[[Path], str] | None = None  # what to tell the user after the export


# --- file encodings ---------------------------------------------------------------------------


def rgb_to_u8(rgb: np.ndarray) -> np.ndarray:
    """Store `rgb` (float32 linear) -> the renderer's 8-bit pixels, exactly (see the module docstring)."""
    return linear_to_render(rgb)


def foreground_u8(object_id: np.ndarray) -> np.ndarray:
    """255 where a pixel sees an object (object_id > 0), 0 on background."""
    return np.where(object_id > 0, 255, 0).astype(np.uint8)


def png_bytes(image_u8: np.ndarray) -> bytes:
    """8-bit grey (H, W), RGB (H, W, 3) or RGBA (H, W, 4) -> PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_u8)).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """Lossless `.npy` (dtype, shape, inf and NaN kept)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n")


def camera_record(frame: ExportFrame) -> dict:
    """The frame's camera as JSON: 4x4 camera-to-world (OpenGL) and 3x3 intrinsics (pixels)."""
    return {"camera_to_world": frame.camera_to_world.tolist(), "intrinsics": frame.intrinsics.tolist()}


# --- shards -----------------------------------------------------------------------------------


class ShardedFiles:
    """Frames filed by split into shards of about `target_bytes` of raw channel data each, named
    `{split}-{shard:05d}-of-{count:05d}{suffix}`. One shard per split is open at a time: `open_shard(path)`
    makes a writer, `close_shard(writer)` finishes it."""

    def __init__(self, job: ExportJob, directory: Path, suffix: str, target_bytes: int,
                 open_shard: Callable[[Path], object], close_shard: Callable[[object], None]):
        self.directory, self.suffix = directory, suffix
        self.open_shard, self.close_shard = open_shard, close_shard
        self.frames_per_shard = max(1, target_bytes // max(1, job.bytes_per_frame()))
        self.split_of = {k: job.output_split(k) for k in job.indices}
        self.position: dict[int, int] = {}  # frame index -> position within its split
        counts: dict[str, int] = {}
        for k in job.indices:
            self.position[k] = counts.get(self.split_of[k], 0)
            counts[self.split_of[k]] = self.position[k] + 1
        self.shard_counts = {split: math.ceil(count / self.frames_per_shard) for split, count in counts.items()}
        self.open: dict[str, tuple[int, object]] = {}  # split -> (shard number, writer)
        self.paths: list[Path] = []

    def shard_name(self, split: str, shard: int) -> str:
        return f"{split}-{shard:05d}-of-{self.shard_counts[split]:05d}{self.suffix}"

    def writer_for(self, index: int):
        split = self.split_of[index]
        shard = self.position[index] // self.frames_per_shard
        current = self.open.get(split)
        if current is None or current[0] != shard:
            if current is not None:
                self.close_shard(current[1])
            path = self.directory / self.shard_name(split, shard)
            self.paths.append(path)
            self.open[split] = (shard, self.open_shard(path))
        return self.open[split][1]

    def close(self) -> None:
        for _, writer in self.open.values():
            self.close_shard(writer)
        self.open.clear()


# --- output directory, manifest and optional libraries -----------------------------------------


def check_new_output(out: Path) -> None:
    if out.exists():
        raise ExportError(f"{out} already exists; export never overwrites: choose a new --out or delete it")


@contextmanager
def atomic_directory(out: Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside `out`; when the block succeeds it is renamed to `out`,
    when it fails (or is interrupted) it is removed, so `out` is either complete or absent."""
    out = Path(out)
    check_new_output(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    except OSError as error:
        raise ExportError(f"cannot write beside {out}: {error.strerror}; choose a writable --out") from None
    try:
        yield temp
        temp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(temp, out)
        except OSError:
            raise ExportError(f"{out} appeared while exporting; nothing was written to it: choose a new --out") from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def export_manifest(job: ExportJob, format_name: str) -> dict:
    """What made the export: command, source dataset (path, manifest hash, parameters), frames, channels."""
    source_manifest = (job.store.path / MANIFEST).read_bytes()
    return {
        "format": EXPORT_FORMAT, "export_format": format_name, "package_version": package_version(),
        "command": shlex.join(sys.argv),
        "source": {"path": str(job.store.path.resolve()), "manifest_blake2b": hashlib.blake2b(source_manifest, digest_size=16).hexdigest(),
                   "params": job.store.manifest["params"]},
        "split": job.split, "channels": list(job.channels), "frames": list(job.indices),
        "width": job.width, "height": job.height,
    }


def require(module: str, format_name: str) -> ModuleType:
    """Import an optional library, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"--format {format_name} needs the Python package {module!r}; install it with: {EXTRA_HINT}") from None
