"""`frob train nerf` and `frob eval-nerf`: the NeRF commands, registered on the main app by `register`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import (
    RUN_DIR_HELP,
    check_device,
    config_option,
    data_alias_option,
    dataset_path,
    device_option,
    writes,
)
from frobnoscope.app.cli.progress import job_progress, training_progress
from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.interp.evaluation.nerf import NerfJudgeConfig
from frobnoscope.models.nerf.field import FieldConfig
from frobnoscope.models.nerf.model import SamplingConfig
from frobnoscope.models.nerf.train import NerfTrainConfig

console = Console(stderr=True)
NESTED_FLAGS = ("field.encoding", "field.hidden_width", "sampling.coarse_samples", "sampling.fine_samples")


@writes(lambda a: a["out"])
def train_nerf_command(
    data: Path = typer.Argument(None, help="orbit dataset made by `frob scenes generate --family orbit`", show_default=False, metavar="DATA"),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    steps: int = config_option(NerfTrainConfig, "steps"),
    encoding: str = config_option(FieldConfig, "encoding"),
    rays_per_step: int = config_option(NerfTrainConfig, "rays_per_step"),
    coarse_samples: int = config_option(SamplingConfig, "coarse_samples"),
    fine_samples: int = config_option(SamplingConfig, "fine_samples"),
    hidden_width: int = config_option(FieldConfig, "hidden_width"),
    learning_rate: float = config_option(NerfTrainConfig, "learning_rate"),
    seed: int = config_option(NerfTrainConfig, "seed"),
    eval_every: int = config_option(NerfTrainConfig, "eval_every"),
    checkpoint_every: int = config_option(NerfTrainConfig, "checkpoint_every"),
    threads: int = config_option(NerfTrainConfig, "threads"),
    device: str = device_option(),
    data_alias: Path = data_alias_option(),
):
    """Fit a coordinate MLP (NeRF) to an orbit dataset's train views; progress shows loss and held-out PSNR."""
    from frobnoscope.models.nerf.data import load_orbit
    from frobnoscope.models.nerf.train import train_nerf

    values = {"field": {"encoding": encoding, "hidden_width": hidden_width},
              "sampling": {"coarse_samples": coarse_samples, "fine_samples": fine_samples}, "steps": steps,
              "rays_per_step": rays_per_step, "learning_rate": learning_rate, "seed": seed, "eval_every": eval_every,
              "checkpoint_every": checkpoint_every, "threads": threads}
    try:
        config = validate_config(NerfTrainConfig, values, "NeRF training settings")
    except ConfigError as error:  # the nested fields these flags set are named by their flags
        raise ConfigError(error.what, [(path.rpartition(".")[2] if path in NESTED_FLAGS else path, message)
                                       for path, message in error.problems]) from None
    data = dataset_path(data, data_alias, "train nerf")
    check_device(device)  # fail on a device torch cannot use or bad input before drawing a progress bar
    load_orbit(data)
    with training_progress(f"train nerf ({encoding})", steps, console) as on_step:
        results = train_nerf(data, out, config, on_step=on_step, device=device)
    psnr = ", ".join(f"{split} {value:.2f} dB" for split, value in results["psnr"].items())
    reached = results["seconds_to_25db"]
    Console().print(f"{out}: {results['steps']} steps in {results['seconds']:.0f} s; held-out PSNR {psnr}; "
                    f"25 dB (val) {'after ' + format(reached, '.0f') + ' s' if reached is not None else 'not reached'}; "
                    f"judge it with `frob eval-nerf {out} --out EVAL_DIR`", highlight=False)


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    train_app.command("nerf")(train_nerf_command)
    app.command("eval-nerf")(eval_nerf_command)


@writes(lambda a: a["out"])
def eval_nerf_command(
    run: Path = typer.Argument(..., help="run directory made by `frob train nerf`, or a nerfstudio run (its config.yml "
                                         "or a directory holding one; needs the nerfstudio extra)"),
    out: Path = typer.Option(..., help="output directory (created; must be new or empty)"),
    novel_views: int = config_option(NerfJudgeConfig, "novel_views"),
    uniform_points: int = config_option(NerfJudgeConfig, "uniform_points"),
    shell_points: int = config_option(NerfJudgeConfig, "shell_points"),
    surface_points: int = config_option(NerfJudgeConfig, "surface_points"),
    density_threshold: float = config_option(NerfJudgeConfig, "density_threshold"),
    seed: int = config_option(NerfJudgeConfig, "seed"),
    device: str = device_option(),
):
    """Judge a NeRF run against the scene: held-out and novel renders (PSNR, SSIM, error by ground-truth factor),
    termination distance vs depth_ray, density vs occupancy and SDF, colour vs radiance."""
    from frobnoscope.interp.evaluation.nerf import check_inputs, judge_nerf

    config = validate_config(NerfJudgeConfig, {"novel_views": novel_views, "uniform_points": uniform_points,
                                               "shell_points": shell_points, "surface_points": surface_points,
                                               "density_threshold": density_threshold, "seed": seed},
                             "NeRF judging settings")
    check_device(device)  # fail on a device torch cannot use or bad input before drawing a progress bar
    check_inputs(run, out)
    with job_progress("eval nerf", console, unit="views") as on_progress:
        summary = judge_nerf(run, out, config, on_progress=on_progress, device=device)
    print_judgement(summary, out)


def print_judgement(summary: dict, out: Path) -> None:
    stdout = Console()
    table = Table("views", "count", "mean PSNR dB", "mean SSIM", title="images against the true render", title_justify="left")
    for split, row in summary["images"].items():
        table.add_row(split, str(row["views"]), f"{row['mean_psnr']:.2f}", f"{row['mean_ssim']:.4f}")
    stdout.print(table)
    termination = summary["termination"]
    stdout.print(f"termination vs depth_ray ({termination['hit_rays']} hitting rays): median |error| expected "
                 f"{termination['depth_median_abs_error']:.4f}, median {termination['median_depth_median_abs_error']:.4f}, "
                 f"peak {termination['peak_depth_median_abs_error']:.4f} units; within 0.05: "
                 f"{100 * termination['median_depth_within_0.05']:.1f}% (median); opacity on rays that miss: "
                 f"{termination['miss_accumulation_mean']:.3f}", highlight=False)
    occupancy, color = summary["occupancy"], summary["color"]
    stdout.print(f"occupancy IoU (density > {occupancy['threshold']:.1f}): {occupancy['iou_uniform']:.3f} uniform in the box, "
                 f"{occupancy['iou_shell']:.3f} near the surface; best {occupancy['best_iou_uniform']:.3f} at "
                 f"{occupancy['best_threshold']:g}", highlight=False)
    stdout.print(f"surface colour: {color['psnr_vs_radiance']:.2f} dB vs true radiance, RMSE vs albedo "
                 f"{color['rmse_vs_albedo']:.3f} ({color['surface_points']} points)", highlight=False)
    table = Table("factor", "bin", "PSNR dB", "MSE x all", title="worst bins", title_justify="left")
    for row in summary["worst_bins"]:
        table.add_row(row["factor"], row["bin"], f"{row['psnr']:.2f}", f"{row['mse_vs_overall']:.2f}")
    stdout.print(table)
    stdout.print(f"wrote {out}/views.csv, breakdown.csv, sdf_profile.csv, iou.csv, plots/*.png", highlight=False)
