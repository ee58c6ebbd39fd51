"""Disentanglement metrics between a representation `codes` (N, D) and ground-truth factors (N, K), numpy only.

- `mig` (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"): codes and factors discretised into
  `bins` equal-width bins per column (as disentanglement_lib does; a factor with at most `bins` distinct values keeps
  them as they are); mutual information I(code_d; factor_k) from contingency tables; per factor the gap between the
  largest and second-largest MI over codes, divided by the factor's entropy H(factor_k); averaged over factors.
- `dci` (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled Representations"):
  importance R[d, k] = |lasso coefficient| of code d when predicting standardised factor k from standardised codes
  (coordinate-descent lasso, penalty `alpha`, fitted on a train split). disentanglement = sum_d rho_d (1 - H_K(P_d.))
  with P[d, k] = R[d, k] / sum_k R[d, k] and rho_d = sum_k R[d, k] / sum R; completeness = sum_k rho~_k (1 - H_D(P~_.k))
  (rho~_k: factor k's share of importance, as disentanglement_lib weighs it) with P~[d, k] = R[d, k] / sum_d R[d, k]
  (entropies in base K and base D); informativeness = mean held-out R^2 of the
  lasso predictions (the paper reports an error; 1 here is perfect, clipped at 0).
- `sap` (Kumar et al. 2018, "Variational Inference of Disentangled Latent Concepts from Unlabeled Observations"):
  score S[d, k] = R^2 of a linear fit of factor k from code d alone (squared Pearson correlation; the paper's
  regression variant, used here for discrete factors too); per factor the gap between the two largest scores over
  codes; averaged over factors.
All three are near 1 when each factor is carried by its own code and near 0 when every code mixes every factor.
"""

from __future__ import annotations

import numpy as np


def discretise(values: np.ndarray, bins: int = 20) -> np.ndarray:
    """(N, D) -> (N, D) int64 bin indices per column: equal-width bins, or the distinct values if there are few."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    out = np.empty(values.shape, dtype=np.int64)
    for d in range(values.shape[1]):
        column = values[:, d]
        distinct, inverse = np.unique(column, return_inverse=True)
        if len(distinct) <= bins:
            out[:, d] = inverse.reshape(-1)
        else:
            edges = np.histogram_bin_edges(column, bins)
            out[:, d] = np.digitize(column, edges[1:-1])
    return out


def entropy(labels: np.ndarray) -> float:
    """Shannon entropy (nats) of a discrete array."""
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats between two discrete (N,) arrays, from their contingency table."""
    _, a_index = np.unique(a, return_inverse=True)
    _, b_index = np.unique(b, return_inverse=True)
    table = np.zeros((a_index.max() + 1, b_index.max() + 1))
    np.add.at(table, (a_index.reshape(-1), b_index.reshape(-1)), 1)
    joint = table / table.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum())


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> float:
    codes_d, factors_d = discretise(codes, bins), discretise(factors, bins)
    if codes_d.shape[1] < 2:
        raise ValueError("MIG needs at least two codes")
    gaps = []
    for k in range(factors_d.shape[1]):
        h = entropy(factors_d[:, k])
        if h == 0:
            continue
        mi = np.sort([mutual_information(codes_d[:, d], factors_d[:, k]) for d in range(codes_d.shape[1])])
        gaps.append((mi[-1] - mi[-2]) / h)
    return float(np.mean(gaps))


def sap(codes: np.ndarray, factors: np.ndarray) -> float:
    codes, factors = _standardise(codes), _standardise(factors)
    scores = (codes.T @ factors / len(codes)) ** 2  # (D, K) squared correlations
    if scores.shape[0] < 2:
        raise ValueError("SAP needs at least two codes")
    top = np.sort(scores, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def lasso(x: np.ndarray, y: np.ndarray, alpha: float, iterations: int = 200) -> np.ndarray:
    """Coefficients (D,) minimising ||y - x w||^2 / (2N) + alpha ||w||_1 by cyclic coordinate descent
    (x, y centred; no intercept)."""
    n, d = x.shape
    w = np.zeros(d)
    residual = y.astype(np.float64).copy()
    column_norms = (x * x).sum(0) / n
    for _ in range(iterations):
        largest_step = 0.0
        for j in range(d):
            if column_norms[j] == 0:
                continue
            rho = x[:, j] @ residual / n + column_norms[j] * w[j]
            new = np.sign(rho) * max(abs(rho) - alpha, 0.0) / column_norms[j]
            if new != w[j]:
                residual -= x[:, j] * (new - w[j])
                largest_step = max(largest_step, abs(new - w[j]))
                w[j] = new
        if largest_step < 1e-6:
            break
    return w


def dci(codes: np.ndarray, factors: np.ndarray, alpha: float = 0.02, train_fraction: float = 0.8,
        seed: int = 0) -> dict[str, float]:
    """{"disentanglement", "completeness", "informativeness"} (see the module docstring)."""
    codes, factors = _standardise(codes), _standardise(factors)
    n, d = codes.shape
    k = factors.shape[1]
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: int(train_fraction * n)], order[int(train_fraction * n):]
    importance = np.zeros((d, k))
    r2 = []
    for j in range(k):
        w = lasso(codes[train], factors[train, j], alpha)
        importance[:, j] = np.abs(w)
        residual = factors[test, j] - codes[test] @ w
        total = ((factors[test, j] - factors[test, j].mean()) ** 2).sum()
        r2.append(max(0.0, 1 - (residual ** 2).sum() / total) if total > 0 else 0.0)
    return {"disentanglement": _disentanglement(importance), "completeness": _disentanglement(importance.T),
            "informativeness": float(np.mean(r2))}


def _disentanglement(importance: np.ndarray) -> float:
    """sum_d rho_d (1 - H_K(P_d)) over rows d of a (D, K) importance matrix (completeness: pass its transpose)."""
    rows, columns = importance.shape
    totals = importance.sum(1)
    if totals.sum() == 0:
        return 0.0
    p = importance / np.where(totals > 0, totals, 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0).sum(1) / np.log(columns) if columns > 1 else np.zeros(rows)
    rho = totals / totals.sum()
    return float((rho * (1 - h)).sum())


def _standardise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    std = values.std(0)
    return (values - values.mean(0)) / np.where(std > 0, std, 1)
