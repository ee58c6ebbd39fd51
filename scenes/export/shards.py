"""Frames filed by split into numbered shards, for the formats that write shards (hf, webdataset)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from frobnoscope.scenes.export.job import ExportJob


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
        self.frame_counts = counts
        self.shard_counts = {split: math.ceil(count / self.frames_per_shard) for split, count in counts.items()}
        self.open: dict[str, tuple[int, object]] = {}  # split -> (shard number, writer)

    def shard_name(self, split: str, shard: int) -> str:
        return f"{split}-{shard:05d}-of-{self.shard_counts[split]:05d}{self.suffix}"

    def writer_for(self, index: int):
        split = self.split_of[index]
        shard = self.position[index] // self.frames_per_shard
        current = self.open.get(split)
        if current is None or current[0] != shard:
            if current is not None:
                self.close_shard(current[1])
            self.open[split] = (shard, self.open_shard(self.directory / self.shard_name(split, shard)))
        return self.open[split][1]

    def close(self) -> None:
        for _, writer in self.open.values():
            self.close_shard(writer)
        self.open.clear()
