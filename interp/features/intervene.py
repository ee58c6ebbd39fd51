"""Live intervention on one feature: scale it on a frame and see the output, its change, and its error against the
optimal output.

`scale_edit(kind, feature, scale, ...)` is a token edit (see `sae.splice`) that multiplies one feature by `scale`:
  SAE latent i   x + (scale - 1) * z_i(x) * W_dec[i] / s    (scale 0 = `effects.latent_ablation`, 1 = no change)
  raw channel c  x_c <- mean_c + scale * (x_c - mean_c)     (scale 0 = `effects.channel_ablation`, mean ablation)
Errors are the mean squared error (linear RGB [0, 1]) against the optimal output and PSNR = 10 log10(1 / MSE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from frobnoscope.interp.sae.splice import TokenEdit, token_edit
from frobnoscope.models import metrics


def scale_edit(kind: str, feature: int, scale: float, sae=None, channel_mean: float = 0.0) -> TokenEdit:
    if kind == "latent":
        direction = sae.directions()[feature].detach()

        def edit_latent(tokens: torch.Tensor) -> torch.Tensor:
            return tokens + (scale - 1.0) * sae.encode(tokens)[:, feature:feature + 1] * direction

        return edit_latent

    def edit_channel(tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.clone()
        tokens[:, feature] = channel_mean + scale * (tokens[:, feature] - channel_mean)
        return tokens

    return edit_channel


@dataclass
class Intervention:
    """Images are (H, W, 3) float32 linear RGB."""

    clean: np.ndarray
    edited: np.ndarray
    optimal: np.ndarray
    clean_mse: float
    edited_mse: float

    @property
    def change(self) -> np.ndarray:
        """(H, W) |edited - clean| summed over colour channels."""
        return np.abs(self.edited - self.clean).sum(-1)

    @staticmethod
    def psnr(mse: float) -> float:
        return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


@torch.no_grad()
def intervene(adapter, rgb: np.ndarray, hook: str, edit: TokenEdit) -> Intervention:
    """Run `adapter` on one frame (H, W, 3 linear RGB) clean and with `edit` at `hook`."""
    batch = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    optimal = torch.as_tensor(adapter.optimal_output(batch))
    clean = torch.as_tensor(adapter.forward(batch))
    with adapter.intervene(hook, token_edit(edit)):
        edited = torch.as_tensor(adapter.forward(batch))

    def image(x: torch.Tensor) -> np.ndarray:
        return x[0].permute(1, 2, 0).float().numpy()

    def mse(x: torch.Tensor) -> float:
        return float(metrics.squared_error_map(x, optimal).mean())

    return Intervention(image(clean), image(edited), image(optimal), mse(clean), mse(edited))
