"""Causal effect of single features on the model's error: ablation and steering edits at a hook point.

Edits act on a hook output's tokens (see `splice`):
  SAE latent i   ablate: x - z_i(x) * W_dec[i] / s (its decoder contribution removed, the rest of the
                 reconstruction error kept); steer: x + amount * W_dec[i] / s
  raw channel c  ablate: x_c <- mean_c (mean ablation: zero is rarely a typical value of a raw channel);
                 steer: x_c <- x_c + amount
`importance` = error(edited) - error(clean), in the model's squared-error units (linear RGB).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from frobnoscope.interp.sae.model import SparseAutoencoder
from frobnoscope.interp.sae.splice import TokenEdit, model_error


def latent_ablation(sae: SparseAutoencoder, i: int) -> TokenEdit:
    direction = sae.directions()[i].detach()

    def edit(tokens: torch.Tensor) -> torch.Tensor:
        return tokens - sae.encode(tokens)[:, i:i + 1] * direction

    return edit


def latent_steering(sae: SparseAutoencoder, i: int, amount: float) -> TokenEdit:
    shift = amount * sae.directions()[i].detach()
    return lambda tokens: tokens + shift


def channel_ablation(c: int, mean: float) -> TokenEdit:
    def edit(tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.clone()
        tokens[:, c] = mean
        return tokens

    return edit


def channel_steering(c: int, amount: float) -> TokenEdit:
    def edit(tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.clone()
        tokens[:, c] += amount
        return tokens

    return edit


@torch.no_grad()
def importances(adapter, batches: Sequence, hook: str, edits: dict[int, tuple[TokenEdit, TokenEdit]],
                on_feature=None) -> dict[int, tuple[float, float]]:
    """{feature: (ablation importance, steering importance)} for {feature: (ablate edit, steer edit)}."""
    clean = model_error(adapter, batches)
    out = {}
    for done, (feature, (ablate, steer)) in enumerate(edits.items(), 1):
        out[feature] = (model_error(adapter, batches, hook, ablate) - clean,
                        model_error(adapter, batches, hook, steer) - clean)
        if on_feature:
            on_feature(done, len(edits))
    return out


def steer_amounts(activations: np.ndarray, quantile: float = 0.995) -> np.ndarray:
    """(F,) a typical strong activation of each feature: its `quantile` quantile (at least its max over 0)."""
    amounts = np.quantile(activations, quantile, axis=0)
    return np.where(amounts > 0, amounts, np.abs(activations).max(0))
