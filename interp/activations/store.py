"""`ActivationStore`: a model's activations on a dataset, per hook point, with ground truth pooled to each layer's grid.

Run directory (made by `frobnoscope.interp.activations.capture.capture`, `frob capture`):
  manifest.json                    format frobnoscope.activations/1: command, config, model (spec, name), dataset (path,
                                   manifest hash), frames, splits (per frame), hooks {name: {shape: [h, w, C]}},
                                   gt (pooled channel names), factors (names), complete
  progress.jsonl                   journal of finished frame blocks while capturing (removed when complete)
  activations.zarr/                zarr v3 group
    <hook>/acts                    (N, h, w, C) float16 or float32: the hook point's output, channels last; each
                                   spatial position (frame, row, col) is one token
    <hook>/gt/<channel>            ground truth pooled onto the hook's (h, w) grid (see `gt_pooling`): float32 area
                                   means (NaN where a cell is all background), majority labels with
                                   `<channel>_purity`, `edges` as the edge-pixel share, `background_fraction`
    factors/<name>                 (N,) float64 per-frame factors (numeric ones from the dataset manifest, plus
                                   sin/cos of every azimuth)
Arrays are chunked by blocks of frames (the capture batch size) and Blosc-compressed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import zarr

from frobnoscope.engine.checked_array import CheckedArray
from frobnoscope.engine.runs import load_manifest, require_keys
from frobnoscope.interp.errors import InterpError

ACTIVATIONS_FORMAT = "frobnoscope.activations/1"
ZARR = "activations.zarr"
ACTS = "acts"
GT = "gt"
FACTORS = "factors"


def frame_factors(frame: dict) -> dict[str, float]:
    """A dataset frame's numeric per-frame factors (bools and nested values skipped), plus `<name>_sin`/`_cos` of
    every factor whose name holds `azimuth` and ends in `_deg` (an angle is not linear in degrees)."""
    factors = {}
    for name, value in frame.get("factors", {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        factors[name] = float(value)
        if "azimuth" in name and name.endswith("_deg"):
            stem = name.removesuffix("_deg")
            factors[f"{stem}_sin"] = math.sin(math.radians(value))
            factors[f"{stem}_cos"] = math.cos(math.radians(value))
    return factors


MANIFEST_KEYS = {"config": dict, "model": dict, "dataset": dict, "frames": int, "splits": list, "hooks": dict,
                 "gt": list, "factors": list}


def check_manifest(run, manifest: dict) -> dict:
    """A capture run's manifest, with every key its readers use (a one-line `InterpError` naming the one missing)."""
    return require_keys(run, manifest, MANIFEST_KEYS, make_with="frob capture", error=InterpError)


def same_model(a: dict, b: dict) -> bool:
    """Whether two manifests' `model` records ({spec, name, random_weights_seed}) name the same weights: the same
    kind of spec, the same random seed, and the same path (resolved: `taesd:./m` and `taesd:/abs/m` agree) or, for
    a copy (a workspace copied or moved), files with the same names and bytes. A path that is gone cannot be
    compared and counts as the same."""
    def key(record: dict) -> tuple:
        kind, _, where = str(record.get("spec", "")).partition(":")
        return kind, os.path.realpath(where) if where else "", record.get("random_weights_seed")

    (kind_a, where_a, seed_a), (kind_b, where_b, seed_b) = key(a), key(b)
    if (kind_a, seed_a) != (kind_b, seed_b) or (where_a == where_b):
        return (kind_a, seed_a, where_a) == (kind_b, seed_b, where_b)
    prints = _fingerprint(where_a), _fingerprint(where_b)
    return None in prints or prints[0] == prints[1]


def _fingerprint(where: str) -> str | None:
    """blake2b of the names (relative) and bytes of a model's files: a directory's, or those a prefix names
    (`taesd:DIR/name` -> DIR/name_encoder.safetensors, ...); None if there are none."""
    path = Path(where)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else \
        sorted(p for p in path.parent.glob(f"{path.name}*") if p.is_file())
    if not files:
        return None
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        digest.update(str(file.relative_to(path if path.is_dir() else path.parent)).encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


class ActivationStore:
    """Read access to a capture run. Activations come back as float32 numpy arrays, channels last."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest
        try:
            self._group = zarr.open_group(str(self.path / ZARR), mode="r")
        except (FileNotFoundError, ValueError, zarr.errors.BaseZarrError):
            raise InterpError(f"{self.path / ZARR} is missing or damaged; {self._fix}") from None

    @property
    def _fix(self) -> str:
        return f"rerun the `frob capture` command that made {self.path} to repair it"

    def _array(self, *path: str) -> CheckedArray:
        """An array of the run, checked on every read (`engine.checked_array`)."""
        try:
            array = self._group["/".join(path)]
        except (KeyError, ValueError, TypeError, zarr.errors.BaseZarrError):
            raise InterpError(f"{self.path / ZARR / '/'.join(path)} is missing or damaged; {self._fix}") from None
        return CheckedArray(array, self.path / ZARR, f"the activation run is damaged; {self._fix}", InterpError)

    @classmethod
    def open(cls, run) -> ActivationStore:
        """Open a finished capture run; one-line `InterpError` if `run` is not one or is unfinished."""
        run = Path(run)
        manifest = load_manifest(run, expected_format=ACTIVATIONS_FORMAT, what="an activation run",
                                 make_with="frob capture", error=InterpError)
        check_manifest(run, manifest)
        if not manifest.get("complete"):
            raise InterpError(f"{run} is unfinished; finish it with the `frob capture` command that made it")
        return cls(run, manifest)

    # --- what the run holds --------------------------------------------------------------------------

    @property
    def dataset_path(self) -> Path:
        return Path(self.manifest["dataset"]["path"])

    @property
    def model_spec(self) -> str:
        return self.manifest["model"]["spec"]

    def __len__(self) -> int:
        """Number of frames."""
        return self.manifest["frames"]

    def hooks(self) -> list[str]:
        return list(self.manifest["hooks"])

    def shape(self, hook: str) -> tuple[int, int, int]:
        """(h, w, C) of one frame's activations at `hook`."""
        return tuple(self._hook(hook)["shape"])

    def splits(self) -> np.ndarray:
        """(N,) the dataset's split name of each frame (None where the dataset has no splits)."""
        return np.array(self.manifest["splits"], dtype=object)

    def gt_channels(self) -> list[str]:
        """Names under `<hook>/gt/` (the same for every hook)."""
        return list(self.manifest["gt"])

    # --- arrays --------------------------------------------------------------------------------------

    def acts(self, hook: str) -> CheckedArray:
        """The raw (N, h, w, C) array (stored dtype)."""
        self._hook(hook)
        return self._array(hook, ACTS)

    def frame_activations(self, hook: str, k: int) -> np.ndarray:
        """(h, w, C) float32 activations of frame k."""
        if not 0 <= k < len(self):
            raise InterpError(f"frame {k} is out of range; {self.path} holds frames 0 to {len(self) - 1}")
        return np.asarray(self.acts(hook)[k], dtype=np.float32)

    def gt(self, hook: str, channel: str) -> CheckedArray:
        """Pooled ground truth `channel` on `hook`'s grid: (N, h, w[, C]) zarr array (see `gt_pooling`)."""
        self._hook(hook)
        if channel not in self.manifest["gt"]:
            raise InterpError(f"{self.path} has no pooled channel {channel!r}; "
                              f"channels: {', '.join(self.manifest['gt'])}")
        return self._array(hook, GT, channel)

    def factors(self) -> dict[str, np.ndarray]:
        """{factor name: (N,) float64} per-frame factors."""
        return {name: np.asarray(self._array(FACTORS, name)[:]) for name in self.manifest["factors"]}

    def frame_blocks(self, hook: str, frames: Sequence[int] | None = None) -> Iterator[np.ndarray]:
        """The sorted frame indices (default: all) grouped by storage chunk, one int array per chunk touched."""
        block = self.acts(hook).chunks[0]
        selected = np.arange(len(self)) if frames is None else np.unique(np.asarray(frames, dtype=np.int64))
        if len(selected) and (selected[0] < 0 or selected[-1] >= len(self)):
            raise InterpError(f"frames out of range; {self.path} holds frames 0 to {len(self) - 1}")
        for chunk in np.unique(selected // block):
            yield selected[selected // block == chunk]

    def read_frames(self, array: zarr.Array, frames: np.ndarray) -> np.ndarray:
        """array[frames] for sorted frames inside one chunk, read as one contiguous slice."""
        start, stop = int(frames[0]), int(frames[-1]) + 1
        return np.asarray(array[start:stop])[frames - start]

    def tokens(self, hook: str, frames: Sequence[int] | None = None, batch_tokens: int = 65536,
               shuffle_seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream `hook`'s tokens as (acts float32 (B, C), index int32 (B, 3) = frame, row, col), B <= batch_tokens.

        Memory stays bounded by about two batches plus one storage chunk. Without `shuffle_seed` tokens come in
        (frame, row, col) order. With it, chunk order is permuted and tokens are shuffled within a buffer of up to
        4 * batch_tokens tokens (an approximate shuffle, deterministic for a seed)."""
        h, w, c = self.shape(hook)
        array = self.acts(hook)
        blocks = list(self.frame_blocks(hook, frames))
        rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        if rng is not None:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), axis=-1).reshape(-1, 2)
        buffer_size = batch_tokens if rng is None else 4 * batch_tokens
        pending_acts, pending_index, pending = [], [], 0
        for block in blocks:
            acts = self.read_frames(array, block).reshape(-1, c).astype(np.float32)
            index = np.concatenate([np.repeat(block, h * w)[:, None], np.tile(grid, (len(block), 1))], axis=1)
            pending_acts.append(acts)
            pending_index.append(index.astype(np.int32))
            pending += len(acts)
            if pending >= buffer_size:
                yield from self._emit(pending_acts, pending_index, batch_tokens, rng, keep_tail=True)
                pending = sum(len(a) for a in pending_acts)
        if pending:
            yield from self._emit(pending_acts, pending_index, batch_tokens, rng, keep_tail=False)

    @staticmethod
    def _emit(acts_list: list, index_list: list, batch_tokens: int, rng, keep_tail: bool):
        acts, index = np.concatenate(acts_list), np.concatenate(index_list)
        acts_list.clear()
        index_list.clear()
        if rng is not None:
            order = rng.permutation(len(acts))
            acts, index = acts[order], index[order]
        start = 0
        while len(acts) - start >= batch_tokens or (not keep_tail and start < len(acts)):
            yield acts[start:start + batch_tokens], index[start:start + batch_tokens]
            start += batch_tokens
        if start < len(acts):
            acts_list.append(acts[start:])
            index_list.append(index[start:])

    def _hook(self, hook: str) -> dict:
        if hook not in self.manifest["hooks"]:
            raise InterpError(f"{self.path} has no hook point {hook!r}; captured: {', '.join(self.manifest['hooks'])}")
        return self.manifest["hooks"][hook]
