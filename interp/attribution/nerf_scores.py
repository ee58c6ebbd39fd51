"""Scores of a NeRF's attribution run: each ray's per-sample attributions against the surface the ray truly meets.

The true cause of a pixel is the surface its ray meets first, at `depth_ray`. Per ray that hits one, for the cause
`surface` (samples within `tolerance` scene units of it) and `front` (samples in the empty space before it,
t < depth_ray - tolerance: mass there credits floaters): the share of the ray's |a| on the cause's samples
(energy), whether its largest |a| is there (pointing), and the share of its samples there (`area`: what a map spread
evenly would score), as `measures` defines them; the `random` rows score uniform [0, 1] per-sample maps drawn from
numpy.random.default_rng([seed, frame]). A ray whose map is all zero is left out of that method's row (`rays`
counts the rest).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import zarr

from frobnoscope.engine.config import ConfigError
from frobnoscope.interp.attribution.image_scores import SCORING
from frobnoscope.interp.attribution.measures import RANDOM, mean_scores, random_maps
from frobnoscope.interp.attribution.run_format import SAMPLE_T, along_ray
from frobnoscope.interp.attribution.targets import parse_target
from frobnoscope.scenes.store import DatasetStore

SURFACE = "surface"  # causes of a NeRF pixel: the surface its ray meets, and the empty space in front of it
FRONT = "front"
CAUSE_NAMES = {SURFACE: "surface (|t - depth_ray| <= tolerance)", FRONT: "front (t < depth_ray - tolerance)"}
DEFAULT_SURFACE_TOLERANCE = 0.05  # scene units, as `evaluation.nerf_points`' default occupancy step


def surface_scores(along: np.ndarray, t: np.ndarray, depth: np.ndarray, tolerance: float,
                   cause: str = SURFACE) -> dict[str, np.ndarray]:
    """Per ray (any leading shape; `along`, `t` (..., K), `depth` (...)): `energy_abs`, `energy_pos` (shares of |a|
    and max(a, 0) on the cause's samples: |t - depth| <= tolerance for `surface`, t < depth - tolerance for
    `front`), `pointing` (1 if the largest |a| is on one), `area` (share of samples there). NaN for a ray that
    misses (depth not finite) or has no mass of that kind."""
    along = along.astype(np.float64)
    with np.errstate(invalid="ignore"):
        near = (np.abs(t - depth[..., None]) <= tolerance if cause == SURFACE else
                t < depth[..., None] - tolerance)
    hit = np.isfinite(depth)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, mass in (("energy_abs", np.abs(along)), ("energy_pos", np.maximum(along, 0))):
            total = mass.sum(-1)
            out[name] = np.where(hit & (total > 0), (mass * near).sum(-1) / total, np.nan)
        peak = np.take_along_axis(near, np.abs(along).argmax(-1)[..., None], -1)[..., 0]
        out["pointing"] = np.where(hit & (np.abs(along).max(-1) > 0), peak.astype(np.float64), np.nan)
        out["area"] = np.where(hit, near.mean(-1), np.nan)
    return out


def nerf_causes(causes: Sequence[str] | None, tolerance: float | None) -> tuple[list[str], float]:
    """The checked causes (default: both) and surface tolerance (default 0.05) of a NeRF run's scores."""
    causes = list(causes or CAUSE_NAMES)
    unknown = [cause for cause in causes if cause not in CAUSE_NAMES]
    if unknown:
        raise ConfigError(SCORING, [("causes", f"a NeRF run is scored against the surface each ray meets ({SURFACE}) "
                                               f"and the empty space in front of it ({FRONT}); not {', '.join(unknown)}")])
    tolerance = DEFAULT_SURFACE_TOLERANCE if tolerance is None else float(tolerance)
    if tolerance <= 0:
        raise ConfigError(SCORING, [("surface_tolerance", f"must be positive, got {tolerance}")])
    return causes, tolerance


def check_nerf_score_options(causes: Sequence[str] | None, tolerance: int | None,
                             surface_tolerance: float | None) -> None:
    if tolerance is not None:
        raise ConfigError(SCORING, [("tolerance", "(pixels) is for image models; a NeRF run takes surface_tolerance")])
    nerf_causes(causes, surface_tolerance)


def score_nerf_run(manifest: dict, maps: zarr.Group, causes: Sequence[str] | None, tolerance: float | None,
                   seed: int, samples_per_block: int = 2**22) -> list[dict]:
    """The rows of scores.csv for a finished NeRF run of `manifest` with its maps.zarr `maps` (module docstring),
    over the rays of the target's region that hit a surface and have attribution mass; frames are read
    `samples_per_block` ray samples at a time."""
    causes, tolerance = nerf_causes(causes, tolerance)
    store = DatasetStore.open(manifest["dataset"]["path"])
    spec = parse_target(manifest["target"])
    n = manifest["frames"]
    block = max(1, samples_per_block // int(np.prod(maps[SAMPLE_T].shape[1:])))
    names = [*manifest["methods"], RANDOM]
    sums = {(cause, name): {key: [] for key in ("energy_abs", "energy_pos", "pointing", "area")}
            for cause in causes for name in names}
    for start in range(0, n, block):
        stop = min(start + block, n)
        depth = np.asarray(store.channel("depth_ray")[start:stop])
        gt = {name: np.asarray(store.channel(name)[start:stop]) for name in spec.region.channels()}
        region = spec.region.mask(gt, depth.shape)
        t = np.asarray(maps[SAMPLE_T][start:stop])
        for name in names:
            along = (np.asarray(maps[along_ray(name)][start:stop]) if name != RANDOM else
                     random_maps(range(start, stop), t.shape[1:], seed))
            for cause in causes:
                for key, values in surface_scores(along, t, depth, tolerance, cause).items():
                    sums[cause, name][key].append(values[region])
    rows = []
    for (cause, name), entry in sums.items():
        count, means = mean_scores(entry)
        rows.append({"target": manifest["target"], "cause": CAUSE_NAMES[cause], "method": name, "frames": n,
                     "rays": count, **means, "tolerance": tolerance})
    return rows
