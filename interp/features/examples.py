"""Per-feature examples, histograms and neighbours of a features run, precomputed for browsing (`frob app`).

FEATURES_DIR/examples.npz, one file per run, one block of arrays per kind (`channel`, `latent`). Examples,
histograms, max and density scan every frame of the capture (evenly spaced down to MAX_FRAMES); neighbours use the
tokens `label_run` labelled (`FeatureSource`):
  <kind>.top_frame, .top_row, .top_col, .top_value   (F, TOP) the TOP frames where the feature is strongest, each
                                                     with its strongest token (row, col on the hook's grid) and
                                                     activation; frame -1 = fewer firing frames than TOP
  <kind>.band_frame, .band_row, .band_col, .band_value  (F, BANDS, PER_BAND) frames from lower quantiles: band b
                                                     holds frames whose strongest activation ranks between
                                                     quantiles (b + 1) / (BANDS + 1) and (b + 2) / (BANDS + 1) among
                                                     the firing frames (top down), PER_BAND evenly spaced in it
  <kind>.hist                                        (F, BINS) token counts of activations > 0 in BINS equal bins
                                                     over (0, max]
  <kind>.max, .density                               (F,) largest activation; share of tokens with activation > 0
  frames                                             the frames scanned
  <kind>.corr_index, .corr_value                     (F, NEIGHBOURS) most correlated other features (Pearson r over
                                                     the tokens; `neighbours.correlated`)
  latent.cosine_index, .cosine_value                 (F, NEIGHBOURS) decoder-cosine neighbours
  latent.absorb_index, .absorb_value                 (F, NEIGHBOURS) absorption partners (`neighbours.absorption`)
Written atomically; `read_examples` refuses a file from another run (its `features_csv_blake2b` must match).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from frobnoscope.interp.features import neighbours
from frobnoscope.interp.features.examples_file import EXAMPLES, features_digest, read_examples
from frobnoscope.interp.features.source import FeatureSource

__all__ = ["EXAMPLES", "compute_examples", "read_examples", "write_examples"]

TOP = 8
BANDS = 3
PER_BAND = 4
BINS = 40
FRAMES_PER_PASS = 4  # frames encoded at once
MAX_FRAMES = 1024  # frames scanned for examples (evenly spaced when the capture has more)


def ranked_examples(maxima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top (F, TOP), bands (F, BANDS, PER_BAND)) positions in `maxima` (n frames, F) (-1 = none) of the strongest
    frames and of frames from lower quantiles, among the frames where the feature fires (per-frame max > 0)."""
    count = maxima.shape[1]
    order = np.argsort(-maxima, axis=0, kind="stable")
    top = np.full((count, TOP), -1)
    bands = np.full((count, BANDS, PER_BAND), -1)
    for f in range(count):
        firing = order[:, f][maxima[order[:, f], f] > 0]
        chosen = firing[:TOP]
        top[f, :len(chosen)] = chosen
        for b in range(BANDS):
            lo, hi = (np.array([b + 1, b + 2]) * len(firing) // (BANDS + 1))
            if hi > lo:
                picks = firing[np.unique(np.linspace(lo, hi - 1, PER_BAND).round().astype(int))]
                bands[f, b, :len(picks)] = picks
    return top, bands


def _blocks(source: FeatureSource, kind: str, frames: np.ndarray):
    """(frame indices (n,), activations (n, h*w, F) torch float32) block by block (bounded memory)."""
    store, hook = source.store, source.hook
    for block in store.frame_blocks(hook, frames):
        for part in np.array_split(block, max(1, len(block) // FRAMES_PER_PASS)):
            acts = torch.from_numpy(store.read_frames(store.acts(hook), part).astype(np.float32))
            n, h, w, c = acts.shape
            tokens = acts.reshape(-1, c)
            if kind == "latent":
                with torch.no_grad():
                    tokens = source.sae.encode(tokens)
            yield part, tokens.reshape(n, h * w, -1)


def scan_examples(source: FeatureSource, kind: str, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Top and quantile examples, histogram, max and density of every feature of `kind` over `frames`."""
    h, w, _ = source.store.shape(source.hook)
    maxima, where = [], []
    for _, acts in _blocks(source, kind, frames):
        best = acts.max(1)
        maxima.append(best.values.numpy())
        where.append(best.indices.numpy())
    maxima, where = np.concatenate(maxima), np.concatenate(where)
    top_value = maxima.max(0)
    scale = torch.from_numpy(np.where(top_value > 0, top_value, 1).astype(np.float32))
    counts = np.zeros(maxima.shape[1] * BINS, dtype=np.int64)
    for _, acts in _blocks(source, kind, frames):
        token, feature = (acts.reshape(-1, acts.shape[2]) > 0).nonzero(as_tuple=True)
        values = acts.reshape(-1, acts.shape[2])[token, feature]
        bins = (torch.ceil(values / scale[feature] * BINS).long() - 1).clamp(0, BINS - 1)
        counts += np.bincount((feature * BINS + bins).numpy(), minlength=len(counts))
    counts = counts.reshape(-1, BINS)
    out = {f"{kind}.hist": counts, f"{kind}.max": top_value.astype(np.float32),
           f"{kind}.density": counts.sum(1) / (len(frames) * h * w)}
    feature = np.arange(maxima.shape[1])
    for name, rows in zip(("top", "band"), ranked_examples(maxima)):
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        cell = where[safe, feature.reshape((-1,) + (1,) * (rows.ndim - 1))]
        out[f"{kind}.{name}_frame"] = np.where(valid, frames[safe], -1).astype(np.int32)
        out[f"{kind}.{name}_row"] = np.where(valid, cell // w, -1).astype(np.int32)
        out[f"{kind}.{name}_col"] = np.where(valid, cell % w, -1).astype(np.int32)
        out[f"{kind}.{name}_value"] = np.where(valid, maxima[safe, feature.reshape((-1,) + (1,) * (rows.ndim - 1))],
                                               np.nan).astype(np.float32)
    return out


def example_frames(source: FeatureSource, limit: int = MAX_FRAMES) -> np.ndarray:
    """The frames examples are drawn from: every frame of the capture, evenly spaced down to `limit`."""
    n = len(source.store)
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(np.int64))


def compute_examples(source: FeatureSource, frames: np.ndarray | None = None) -> dict[str, np.ndarray]:
    frames = example_frames(source) if frames is None else np.asarray(frames)
    out = {"frames": frames}
    for kind in source.kinds():
        out.update(scan_examples(source, kind, frames))
        out[f"{kind}.corr_index"], out[f"{kind}.corr_value"] = neighbours.correlated(source.activations(kind))
    if source.sae_dir is not None:
        decoder = source.sae.W_dec.detach().numpy()
        encoder = source.sae.W_enc.detach().numpy().T
        out["latent.cosine_index"], out["latent.cosine_value"] = neighbours.decoder_cosine(decoder)
        out["latent.absorb_index"], out["latent.absorb_value"] = neighbours.absorption(encoder, decoder, source.activations("latent"))
    return out


def write_examples(directory, source: FeatureSource | None = None) -> Path:
    """Compute and write FEATURES_DIR/examples.npz (atomically); returns its path."""
    directory = Path(directory)
    arrays = compute_examples(source or FeatureSource(directory))
    arrays["features_csv_blake2b"] = np.array(features_digest(directory))
    path, partial = directory / EXAMPLES, directory / f".{EXAMPLES}.partial"
    with open(partial, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(partial, path)
    return path
