"""Image batches at the model boundary: layouts, checks and colour encodings.

Inside frobnoscope an image is float32 linear RGB in [0, 1] (docs/concepts/conventions.md). Adapters accept a batch as
either a numpy array (B, H, W, 3) or a torch tensor (B, 3, H, W), and answer in the layout they were given.
Pretrained image models were trained on display-encoded pictures, so they see `display` encoding: the renderer's
own 1/2.2 gamma (`scenes.colors.RENDER_GAMMA`), i.e. exactly the 8-bit values of the PNGs frobnoscope exports.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from frobnoscope.models.errors import InputError
from frobnoscope.scenes.colors import RENDER_GAMMA

Encoding = Literal["display", "linear"]
ENCODINGS = ("display", "linear")
ImageBatch = np.ndarray | torch.Tensor


def to_channels_first(batch: ImageBatch) -> torch.Tensor:
    """numpy (B, H, W, 3) or torch (B, 3, H, W) -> float32 torch (B, 3, H, W); numpy memory is shared, not copied."""
    if isinstance(batch, np.ndarray):
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise InputError(f"expected a numpy batch of shape (B, H, W, 3), got {tuple(batch.shape)}: images need 3 colour channels, last")
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
    elif isinstance(batch, torch.Tensor):
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise InputError(f"expected a torch batch of shape (B, 3, H, W), got {tuple(batch.shape)}: images need 3 colour channels, second")
        tensor = batch.float()
    else:
        raise InputError(f"expected a numpy array (B, H, W, 3) or a torch tensor (B, 3, H, W), got {type(batch).__name__}")
    return tensor


def like_input(images: torch.Tensor, batch: ImageBatch) -> ImageBatch:
    """(B, 3, H, W) tensor -> the layout and type of `batch` (numpy (B, H, W, 3) float32 for numpy input)."""
    if isinstance(batch, np.ndarray):
        return images.detach().permute(0, 2, 3, 1).cpu().numpy()
    return images


def check_images(images: torch.Tensor, factor: int, model_name: str) -> None:
    """One-line errors for an empty batch, a size that is not a multiple of `factor`, and NaN or infinite values."""
    if images.shape[0] == 0:
        raise InputError("the batch is empty")
    height, width = images.shape[-2:]
    if height % factor or width % factor:
        fit_h, fit_w = max(factor, height // factor * factor), max(factor, width // factor * factor)
        raise InputError(f"image size {width}x{height} is not a multiple of {factor}, {model_name}'s downsampling factor; "
                         f"crop or resize to e.g. {fit_w}x{fit_h}")
    finite = torch.isfinite(images).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        kind = "NaN" if bool(torch.isnan(images).any()) else "infinite"
        raise InputError(f"input has {kind} values in frame{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad[:10]))}")


def encode(linear: torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """Linear [0, 1] -> the encoding a model was trained on (values clamped to [0, 1] first). The display curve's
    gradient at 0 is infinite (x^(1/2.2)); black pixels (the renderer's background) get gradient 0 there instead,
    so gradients through a model stay finite. Values are unchanged."""
    linear = linear.clamp(0, 1)
    if encoding != "display":
        return linear
    positive = linear > 0
    return torch.where(positive, torch.where(positive, linear, 1.0).pow(1 / RENDER_GAMMA), 0.0)


def decode(encoded: torch.Tensor, encoding: Encoding) -> torch.Tensor:
    """The model's encoding -> linear [0, 1] (values clamped to [0, 1] first)."""
    encoded = encoded.clamp(0, 1)
    return encoded.pow(RENDER_GAMMA) if encoding == "display" else encoded


def to_range(unit: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """[0, 1] -> [low, high]."""
    low, high = value_range
    return unit if (low, high) == (0.0, 1.0) else unit * (high - low) + low


def from_range(values: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """[low, high] -> [0, 1] (not clamped)."""
    low, high = value_range
    return values if (low, high) == (0.0, 1.0) else (values - low) / (high - low)
