"""What one export is: its format, the frames and channels it writes, where it goes, and the frames
themselves as read from the store block by block."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from frobnoscope.engine.errors import FrobError
from frobnoscope.scenes.channels import CHANNELS_BY_NAME
from frobnoscope.scenes.store import DatasetStore

SPLITS = ("train", "val", "test")
UNSPLIT = "train"  # shard and file name for the frames of a dataset without splits
FRAME_DIGITS = 6  # frame 12 of the source store is `frame_000012` in every format that names frames by index


class ExportError(FrobError):
    """An export cannot be made as asked (bad format, channel, split, camera or output directory)."""


def frame_key(index: int) -> str:
    """The name of source frame `index` in file names and sample keys: `frame_000012`."""
    return f"frame_{index:0{FRAME_DIGITS}d}"


def pinhole(intrinsics: np.ndarray) -> tuple:
    """(..., 3, 3) pinhole intrinsics (pixels) -> fx, fy, cx, cy, each of shape (...)."""
    intrinsics = np.asarray(intrinsics)
    return intrinsics[..., 0, 0], intrinsics[..., 1, 1], intrinsics[..., 0, 2], intrinsics[..., 1, 2]


def dataset_has_splits(manifest: dict) -> bool:
    return any(frame["split"] is not None for frame in manifest["frames"])


@dataclass(frozen=True)
class ExportFormat:
    """How one format is written. `write(job, directory, advance)` fills `directory` and calls `advance()`
    once per frame written; `check(job)` refuses, before anything is written, a job the format cannot hold."""

    name: str
    summary: str  # one line for `frob export --help`
    write: Callable[[ExportJob, Path, Callable[[], None]], None]
    required_channels: tuple[str, ...] = ()  # always written, whatever --channels says
    default_channels: tuple[str, ...] | None = None  # without --channels; None: every channel
    libraries: tuple[str, ...] = ()  # importable modules from the `export` extra
    # its reader opens train, val and test together: the dataset needs all three, none empty, and --split is refused
    needs_every_split: bool = False
    check: Callable[[ExportJob], None] | None = None
    notes: Callable[[ExportJob], str] | None = None  # what to tell the user after the export


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
    """The frames (store indices, ascending) and channels (store order) one export writes, in which
    format and to which directory."""

    store: DatasetStore
    fmt: ExportFormat
    out: Path
    indices: tuple[int, ...]
    channels: tuple[str, ...]
    split: str | None

    @property
    def width(self) -> int:
        return self.store.manifest["width"]

    @property
    def height(self) -> int:
        return self.store.manifest["height"]

    @cached_property
    def camera_to_world(self) -> np.ndarray:
        """(N, 4, 4) float64 for every frame of the store (not only the job's), read once."""
        return self.store.channel("camera_to_world")[:]

    @cached_property
    def intrinsics(self) -> np.ndarray:
        """(N, 3, 3) float64 for every frame of the store (not only the job's), read once."""
        return self.store.channel("intrinsics")[:]

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
                    camera_to_world=self.camera_to_world[k], intrinsics=self.intrinsics[k],
                    channels={name: values[k - start] for name, values in data.items()},
                )
