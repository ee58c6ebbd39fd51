"""`frob attribute`: attribution maps over a dataset, scored against the ground truth's causes with `--score`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import (
    DATASET_HELP,
    RAY_HELP,
    RUN_DIR_HELP,
    check_device,
    config_option,
    device_option,
    writes,
)
from frobnoscope.app.cli.progress import job_progress
from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.interp.attribution.config import AttributeConfig, is_nerf_spec
from frobnoscope.interp.attribution.methods import MethodSettings

console = Console(stderr=True)


@writes(lambda a: a["out"])
def attribute_command(
    data: Path = typer.Argument(..., help=DATASET_HELP, metavar="DATA"),
    model: str = config_option(AttributeConfig, "model"),
    target: str = config_option(AttributeConfig, "target"),
    # the config's default is the tuple ("integrated_gradients",); the flag takes the same as comma-separated text
    method: str = typer.Option("integrated_gradients", help=AttributeConfig.model_fields["methods"].description),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    batch_size: int = config_option(AttributeConfig, "batch_size"),
    workers: int = typer.Option(1, help="worker processes (1: this one), one intra-op thread each"),
    ray: str = typer.Option(None, help=RAY_HELP),
    device: str = device_option(),
    frames: int = config_option(AttributeConfig, "frames"),
    layer: str = config_option(AttributeConfig, "layer"),
    sae: Path = config_option(AttributeConfig, "sae"),
    probes: Path = config_option(AttributeConfig, "probes"),
    n_steps: int = config_option(MethodSettings, "n_steps"),
    smoothgrad_samples: int = config_option(MethodSettings, "smoothgrad_samples"),
    smoothgrad_stdev: float = config_option(MethodSettings, "smoothgrad_stdev"),
    internal_batch_size: int = config_option(MethodSettings, "internal_batch_size"),
    perturbations_per_eval: int = config_option(MethodSettings, "perturbations_per_eval"),
    seed: int = config_option(MethodSettings, "seed"),
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
    from frobnoscope.interp.attribution.run import attribute

    settings = {"n_steps": n_steps, "smoothgrad_samples": smoothgrad_samples, "smoothgrad_stdev": smoothgrad_stdev,
                "seed": seed, "internal_batch_size": internal_batch_size,
                "perturbations_per_eval": perturbations_per_eval}
    config = _attribute_config({"model": model, "target": target, "methods": method, "batch_size": batch_size,
                                "frames": frames, "layer": layer, "sae": str(sae) if sae else None,
                                "probes": str(probes) if probes else None, "settings": settings})
    keep_freed_memory()
    if score:
        from frobnoscope.interp.attribution.scores import check_score_options

        try:
            check_score_options(is_nerf_spec(model), target, cause or None, tolerance, surface_tolerance)
        except ConfigError as error:  # the flag is --cause (repeatable)
            raise ConfigError(error.what, [("cause" if path == "causes" else path, message)
                                           for path, message in error.problems]) from None
    check_device(device)
    with job_progress("attribute", console, unit="images") as on_progress:
        attribute(data, out, config, workers=workers, ray_address=ray, on_progress=on_progress, device=device)
    stdout = Console()
    stdout.print(f"wrote {out}/maps.zarr: {', '.join(config.methods)} maps of {target}", highlight=False)
    if score:
        _score(out, cause, tolerance, surface_tolerance, seed, stdout)


def _attribute_config(values: dict) -> AttributeConfig:
    """`values` validated, each problem named as this command spells it: `--method` for `methods`, and the method
    settings as top-level flags (`settings.n_steps` -> `--n-steps`)."""
    try:
        return validate_config(AttributeConfig, values, "attribution settings")
    except ConfigError as error:
        problems = [("method" if path == "methods" else path.removeprefix("settings."), message)
                    for path, message in error.problems]
        raise ConfigError(error.what, problems) from None


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
