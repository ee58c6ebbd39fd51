"""Procedural base-colour textures: exact albedo at any texture coordinate, and the tiny image that
makes pyrender show the same thing (nearest filtering, repeat wrap, one texel per cell)."""

from __future__ import annotations

import numpy as np

from frobnoscope.scenes.colors import linear_to_srgb_u8, texel_as_rendered
from frobnoscope.scenes.spec import Texture


def texture_cells(texture: Texture, uv: np.ndarray) -> np.ndarray:
    """0 where the texture shows color_a, 1 where it shows color_b; `uv` already includes repeats."""
    cells = np.floor(2 * np.asarray(uv, dtype=np.float64)).astype(np.int64)
    if texture.kind == "checker":
        return (cells[..., 0] + cells[..., 1]) % 2
    return cells[..., 0] % 2


def texture_albedo(texture: Texture, uv: np.ndarray) -> np.ndarray:
    """Linear albedo at texture coordinates `uv` (..., 2), as the renderer shows it (8-bit sRGB texels)."""
    colors = texel_as_rendered(np.array([texture.color_a, texture.color_b]))
    return colors[texture_cells(texture, uv)]


def texture_image(texture: Texture) -> np.ndarray:
    """A 2x2 (checker) or 1x2 (stripes) uint8 sRGBA image covering one uv period.

    pyrender flips images vertically on upload, so image row r holds texture row t = rows - 1 - r.
    """
    centres = np.array([0.25, 0.75])  # one texel per cell, two cells per uv period
    t_centres = centres[::-1] if texture.kind == "checker" else centres[:1]
    uv = np.stack(np.meshgrid(centres, t_centres), axis=-1)
    cells = texture_cells(texture, uv)
    colors = linear_to_srgb_u8(np.array([texture.color_a, texture.color_b]))
    opaque = np.full((2, 1), 255, dtype=np.uint8)
    return np.concatenate([colors, opaque], axis=1)[cells]  # RGBA: rows stay 4-byte aligned for OpenGL
