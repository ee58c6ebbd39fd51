"""Two diagnostics of a trained SAE's dictionary: stability across seeds and likely feature absorption.

Stability: decoder rows of two SAEs (unit vectors) matched one-to-one by the Hungarian algorithm on cosine
similarity (scipy.optimize.linear_sum_assignment, maximising the summed cosine); reported as the mean matched
cosine and the share of pairs above STABLE_COSINE (0.9). Dead latents of either SAE take part like the others.

Absorption (Chanin et al. 2024, "A is for Absorption"): when a child feature C (object 3) always implies a parent
P (its shape), a sparse code saves a latent by letting C's latent fire alone for both: C's decoder row picks up P's
direction, and P's encoder learns to stay silent on C (a negative component along C). Latents i (parent) and j
(child) are flagged when all hold:
  1. decoder overlap        cos(d_i, d_j) >= ABSORB_DECODER_COSINE (0.2): C's output contains P's direction;
  2. encoder disagreement   cos(d_i, d_j) - cos(e_i, d_j) >= ABSORB_GAP (0.2), e_i the encoder column of i
                            normalised: P's encoder reads C's direction less than its decoder writes it (for a
                            latent with no absorption encoder and decoder agree and the gap is near 0);
  3. exclusion              P(i fires | j fires) <= ABSORB_COFIRE (0.05) over the tokens given;
  4. specificity            j fires on fewer tokens than i (the child is the narrower feature; 1-3 are nearly
                            symmetric in i and j for two directions, this orients the pair).
Checked against ground truth hierarchies (`HIERARCHIES`: object_id within shape_id, object_id within
material_id): a flagged pair is `confirmed` when j's firing tokens are at least HIERARCHY_PURITY (0.9) one parent
label (j is a child of that shape/material) and i's NetDissect best label in the parent channel is that label.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from frobnoscope.interp.activations.tokens import best_iou, top_quantile_masks
from frobnoscope.interp.sae.model import SparseAutoencoder

STABLE_COSINE = 0.9
ABSORB_DECODER_COSINE = 0.2
ABSORB_GAP = 0.2
ABSORB_COFIRE = 0.05
HIERARCHY_PURITY = 0.9
HIERARCHIES = (("object_id", "shape_id"), ("object_id", "material_id"))
MAX_PAIRS = 200


def _unit_rows(matrix: torch.Tensor) -> np.ndarray:
    m = matrix.detach().double().cpu().numpy()
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def stability(a: SparseAutoencoder, b: SparseAutoencoder) -> dict:
    """Hungarian-matched decoder cosine similarity of two SAEs of the same hook."""
    if a.W_dec.shape != b.W_dec.shape:
        raise ValueError(f"SAEs differ in shape: {tuple(a.W_dec.shape)} vs {tuple(b.W_dec.shape)}")
    matched = matched_cosine(a.W_dec, b.W_dec)
    return {"latents": len(matched), "mean_matched_cosine": float(matched.mean()),
            "median_matched_cosine": float(np.median(matched)),
            "fraction_above": float((matched >= STABLE_COSINE).mean()), "threshold": STABLE_COSINE}


def matched_cosine(decoder_a: np.ndarray, decoder_b: np.ndarray) -> np.ndarray:
    """(M,) cosine of each of A's decoder rows with the row of B the Hungarian algorithm matches it to."""
    cosine = _unit_rows(torch.as_tensor(decoder_a)) @ _unit_rows(torch.as_tensor(decoder_b)).T
    rows, cols = linear_sum_assignment(cosine, maximize=True)
    return cosine[rows, cols]


def stability_curve(directory_a, directory_b) -> list[dict]:
    """Two seeds' stability at every checkpoint both kept a decoder snapshot of (`training.SNAPSHOTS`): step, mean
    matched cosine, share above STABLE_COSINE, and `chance`: the mean matched cosine of two random Gaussian
    dictionaries of the same shape (what matching alone gives two SAEs that learned nothing in common)."""
    from frobnoscope.interp.sae.training import read_snapshots

    a, b = read_snapshots(directory_a), read_snapshots(directory_b)
    steps = sorted(set(a) & set(b))
    if not steps:
        return []
    rng = np.random.default_rng(0)
    chance = float(matched_cosine(*(rng.normal(size=a[steps[0]].shape) for _ in range(2))).mean())
    curve = []
    for step in steps:
        matched = matched_cosine(a[step], b[step])
        curve.append({"step": step, "mean_matched_cosine": float(matched.mean()),
                      "fraction_above": float((matched >= STABLE_COSINE).mean()), "chance": chance})
    return curve


def absorption_candidates(sae: SparseAutoencoder, codes: np.ndarray, categorical: dict[str, np.ndarray]) -> list[dict]:
    """Pairs (parent i, child j) that show absorption's pattern, each checked against the GT hierarchies."""
    decoder = _unit_rows(sae.W_dec)
    encoder = _unit_rows(sae.W_enc.t())
    decoder_cosine = decoder @ decoder.T
    encoder_reads = encoder @ decoder.T  # [i, j] = cos(e_i, d_j)
    fires = codes > 0
    counts = fires.sum(0).astype(np.float64)
    cofire = (fires.T.astype(np.float32) @ fires.astype(np.float32)) / np.maximum(counts[None, :], 1)  # P(i | j)
    gap = decoder_cosine - encoder_reads
    candidate = (decoder_cosine >= ABSORB_DECODER_COSINE) & (gap >= ABSORB_GAP) & (cofire <= ABSORB_COFIRE)
    candidate &= (counts[None, :] > 0) & (counts[:, None] > counts[None, :])
    np.fill_diagonal(candidate, False)
    parents, children = np.nonzero(candidate)
    order = np.argsort(-gap[parents, children])[:MAX_PAIRS]
    masks = top_quantile_masks(codes)
    best_labels = {channel: best_iou(masks, labels)[1] for channel, labels in categorical.items()}
    pairs = []
    for i, j in zip(parents[order], children[order]):
        pair = {"parent": int(i), "child": int(j), "decoder_cosine": float(decoder_cosine[i, j]),
                "encoder_cosine": float(encoder_reads[i, j]), "gap": float(gap[i, j]), "cofire": float(cofire[i, j]),
                "confirmed_by": ""}
        for _child_channel, parent_channel in HIERARCHIES:
            if parent_channel not in categorical:
                continue
            labels = categorical[parent_channel][fires[:, j]]
            values, value_counts = np.unique(labels, return_counts=True)
            top = int(value_counts.argmax())
            if value_counts[top] >= HIERARCHY_PURITY * len(labels) and best_labels[parent_channel][i] == values[top]:
                pair["confirmed_by"] = f"{parent_channel}={values[top].item()}"
                break
        pairs.append(pair)
    return pairs
