"""How much of an attribution map lies on a known cause: the measures every score of `scores` is made of.

For a map a and a cause (a region of pixels, or a set of a ray's samples):
  energy_abs   sum of |a| on the cause / sum of |a| over all (the headline: a strong negative attribution points
               at a cause as much as a positive one)
  energy_pos   the same for the positive part max(a, 0) (NaN for a map with no positive value)
  pointing     1 if the largest |a| lies on the cause (for pixels: within `tolerance` pixels, Chebyshev
               distance; Zhang et al. 2016's pointing game), else 0
  area         the cause's share of the pixels (or samples): what energy a map spread evenly would put there
The random baseline scores maps of independent uniform [0, 1] values, frame k's drawn from
numpy.random.default_rng([seed, k]): their energy is about `area`, their pointing about the (dilated) area.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RANDOM = "random"  # the method name of the random baseline's rows


def energy_in_region(maps: np.ndarray, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) fractions of |a| and of max(a, 0) inside the regions, for maps and bool regions (N, H, W); NaN where a
    map has no mass of that kind."""
    maps = maps.astype(np.float64)
    fractions = []
    for mass in (np.abs(maps), np.maximum(maps, 0)):
        total = mass.reshape(len(mass), -1).sum(1)
        inside = (mass * regions).reshape(len(mass), -1).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            fractions.append(np.where(total > 0, inside / total, np.nan))
    return fractions[0], fractions[1]


def dilate(regions: np.ndarray, tolerance: int) -> np.ndarray:
    """Each (H, W) region grown by `tolerance` pixels in Chebyshev distance."""
    if tolerance <= 0:
        return regions
    structure = np.ones((1, 2 * tolerance + 1, 2 * tolerance + 1), dtype=bool)
    return ndimage.binary_dilation(regions, structure=structure)


def pointing_game(maps: np.ndarray, regions: np.ndarray, tolerance: int) -> np.ndarray:
    """(N,) 1.0 where the largest |a| of a map lies within `tolerance` pixels of its region, else 0.0; NaN for a map
    that is all zero."""
    flat = np.abs(maps).reshape(len(maps), -1)
    peaks = flat.argmax(1)
    grown = dilate(regions, tolerance).reshape(len(maps), -1)
    hits = grown[np.arange(len(maps)), peaks].astype(np.float64)
    return np.where(flat.max(1) > 0, hits, np.nan)


def random_maps(frames, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """(N, *shape) uniform [0, 1] maps, frame k's from numpy.random.default_rng([seed, k])."""
    return np.stack([np.random.default_rng([seed, int(k)]).random(shape) for k in frames])


def mean_scores(entry: dict[str, list[np.ndarray]]) -> tuple[int, dict[str, float]]:
    """{score: per-unit values in parts} -> (units scored, {score: mean over them}); a unit (frame, or ray) is
    scored where its energy_abs and pointing are defined."""
    values = {key: np.concatenate(parts) for key, parts in entry.items()}
    scored = np.isfinite(values["energy_abs"]) & np.isfinite(values["pointing"])
    return int(scored.sum()), {key: _finite_mean(v[scored]) for key, v in values.items()}


def _finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values, NaN if there are none."""
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")
