"""Attribution maps scored against the scene's known causes: energy-in-region and the pointing game, with a random map.

For each frame, a cause region (`attribution_targets.Region`: object=N, shadow=L, material=N, ..., from the dataset's
ground truth; by default the target's own region, or the object under a target pixel) and each method's map a:
  energy_abs   sum of |a| inside the region / sum of |a| over the frame (the headline; every method has it, and a
               strong negative attribution points at a cause as much as a positive one)
  energy_pos   the same for the positive part max(a, 0) (NaN for a map with no positive value)
  pointing     1 if the pixel of largest |a| lies within `tolerance` pixels (Chebyshev distance) of the region,
               else 0 (Zhang et al. 2016's pointing game); tolerance defaults to max(1, H // 32) pixels
  area         the region's share of the frame's pixels (what energy a map spread evenly would put there)
Frames whose region is empty, or whose map is all zero, are left out of that row (`frames` counts the rest).
The `random` rows score maps of independent uniform [0, 1] values per pixel, drawn from
numpy.random.default_rng([seed, frame]): their energy is about `area`, their pointing about the dilated area.
Rows average over frames; scores.csv has one row per (cause, method), random last for each cause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.attribution.run import NERF_SAMPLES, read_maps, read_run_manifest
from frobnoscope.interp.attribution.targets import Region, parse_region, parse_target
from frobnoscope.models.errors import ModelError
from frobnoscope.scenes.store import DatasetStore

RANDOM = "random"
SCORES = "scores.csv"


def default_tolerance(height: int) -> int:
    return max(1, height // 32)


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


def score_run(run, causes: list[str] | None = None, tolerance: int | None = None, seed: int = 0,
              block: int = 64, surface_tolerance: float | None = None) -> list[dict]:
    """Score every method's maps of a finished run against each cause (default: the target's own region; for a
    NeRF run, the surface each ray meets: `nerf_attribution.score_nerf_run`, within `surface_tolerance` scene
    units); write RUN/scores.csv and return its rows."""
    run = Path(run)
    manifest = read_run_manifest(run)
    maps = {method: read_maps(run, method) for method in manifest["methods"]}
    check_score_options(manifest.get("inputs") == NERF_SAMPLES, manifest["target"], causes, tolerance,
                        surface_tolerance)
    if manifest.get("inputs") == NERF_SAMPLES:
        from frobnoscope.interp.attribution.nerf import score_nerf_run

        rows = score_nerf_run(run, manifest, causes, surface_tolerance, seed)
        write_csv(run / SCORES, rows)
        return rows
    regions = _causes(manifest["target"], causes)
    store = DatasetStore.open(manifest["dataset"]["path"])
    n, height, width = manifest["frames"], manifest["height"], manifest["width"]
    tolerance = default_tolerance(height) if tolerance is None else tolerance
    names = [*maps, RANDOM]
    sums = {(str(region), name): {key: [] for key in ("energy_abs", "energy_pos", "pointing", "area")}
            for region in regions for name in names}
    channels = sorted({channel for region in regions for channel in region.channels()})
    for start in range(0, n, block):
        stop = min(start + block, n)
        gt = {channel: np.asarray(store.channel(channel)[start:stop]) for channel in channels}
        blocks = {method: np.asarray(array[start:stop]) for method, array in maps.items()}
        blocks[RANDOM] = random_maps(range(start, stop), (height, width), seed)
        for region in regions:
            masks = region.mask(gt, (stop - start, height, width))
            present = masks.reshape(len(masks), -1).any(1)
            for name, values in blocks.items():
                energy_abs, energy_pos = energy_in_region(values, masks)
                pointing = pointing_game(values, masks, tolerance)
                entry = sums[str(region), name]
                entry["energy_abs"].append(np.where(present, energy_abs, np.nan))
                entry["energy_pos"].append(np.where(present, energy_pos, np.nan))
                entry["pointing"].append(np.where(present, pointing, np.nan))
                entry["area"].append(np.where(present, masks.reshape(len(masks), -1).mean(1), np.nan))
    rows = []
    for (cause, name), entry in sums.items():
        count, means = mean_scores(entry)
        rows.append({"target": manifest["target"], "cause": cause, "method": name, "frames": count, **means,
                     "tolerance": tolerance})
    write_csv(run / SCORES, rows)
    return rows


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


def check_score_options(nerf: bool, target: str, causes: list[str] | None, tolerance: int | None,
                        surface_tolerance: float | None) -> None:
    """One-line errors for scoring options that do not fit the run (`frob attribute --score` checks them before
    it attributes anything)."""
    if nerf:
        from frobnoscope.interp.attribution.nerf import nerf_causes

        if tolerance is not None:
            raise ModelError("--tolerance (pixels) is for image models; a NeRF run takes --surface-tolerance")
        nerf_causes(causes, surface_tolerance)
        return
    if surface_tolerance is not None:
        raise ModelError("--surface-tolerance is for NeRF runs; an image model takes --tolerance (pixels)")
    if tolerance is not None and tolerance < 0:
        raise ModelError(f"--tolerance must be at least 0, got {tolerance}")
    _causes(target, causes)


def _causes(target: str, causes: list[str] | None) -> list[Region]:
    if causes:
        return [parse_region(text) for text in causes]
    cause = parse_target(target).default_cause()
    if cause is None:
        raise ModelError(f"target {target!r} covers the whole frame, so it names no cause region; "
                         "give one or more with --cause, e.g. --cause object=2 --cause shadow=0")
    return [cause]
