"""Arrays to pictures for the app: numpy in, uint8 (H, W, 3) out, so overlays are testable without a browser.

Images are shown as the renderer's 8-bit output (`scenes.colors.linear_to_render` of linear RGB). Scalar maps are
colour-mapped over their finite range (NaN and inf, e.g. background depth, in grey); a grid map (h, w) is upsampled
to the image by nearest neighbour, each cell covering H / h x W / w pixels, and overlaid with opacity `alpha` where
the map is above zero (a feature's activation) or everywhere (`everywhere=True`).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps

from frobnoscope.scenes.colors import linear_to_render

BACKGROUND = np.array([96, 96, 96], dtype=np.uint8)


COLOUR_CHANNELS = ("rgb", "albedo", "specular")
VECTOR_CHANNELS = ("normal_world", "normal_cam")
ID_CHANNELS = ("object_id", "shape_id", "material_id", "edges")


def render(linear_rgb: np.ndarray) -> np.ndarray:
    return linear_to_render(np.nan_to_num(linear_rgb, nan=0.0))


def channel_picture(name: str, values: np.ndarray) -> np.ndarray:
    """Any ground-truth channel of one frame as a picture: colours rendered, normals as (n + 1) / 2, ids in distinct
    colours, anything else (depth, shading, shadow, uv, position) colour-mapped by its first component."""
    values = np.asarray(values)
    if name in COLOUR_CHANNELS:
        return render(values)
    if name in VECTOR_CHANNELS:
        return vectors(values)
    if name in ID_CHANNELS:
        return labels(values)
    return colourise(values[..., 0] if values.ndim == 3 else values)


def colourise(values: np.ndarray, cmap: str = "viridis", low: float | None = None, high: float | None = None,
              symmetric: bool = False) -> np.ndarray:
    """(H, W) scalars -> (H, W, 3) uint8; non-finite values grey. `symmetric`: range +-max|v| (diverging maps)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.any():
        low = float(values[finite].min()) if low is None else low
        high = float(values[finite].max()) if high is None else high
        if symmetric:
            high = max(abs(low), abs(high))
            low = -high
    else:
        low, high = 0.0, 1.0
    scaled = np.clip((np.where(finite, values, low) - low) / max(high - low, 1e-12), 0, 1)
    out = (colormaps[cmap](scaled)[..., :3] * 255).round().astype(np.uint8)
    out[~finite] = BACKGROUND
    return out


def vectors(values: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit vectors (normals) -> colours (v + 1) / 2; non-finite grey."""
    finite = np.isfinite(values).all(-1)
    out = ((np.clip(np.nan_to_num(values), -1, 1) + 1) / 2 * 255).round().astype(np.uint8)
    out[~finite] = BACKGROUND
    return out


def labels(ids: np.ndarray) -> np.ndarray:
    """(H, W) integer ids -> distinct colours (0, background, black)."""
    palette = (colormaps["tab20"](np.arange(20))[:, :3] * 255).round().astype(np.uint8)
    out = palette[(np.asarray(ids, dtype=np.int64) - 1) % 20]
    out[np.asarray(ids) == 0] = 0
    return out


def upsample(grid_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) -> (H, W) nearest neighbour (H, W multiples of h, w or not)."""
    h, w = grid_map.shape
    rows = np.minimum((np.arange(shape[0]) * h) // shape[0], h - 1)
    cols = np.minimum((np.arange(shape[1]) * w) // shape[1], w - 1)
    return grid_map[rows][:, cols]


def overlay(image: np.ndarray, grid_map: np.ndarray, alpha: float = 0.55, cmap: str = "inferno",
            high: float | None = None, everywhere: bool = False) -> np.ndarray:
    """`grid_map` colour-mapped over `image` (uint8 (H, W, 3)); `high` fixes the top of the colour range. An
    activation (`everywhere=False`) is blended with opacity alpha x value / top, so weak firing stays faint and the
    scene shows through; `everywhere=True` blends every finite cell with opacity alpha."""
    values = upsample(np.asarray(grid_map, dtype=np.float64), image.shape[:2])
    top = high if high is not None else (np.nanmax(values) if np.isfinite(values).any() else 1.0)
    colours = colourise(values, cmap, low=0.0 if not everywhere else None, high=top if not everywhere else None)
    where = np.isfinite(values) & ((values > 0) | everywhere)
    opacity = np.full(values.shape, alpha) if everywhere else alpha * np.clip(values / max(top, 1e-12), 0, 1)
    opacity = opacity[where][:, None]
    out = image.astype(np.float64)
    out[where] = (1 - opacity) * out[where] + opacity * colours[where]
    return out.round().astype(np.uint8)


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = box
    return image[top:bottom, left:right]


def outline(image: np.ndarray, mask: np.ndarray, colour=(0, 255, 255)) -> np.ndarray:
    """`image` with the boundary pixels of `mask` (H, W bool) drawn in `colour`."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    out = image.copy()
    out[mask & ~interior] = colour
    return out


def display_factor(shape: tuple[int, ...], min_side: int = 256) -> int:
    """The whole factor that makes the shorter side of an (H, W, ...) picture at least `min_side` pixels (>= 1)."""
    return max(1, -(-min_side // max(1, min(shape[:2]))))


def enlarge(picture: np.ndarray, factor: int) -> np.ndarray:
    """(H, W[, C]) -> (factor H, factor W[, C]): each pixel repeated as a factor x factor block (nearest neighbour),
    so tiny frames show their pixels; draw outlines after enlarging, so they stay one display pixel thin."""
    return np.repeat(np.repeat(np.asarray(picture), factor, axis=0), factor, axis=1)



def enlarged(picture: np.ndarray, min_side: int = 256) -> np.ndarray:
    """`picture` enlarged by the whole factor that makes its shorter side at least `min_side` pixels."""
    return enlarge(picture, display_factor(picture.shape, min_side))
