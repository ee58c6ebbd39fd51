"""`generate`: render a family's frames with every ground-truth channel into a `DatasetStore`.

A `GenerateConfig` (family, its settings, n, seed, chunk_frames) defines the dataset; the manifest stores it
resolved as `params` ({family, seed, n, config: the family's full settings, chunk_frames}), and a rerun into the same
directory with other params is refused.

Work is done in blocks of `chunk_frames` frames (one zarr chunk per channel). Each finished block
is appended to `progress.jsonl` with its checksums; a rerun of the same command skips the blocks
listed there and redoes any other (a block cut off half-written is simply written again). When all
blocks are done the checksums move into `manifest.json` (atomic rename) and the journal is removed.
A rerun first checks what is there, finished or not (`scenes.repair.check_and_repair`): temp files of
interrupted writes go, missing or changed zarr metadata is written back, and a block recorded as done is kept only
if its chunks decode to its recorded checksums, so a dataset damaged by anything (two jobs at once before the
writer lock, a full disk, a deleted file) is repaired by rerunning the command that made it.
Workers write their blocks themselves (encode, then each chunk file atomically: temp file and rename) wherever
they see `out` as this process does: local workers always, Ray workers when `out` is on storage the cluster shares
(each worker checks for a marker file this process writes in `out` before handing out blocks). A Ray worker that
does not see the marker returns its frames and this process writes them, so nothing depends on a shared filesystem.
Either way a block is journalled (with its writer, `host:pid`) only after all its chunks are written, by this
process, which alone writes the journal and the manifest.

`out` may be a prefix on an object store, `s3://bucket/prefix` (any fsspec URL; `engine.storage`), which every
worker that can reach it shares: workers then write their chunks there themselves (one PUT per chunk, atomic),
this process writes the manifest (first unfinished, last complete) and the journal (one object per block, since
objects cannot be appended to), and a rerun resumes and repairs as on a disk. The endpoint and credentials come
from each process's environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...): a Ray worker that lacks them does
not see the marker and returns its frames (this process then writes them, and says so on the log).
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.config import validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.executor import block_runner, check_workers
from frobnoscope.engine.journal import JOURNAL, JOURNAL_OBJECTS
from frobnoscope.engine.runs import MANIFEST, package_version
from frobnoscope.engine.storage import location
from frobnoscope.scenes.channels import CHANNELS, pixel_shape
from frobnoscope.scenes.errors import StoreError
from frobnoscope.scenes.families import Family, make_family
from frobnoscope.scenes.generate_config import GenerateConfig
from frobnoscope.scenes.ground_truth import ground_truth
from frobnoscope.scenes.render import Renderer
from frobnoscope.scenes.repair import check_and_repair
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.store import CAMERA_ARRAYS, CHECKSUM, FORMAT, DatasetStore, load_raw_manifest

# Pooled workers rasterize on their own thread (LP_NUM_THREADS=0: llvmpipe without its rasterizer threads,
# 3 to 4 ms a frame cheaper than one such thread) and one BLAS thread: the pool already keeps every core busy.
POOL_ENV = {"LP_NUM_THREADS": "0", "OMP_NUM_THREADS": "1"}
log = logging.getLogger(__name__)


def render_frame(family: Family, k: int, renderer: Renderer, scenes: dict) -> dict[str, np.ndarray]:
    """RGB and every ground-truth channel of frame k. `scenes` caches built scenes by `scene_key`."""
    frame = family.frame(k)
    scene = scenes.get(frame.scene_key) if frame.scene_key is not None else None
    if scene is None:
        scene = Scene(frame.spec)
        if frame.scene_key is not None:
            scenes[frame.scene_key] = scene
    channels = ground_truth(scene, frame.spec.camera)
    channels["rgb"] = renderer.render(scene, frame.spec.camera).rgb
    return channels


class WrittenBlock(list):
    """A block a worker wrote into the store itself: each frame's checksums (the list), and who wrote it (`writer`:
    `host:pid`)."""

    def __init__(self, checksums: list[dict[str, str]], writer: str):
        super().__init__(checksums)
        self.writer = writer


class GenerateWorker:
    """Per-process state: the family, an OpenGL context and, with `out`, the store (opened at the first
    block: workers start while the parent is still writing the manifest). `block` renders the frames and
    returns them (`out` None, or `out/marker` not visible here: storage not shared with the parent) or stores
    them and returns a `WrittenBlock`."""

    def __init__(self, family_name: str, seed: int, config: dict, out: str | None, marker: str | None = None):
        self.family = make_family(family_name, seed, config)
        self.renderer = Renderer()
        self.out, self.marker = out, marker
        self.shared: bool | None = None  # whether this worker sees `out` as the parent does; checked at the first block
        self.store: DatasetStore | None = None
        self.scenes: dict = {}

    def block(self, start: int, stop: int) -> WrittenBlock | list[dict[str, np.ndarray]]:
        frames = [render_frame(self.family, k, self.renderer, self.scenes) for k in range(start, stop)]
        if self.shared is None:
            self.shared = self.out is not None and (self.marker is None or _sees(self.out, self.marker))
        if not self.shared:
            return frames
        self.store = self.store or DatasetStore.open(self.out)
        return WrittenBlock(self.store.write_block(start, frames), f"{socket.gethostname()}:{os.getpid()}")

    def close(self) -> None:
        self.renderer.close()


def _sees(out: str, marker: str) -> bool:
    """Whether this process sees `out/marker` (False too where it cannot reach `out` at all)."""
    try:
        return location(out).exists(marker)
    except (FrobError, OSError) as error:
        log.warning("%s is not reachable from this worker (%s); the driver writes its blocks", out, error)
        return False


def _params(config: GenerateConfig) -> dict:
    return {"family": config.family, "seed": config.seed, "n": config.n, "config": config.settings,
            "chunk_frames": config.chunk_frames}


def _existing(out, config: GenerateConfig) -> dict | None:
    """The manifest of the dataset already at `out` (a location) if it was made by this job (finished or not,
    perhaps damaged), None if `out` is new, empty, or holds only what a dataset's creation left before its manifest
    was written; an error for anything else there, or for an `out` that cannot be written."""
    params = _params(config)
    names = out.names()
    if names:
        if MANIFEST in names:
            manifest = load_raw_manifest(out.path)
            if manifest.get("params") != params:
                stored = manifest.get("params") if isinstance(manifest.get("params"), dict) else {}
                differ = [k for k in params if stored.get(k) != params[k]]
                raise StoreError(f"{out} was made with different parameters ({', '.join(differ)}); choose another "
                                 "directory or delete it")
            return manifest
        if not _unfinished_creation(names):
            raise StoreError(f"{out} exists and is not a frobnoscope dataset; choose an empty or new directory")
    try:
        out.make_writable()
    except OSError as error:
        raise StoreError(f"cannot write to {out}: {error.strerror}; choose a writable directory") from None
    return None


def _unfinished_creation(names: list[str]) -> bool:
    """Whether a directory with these entries holds only what creating a dataset writes before its manifest (zarr
    arrays named after our channels, the journal, temp files): a creation cut off, which is started again from
    nothing."""
    known = {c.name for c in CHANNELS} | set(CAMERA_ARRAYS) | {"zarr.json", JOURNAL, JOURNAL_OBJECTS, ".write-test"}
    return all(name in known or name.endswith((".partial", ".tmp")) for name in names)


def _manifest(family: Family, config: GenerateConfig) -> tuple[dict, np.ndarray, np.ndarray]:
    """The manifest of a new dataset (every frame's spec and factors, not yet complete), its cameras and intrinsics."""
    n, chunk_frames = config.n, config.chunk_frames
    params = _params(config)
    frames = [family.frame(k) for k in range(n)]
    first = frames[0].spec.camera
    manifest = {
        "format": FORMAT, "checksum": CHECKSUM, "package_version": package_version(), "command": shlex.join(sys.argv),
        "params": params, "n": n, "height": first.height, "width": first.width,
        "n_lights": max(len(f.spec.lights) for f in frames), "chunk_frames": chunk_frames,
        "channels": {}, "complete": False,
        "frames": [{"index": k, "split": f.split, "factors": f.factors, "spec": f.spec.model_dump(mode="json")}
                   for k, f in enumerate(frames)],
    }
    manifest["channels"] = {
        c.name: {"dtype": c.dtype, "shape": [n, first.height, first.width, *pixel_shape(c, manifest["n_lights"])], "meaning": c.meaning}
        for c in CHANNELS
    }
    cameras = np.stack([f.spec.camera.pose() for f in frames])
    intrinsics = np.stack([f.spec.camera.intrinsics() for f in frames])
    return manifest, cameras, intrinsics


def _create(out, family: Family, config: GenerateConfig) -> DatasetStore:
    """Write the empty arrays and the manifest of a new dataset."""
    manifest, cameras, intrinsics = _manifest(family, config)
    return DatasetStore.create(out, manifest, cameras=cameras, intrinsics=intrinsics)


def generate(
    dataset: GenerateConfig | Mapping[str, Any] | str, *, out, workers: int = 1,
    on_progress: Callable[[int, int], None] | None = None, ray_address: str | None = None,
    workers_write: bool = True, **fields: Any,
) -> DatasetStore:
    """Generate (or finish) the dataset `dataset` defines, in `workers` local processes or, with `ray_address`, on
    `workers` actors of that Ray cluster. `dataset`: a `GenerateConfig` (or its fields as a mapping), or a family
    name with the other fields as keywords: `generate("orbit", n=10, settings={"res": 16}, out=...)`. `out`: a
    directory or an object store URL (`s3://bucket/prefix`, see the module's docstring). Settings
    that do not validate raise a `ConfigError` naming the field. `on_progress(done, total)` is called after every
    block. `workers_write=False`: workers return their frames and this process encodes and writes every chunk
    (the behaviour before workers wrote to shared storage; kept for comparison, see bench/bench_ray_writes.py)."""
    if isinstance(dataset, str):
        dataset = {"family": dataset, **fields}
    elif fields:
        raise TypeError(f"generate() got the dataset and also {', '.join(fields)}: give each field once")
    config = validate_config(GenerateConfig, dataset, "dataset settings")
    check_workers(workers)
    family = make_family(config.family, config.seed, config.settings)
    n, chunk_frames = config.n, config.chunk_frames
    out = location(out)
    stored = _existing(out, config)
    store, done = None, {}
    if stored is not None:
        checked = [0]

        def on_block(frames: int) -> None:
            checked[0] += frames
            if on_progress:
                on_progress(checked[0], n)

        store, done = check_and_repair(out, stored, *_manifest(family, config), on_block=on_block)
        if store.complete:
            if on_progress:
                on_progress(n, n)
            return store
    todo = [(s, min(s + chunk_frames, n)) for s in range(0, n, chunk_frames) if s not in done]
    marker = f".shared-storage.{uuid.uuid4().hex}.tmp"  # a temp name: a run cut off leaves it to the repair's clean-up
    spec = WorkerSpec(GenerateWorker, (config.family, config.seed, config.settings,
                                       out.url if workers_write else None, marker), pool_env=POOL_ENV)
    with block_runner(spec, min(workers, max(len(todo), 1)), ray_address) as run_blocks:
        store = store or _create(out, family, config)  # while the workers start
        out.write_bytes(marker, b"")  # after the manifest: a worker that sees the marker can open the store
        finished = n - sum(stop - start for start, stop in todo)
        if on_progress:
            on_progress(finished, n)
        warned = False
        with out.journal() as journal:
            for (start, _), result in run_blocks(todo):
                if isinstance(result, WrittenBlock):
                    checksums, writer = list(result), result.writer
                else:
                    if workers_write and not warned:
                        log.warning("a worker does not see %s as this process does (frames %d-%d): this process "
                                    "writes the blocks of such workers", out, start, start + len(result) - 1)
                        warned = True
                    checksums, writer = store.write_block(start, result), f"{socket.gethostname()}:{os.getpid()}"
                journal({"start": start, "checksums": checksums, "writer": writer})
                done[start] = checksums
                finished += len(checksums)
                if on_progress:
                    on_progress(finished, n)
    for start, checksums in done.items():
        for offset, frame_checksums in enumerate(checksums):
            store.manifest["frames"][start + offset]["checksums"] = frame_checksums
    store.manifest["complete"] = True
    out.write_json(MANIFEST, store.manifest)
    out.remove_journal()
    out.remove(marker)
    return store
