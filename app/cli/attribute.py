"""`frob attribute`: attribution maps over a dataset, scored against the ground truth's causes with `--score`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import DATASET_HELP, IMAGE_MODEL_HELP, RAY_HELP
from frobnoscope.app.cli.progress import job_progress

MODEL_HELP = f"{IMAGE_MODEL_HELP}, or nerf:RUN_DIR (attributed to its sample positions)"
console = Console(stderr=True)


def attribute_command(
    data: Path = typer.Argument(..., help=DATASET_HELP, metavar="DATA"),
    model: str = typer.Option(..., help=MODEL_HELP),
    target: str = typer.Option(..., help="error[:REGION], output:X,Y, feature:HOOK:ID[:REGION] or "
                                         "probe:[HOOK:]FACTOR[:REGION] (see the README)"),
    method: str = typer.Option("integrated_gradients", help="comma-separated: integrated_gradients (ig), saliency, "
                               "input_x_gradient (ixg), smoothgrad, occlusion, feature_ablation, layer_conductance "
                               "(lc), layer_integrated_gradients (lig), or all"),
    out: Path = typer.Option(..., help="run directory (created; rerunning the same command resumes it)"),
    batch_size: int = typer.Option(8, help="frames per block (unit of resumable work, and per zarr chunk)"),
    workers: int = typer.Option(1, help="worker processes (1: this one), one intra-op thread each"),
    ray: str = typer.Option(None, help=RAY_HELP),
    frames: int = typer.Option(None, help="attribute only the first N frames"),
    layer: str = typer.Option(None, help="hook point for the layer methods (`frob models hooks`)"),
    sae: Path = typer.Option(None, help="SAE directory (`frob sae train`): feature ids are its latents"),
    probes: Path = typer.Option(None, help="probe directory (`frob probe`) for probe targets"),
    n_steps: int = typer.Option(32, help="integration steps (integrated gradients, layer methods)"),
    smoothgrad_samples: int = typer.Option(16, help="noisy copies per image (smoothgrad)"),
    smoothgrad_stdev: float = typer.Option(0.1, help="noise standard deviation in [0, 1] image units (smoothgrad; "
                                           "for a NeRF, x the field box's diagonal)"),
    internal_batch_size: int = typer.Option(None, help="images per forward+backward (default: 2^16 / pixels)"),
    perturbations_per_eval: int = typer.Option(None, help="perturbations per forward (default: 2^20 / pixels / "
                                               "frames)"),
    seed: int = typer.Option(0, help="smoothgrad noise of frame k and the random baseline's map of frame k"),
    score: bool = typer.Option(False, "--score", help="score the maps against the ground truth into RUN/scores.csv"),
    cause: list[str] = typer.Option([], help="cause region to score against (repeatable; default: the target's "
                                             "region), e.g. object=2, shadow=0, material=1; for a NeRF: surface "
                                             "and/or front (default both)"),
    tolerance: int = typer.Option(None, help="pointing-game tolerance in pixels (default: max(1, H // 32))"),
    surface_tolerance: float = typer.Option(None, help="NeRF runs: how far from the true surface (scene units) a "
                                            "sample counts as on it (default 0.05)"),
):
    """Attribute a target to the input pixels (or a layer; for a NeRF, its sample positions) with captum methods,
    frame by frame, into zarr maps."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.interp.attribution.methods import MethodSettings, parse_methods
    from frobnoscope.interp.attribution.run import attribute
    from frobnoscope.interp.attribution.run_format import AttributeConfig

    keep_freed_memory()
    settings = MethodSettings(n_steps=n_steps, smoothgrad_samples=smoothgrad_samples,
                              smoothgrad_stdev=smoothgrad_stdev, seed=seed, internal_batch_size=internal_batch_size,
                              perturbations_per_eval=perturbations_per_eval)
    config = AttributeConfig(model=model, target=target, methods=parse_methods(method), batch_size=batch_size,
                             frames=frames, layer=layer, sae=str(sae) if sae else None,
                             probes=str(probes) if probes else None, settings=settings)
    config.check()
    if score:
        from frobnoscope.interp.attribution.nerf_job import is_nerf_spec
        from frobnoscope.interp.attribution.scores import check_score_options

        check_score_options(is_nerf_spec(model), target, cause or None, tolerance, surface_tolerance)
    with job_progress("attribute", console, unit="images") as on_progress:
        attribute(data, out, config, workers=workers, ray_address=ray, on_progress=on_progress)
    stdout = Console()
    stdout.print(f"wrote {out}/maps.zarr: {', '.join(config.methods)} maps of {target}", highlight=False)
    if score:
        _score(out, cause, tolerance, surface_tolerance, seed, stdout)


def _score(run: Path, causes: list[str], tolerance: int | None, surface_tolerance: float | None, seed: int,
           stdout: Console) -> None:
    from frobnoscope.interp.attribution.scores import score_run

    rows = score_run(run, causes or None, tolerance, seed, surface_tolerance=surface_tolerance)
    rays = "rays" in rows[0]
    unit = "scene units" if rays else "px"
    table = Table("cause", "method", "rays" if rays else "frames", "energy |a|", "energy a+", "pointing", "area",
                  title=f"{rows[0]['target']}: attribution on the true cause (tolerance {rows[0]['tolerance']} {unit})",
                  title_justify="left")
    for row in rows:
        table.add_row(row["cause"], row["method"], str(row["rays" if rays else "frames"]), f"{row['energy_abs']:.3f}",
                      f"{row['energy_pos']:.3f}", f"{row['pointing']:.3f}", f"{row['area']:.3f}")
    stdout.print(table)
    stdout.print(f"wrote {run}/scores.csv", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("attribute")(attribute_command)
