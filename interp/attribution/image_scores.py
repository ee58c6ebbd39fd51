"""Scores of an image model's attribution run: each method's maps against cause regions of the scene's ground truth.

A cause is a `targets.Region` (object=N, shadow=L, material=N, ...) masked from the dataset's ground truth; by
default the target's own region, or the object under a target pixel. Per frame and cause, each method's map and the
random baseline's get energy_abs, energy_pos, pointing and area (`measures`); the pointing tolerance defaults to
max(1, H // 32) pixels. Frames whose region is empty, or whose map is all zero, are left out of that row (`frames`
counts the rest). Rows average over frames: one per (cause, method), random last for each cause.
"""

from __future__ import annotations

import numpy as np
import zarr

from frobnoscope.engine.config import ConfigError
from frobnoscope.interp.attribution.measures import RANDOM, energy_in_region, mean_scores, pointing_game, random_maps
from frobnoscope.interp.attribution.targets import Region, parse_region, parse_target
from frobnoscope.scenes.store import DatasetStore

SCORING = "scoring settings"  # what a ConfigError of the scoring options calls them


def default_tolerance(height: int) -> int:
    return max(1, height // 32)


def score_image_run(manifest: dict, maps: zarr.Group, causes: list[str] | None, tolerance: int | None, seed: int,
                    block: int) -> list[dict]:
    """The rows of scores.csv for a finished run of `manifest` with its maps.zarr `maps`, reading `block` frames
    at a time."""
    regions = image_causes(manifest["target"], causes)
    store = DatasetStore.open(manifest["dataset"]["path"])
    n, height, width = manifest["frames"], manifest["height"], manifest["width"]
    tolerance = default_tolerance(height) if tolerance is None else tolerance
    names = [*manifest["methods"], RANDOM]
    sums = {(str(region), name): {key: [] for key in ("energy_abs", "energy_pos", "pointing", "area")}
            for region in regions for name in names}
    channels = sorted({channel for region in regions for channel in region.channels()})
    for start in range(0, n, block):
        stop = min(start + block, n)
        gt = {channel: np.asarray(store.channel(channel)[start:stop]) for channel in channels}
        blocks = {method: np.asarray(maps[method][start:stop]) for method in manifest["methods"]}
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
    return rows


def check_image_score_options(target: str, causes: list[str] | None, tolerance: int | None,
                              surface_tolerance: float | None) -> None:
    if surface_tolerance is not None:
        raise ConfigError(SCORING, [("surface_tolerance", "is for NeRF runs; an image model takes tolerance (pixels)")])
    if tolerance is not None and tolerance < 0:
        raise ConfigError(SCORING, [("tolerance", f"must be at least 0, got {tolerance}")])
    image_causes(target, causes)


def image_causes(target: str, causes: list[str] | None) -> list[Region]:
    """The parsed `causes`, or the target's own cause region when none are given."""
    if causes:
        return [parse_region(text) for text in causes]
    cause = parse_target(target).default_cause()
    if cause is None:
        raise ConfigError(SCORING, [("causes", f"target {target!r} covers the whole frame, so it names no cause "
                                               "region; give one or more, e.g. object=2 and shadow=0")])
    return [cause]
