"""`generate`: render a family's frames with every ground-truth channel into a `DatasetStore`.

Work is done in blocks of `chunk_frames` frames (one zarr chunk per channel). Each finished block
is appended to `progress.jsonl` with its checksums; a rerun of the same command skips the blocks
listed there and redoes any other (a block cut off half-written is simply written again). When all
blocks are done the checksums move into `manifest.json` (atomic rename) and the journal is removed.
Local workers write their blocks themselves; on a Ray cluster they return the frames and this process
writes them, so nothing depends on a filesystem shared with the cluster.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.executor import block_runner
from frobnoscope.engine.runs import MANIFEST, package_version, write_json_atomic
from frobnoscope.scenes.channels import CHANNELS, pixel_shape
from frobnoscope.scenes.errors import StoreError
from frobnoscope.scenes.families import Family, make_family
from frobnoscope.scenes.ground_truth import ground_truth
from frobnoscope.scenes.render import Renderer
from frobnoscope.scenes.scene import Scene
from frobnoscope.scenes.store import CHECKSUM, FORMAT, DatasetStore, read_manifest

JOURNAL = "progress.jsonl"
# Pooled workers rasterize on their own thread (LP_NUM_THREADS=0: llvmpipe without its rasterizer threads,
# 3 to 4 ms a frame cheaper than one such thread) and one BLAS thread: the pool already keeps every core busy.
POOL_ENV = {"LP_NUM_THREADS": "0", "OMP_NUM_THREADS": "1"}
DEFAULT_CHUNK_FRAMES = 8


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


class GenerateWorker:
    """Per-process state: the family, an OpenGL context and, with `out`, the store (opened at the first
    block: workers start while the parent is still writing the manifest). `block` renders the frames and
    returns them (`out` None) or stores them and returns their checksums."""

    def __init__(self, family_name: str, seed: int, config: dict, out: str | None):
        self.family = make_family(family_name, seed, config)
        self.renderer = Renderer()
        self.out = out
        self.store: DatasetStore | None = None
        self.scenes: dict = {}

    def block(self, start: int, stop: int) -> list[dict[str, str]] | list[dict[str, np.ndarray]]:
        frames = [render_frame(self.family, k, self.renderer, self.scenes) for k in range(start, stop)]
        if self.out is None:
            return frames
        self.store = self.store or DatasetStore.open(self.out)
        return self.store.write_block(start, frames)

    def close(self) -> None:
        self.renderer.close()


def _params(family: Family, n: int, chunk_frames: int) -> dict:
    return {"family": family.name, "seed": family.seed, "n": n, "config": family.config.model_dump(), "chunk_frames": chunk_frames}


def _read_journal(path: Path) -> dict[int, list[dict[str, str]]]:
    """Finished blocks by start frame; a line cut short by a kill is ignored (that block is redone)."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
                done[int(entry["start"])] = entry["checksums"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return done


def _existing(out: Path, family: Family, n: int, chunk_frames: int) -> DatasetStore | None:
    """The dataset already at `out` if it was made by this job, None if `out` is new or empty;
    an error for anything else there, or for an `out` that cannot be written."""
    params = _params(family, n, chunk_frames)
    if out.exists() and any(out.iterdir()):
        manifest = read_manifest(out) if (out / MANIFEST).exists() else None
        if manifest is None:
            raise StoreError(f"{out} exists and is not a frobnoscope dataset; choose an empty or new --out")
        if manifest["params"] != params:
            differ = [k for k in params if manifest["params"].get(k) != params[k]]
            raise StoreError(f"{out} was made with different parameters ({', '.join(differ)}); choose another --out or delete it")
        return DatasetStore(out, manifest)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise StoreError(f"cannot write to {out}: {error.strerror}; choose a writable --out") from None
    return None


def _create(out: Path, family: Family, n: int, chunk_frames: int) -> DatasetStore:
    """Write the empty arrays and the manifest (every frame's spec and factors) of a new dataset."""
    params = _params(family, n, chunk_frames)
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
    return DatasetStore.create(out, manifest, cameras=cameras, intrinsics=intrinsics)


def frame_count(family: Family, n: int | None, workers: int = 1) -> int:
    """The job's number of frames, checked against the family (a full grid fixes it)."""
    if n is None:
        n = family.default_n()
        if n is None:
            raise StoreError(f"family {family.name} needs --n (the number of frames)")
    if family.default_n() is not None and n != family.default_n():
        raise StoreError(f"{family.name} is a full grid of {family.default_n()} frames; omit --n or change the grid levels")
    if n < 1:
        raise StoreError("--n must be at least 1")
    if workers < 1:
        raise StoreError("--workers must be at least 1")
    return n


def generate(
    family_name: str, *, n: int | None, seed: int, out, workers: int = 1, settings: dict | None = None,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES, on_progress: Callable[[int, int], None] | None = None,
    ray_address: str | None = None,
) -> DatasetStore:
    """Generate (or finish) a dataset, in `workers` local processes or, with `ray_address`, on `workers` actors
    of that Ray cluster. `on_progress(done, total)` is called after every block."""
    family = make_family(family_name, seed, settings)
    n = frame_count(family, n, workers)
    out = Path(out)
    store = _existing(out, family, n, chunk_frames)
    if store is not None and store.complete:
        if on_progress:
            on_progress(n, n)
        return store
    journal_path = out / JOURNAL
    done = _read_journal(journal_path) if store is not None else {}
    todo = [(s, min(s + chunk_frames, n)) for s in range(0, n, chunk_frames) if s not in done]
    writes_itself = ray_address is None
    spec = WorkerSpec(GenerateWorker, (family.name, family.seed, family.config.model_dump(),
                                       str(out) if writes_itself else None), pool_env=POOL_ENV)
    with block_runner(spec, min(workers, max(len(todo), 1)), ray_address) as run_blocks:
        store = store or _create(out, family, n, chunk_frames)  # while the workers start
        finished = n - sum(stop - start for start, stop in todo)
        if on_progress:
            on_progress(finished, n)
        with open(journal_path, "a") as journal:
            for (start, _), result in run_blocks(todo):
                checksums = result if writes_itself else store.write_block(start, result)
                journal.write(json.dumps({"start": start, "checksums": checksums}) + "\n")
                journal.flush()
                done[start] = checksums
                finished += len(checksums)
                if on_progress:
                    on_progress(finished, n)
    for start, checksums in done.items():
        for offset, frame_checksums in enumerate(checksums):
            store.manifest["frames"][start + offset]["checksums"] = frame_checksums
    store.manifest["complete"] = True
    write_json_atomic(out / MANIFEST, store.manifest)
    journal_path.unlink(missing_ok=True)
    return store
