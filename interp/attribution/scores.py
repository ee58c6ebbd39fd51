"""Score a finished attribution run against the scene's known causes, into RUN/scores.csv: image runs by
`image_scores` (cause regions of pixels), NeRF runs by `nerf_scores` (the surface each ray meets); the measures
(energy in the cause, pointing game, area, the random baseline) are `measures`'.

scores.csv: one row per (cause, method), the random baseline last for each cause; columns target, cause, method,
frames (image runs: frames scored; NeRF runs: frames, then rays scored), energy_abs, energy_pos, pointing, area,
tolerance (pixels for image runs, scene units for NeRF runs).
"""

from __future__ import annotations

from pathlib import Path

from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.attribution.image_scores import check_image_score_options, score_image_run
from frobnoscope.interp.attribution.nerf_scores import check_nerf_score_options, score_nerf_run
from frobnoscope.interp.attribution.run_format import NERF_SAMPLES, open_maps, read_run_manifest

SCORES = "scores.csv"


def score_run(run, causes: list[str] | None = None, tolerance: int | None = None, seed: int = 0,
              block: int = 64, surface_tolerance: float | None = None) -> list[dict]:
    """Score every method's maps of a finished run against each cause (default: the target's own region; for a
    NeRF run, the surface each ray meets and the space in front of it, within `surface_tolerance` scene units);
    write RUN/scores.csv and return its rows. `block`: frames read at a time (image runs)."""
    run = Path(run)
    manifest = read_run_manifest(run)
    maps = open_maps(run)
    nerf = manifest.get("inputs") == NERF_SAMPLES
    check_score_options(nerf, manifest["target"], causes, tolerance, surface_tolerance)
    if nerf:
        rows = score_nerf_run(manifest, maps, causes, surface_tolerance, seed)
    else:
        rows = score_image_run(manifest, maps, causes, tolerance, seed, block)
    write_csv(run / SCORES, rows)
    return rows


def check_score_options(nerf: bool, target: str, causes: list[str] | None, tolerance: int | None,
                        surface_tolerance: float | None) -> None:
    """One-line errors for scoring options that do not fit the run (`frob attribute --score` checks them before
    it attributes anything)."""
    if nerf:
        check_nerf_score_options(causes, tolerance, surface_tolerance)
    else:
        check_image_score_options(target, causes, tolerance, surface_tolerance)
