"""Colour encodings at the boundaries: pyrender's output gamma and sRGB for 8-bit textures and files.

Inside the package every image is float32 linear RGB in [0, 1].
pyrender writes `pow(linear, 1/2.2)` (a pure 2.2 gamma, not sRGB) to an 8-bit buffer, and reads base
colour textures as sRGB; both are modelled here so ground truth matches what the renderer does.
"""

from __future__ import annotations

import numpy as np

RENDER_GAMMA = 2.2


def render_to_linear(image_u8: np.ndarray) -> np.ndarray:
    """pyrender's 8-bit output -> linear float32 (exact inverse of its 1/2.2 gamma)."""
    return np.power(image_u8.astype(np.float32) / 255.0, np.float32(RENDER_GAMMA))


def linear_to_render(linear: np.ndarray) -> np.ndarray:
    """Linear -> the 8-bit value pyrender would write for it."""
    return np.round(np.clip(linear, 0, 1) ** (1 / RENDER_GAMMA) * 255).astype(np.uint8)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, dtype=np.float64)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(np.asarray(linear, dtype=np.float64), 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def linear_to_srgb_u8(linear: np.ndarray) -> np.ndarray:
    """For writing PNGs: linear float -> 8-bit sRGB."""
    return np.round(linear_to_srgb(linear) * 255).astype(np.uint8)


def texel_as_rendered(linear: np.ndarray) -> np.ndarray:
    """The linear colour a texture texel really has once stored as 8-bit sRGB and decoded by the shader."""
    return srgb_to_linear(linear_to_srgb_u8(linear) / 255.0)
