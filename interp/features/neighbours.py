"""A feature's neighbours: by activation correlation, by decoder cosine, and its absorption partners.

All return (index (F, NEIGHBOURS) int32, value (F, NEIGHBOURS) float32), best first, the feature itself excluded;
index -1 (value NaN) where there are fewer candidates.
- `correlated`: Pearson r between features over tokens, computed from sparse co-activation sums (codes are sparse,
  so C^T C is cheap even for 16k latents): r_ij = (E[a_i a_j] - mu_i mu_j) / (sd_i sd_j); ranked by r.
- `decoder_cosine`: cosine between decoder rows (directions); ranked by cosine.
- `absorption`: partners in a parent/child pair that passes `sae.analysis`'s absorption test (Chanin et al.
  2024: decoder overlap, encoder disagreement, exclusion, specificity), ranked by the pair's gap
  cos(d_i, d_j) - cos(e_parent, d_child).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from frobnoscope.interp.sae import analysis

NEIGHBOURS = 6
CHUNK = 1024


def _top(scores: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Best NEIGHBOURS columns of each row of a (rows, F) block, its own column (start + row) excluded."""
    scores = scores.astype(np.float64, copy=True)
    rows = np.arange(len(scores))
    scores[rows, start + rows] = -np.inf
    k = min(NEIGHBOURS, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), axis=1), 1)
    values = np.take_along_axis(scores, order, 1)
    index = np.where(np.isfinite(values), order, -1)
    return _pad(index.astype(np.int32), np.where(np.isfinite(values), values, np.nan).astype(np.float32))


def _pad(index: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    missing = NEIGHBOURS - index.shape[1]
    if missing <= 0:
        return index, values
    return (np.pad(index, ((0, 0), (0, missing)), constant_values=-1),
            np.pad(values, ((0, 0), (0, missing)), constant_values=np.nan))


def _chunks(count: int, fn) -> tuple[np.ndarray, np.ndarray]:
    parts = [fn(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def correlated(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = sparse.csc_matrix(activations.astype(np.float64))
    t = activations.shape[0]
    mean = np.asarray(a.mean(0)).ravel()
    sd = np.sqrt(np.maximum(np.asarray(a.multiply(a).mean(0)).ravel() - mean ** 2, 0))
    safe = np.where(sd > 0, sd, np.inf)

    def block(start, stop):
        products = (a[:, start:stop].T @ a).toarray() / t
        r = (products - mean[start:stop, None] * mean[None, :]) / (safe[start:stop, None] * safe[None, :])
        return _top(r, start)

    return _chunks(activations.shape[1], block)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def decoder_cosine(decoder: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unit = _unit(decoder.astype(np.float64))
    return _chunks(len(unit), lambda start, stop: _top(unit[start:stop] @ unit.T, start))


def absorption(encoder: np.ndarray, decoder: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """encoder (M, d) latent i's encoder vector per row, decoder (M, d), codes (T, M) on the same tokens. Partners
    of i: latents j such that (i parent, j child) or (j parent, i child) passes `sae.analysis`'s absorption test;
    value: the pair's gap, signed + when the partner is the child, - when it is the parent."""
    enc, dec = _unit(encoder.astype(np.float64)), _unit(decoder.astype(np.float64))
    fires = sparse.csc_matrix((codes > 0).astype(np.float64))
    counts = np.asarray(fires.sum(0)).ravel()

    def flagged(decoder_cosine, gap, cofire, parent_count, child_count):
        return ((decoder_cosine >= analysis.ABSORB_DECODER_COSINE) & (gap >= analysis.ABSORB_GAP)
                & (cofire <= analysis.ABSORB_COFIRE) & (child_count > 0) & (parent_count > child_count))

    def block(start, stop):
        rows = slice(start, stop)
        both = (fires[:, rows].T @ fires).toarray()
        decoder_cosine = dec[rows] @ dec.T
        as_parent_gap = decoder_cosine - enc[rows] @ dec.T  # [i, j]: i parent, j child
        as_child_gap = decoder_cosine - (enc @ dec[rows].T).T  # [i, j]: j parent, i child
        mine, theirs = counts[rows, None], counts[None, :]
        parent = flagged(decoder_cosine, as_parent_gap, both / np.maximum(theirs, 1), mine, theirs)
        child = flagged(decoder_cosine, as_child_gap, both / np.maximum(mine, 1), theirs, mine)
        score = np.where(parent, as_parent_gap, np.where(child, as_child_gap, -np.inf))
        index, _ = _top(score, start)
        sign = np.where(np.take_along_axis(parent, np.maximum(index, 0), 1), 1.0, -1.0)
        values = np.take_along_axis(score, np.maximum(index, 0), 1)
        return index, np.where(index >= 0, sign * values, np.nan).astype(np.float32)

    return _chunks(len(dec), block)
