"""`frob train ae`, `frob eval` and `frob models hooks`: image autoencoders, trained and judged."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frobnoscope.app.cli.options import (
    DATASET_HELP,
    RUN_DIR_HELP,
    config_option,
    data_alias_option,
    dataset_path,
    device_option,
    writes,
)
from frobnoscope.app.cli.progress import job_progress, training_progress
from frobnoscope.engine.config import validate_config
from frobnoscope.interp.evaluation.images import EvalConfig
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig
from frobnoscope.models.loading.registry import ANY_MODEL_HELP

console = Console(stderr=True)
models_app = typer.Typer(help="Image models behind the adapter protocol.", no_args_is_help=True)


@writes(lambda a: a["out"])
def train_ae_command(
    data: Path = typer.Argument(None, help=DATASET_HELP, show_default=False, metavar="DATA"),
    arch: str = config_option(AutoencoderTrainConfig, "arch"),
    steps: int = config_option(AutoencoderTrainConfig, "steps"),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    batch_size: int = config_option(AutoencoderTrainConfig, "batch_size"),
    learning_rate: float = config_option(AutoencoderTrainConfig, "learning_rate"),
    seed: int = config_option(AutoencoderTrainConfig, "seed"),
    holdout_every: int = config_option(AutoencoderTrainConfig, "holdout_every"),
    checkpoint_every: int = config_option(AutoencoderTrainConfig, "checkpoint_every"),
    encoding: str = config_option(AutoencoderTrainConfig, "encoding"),
    device: str = device_option(),
    data_alias: Path = data_alias_option(),
):
    """Train an autoencoder on a dataset's frames; progress shows loss and PSNR, checkpoints are safetensors."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.models.autoencoders.train import prepare_training, run_training

    keep_freed_memory()  # tensors reuse freed memory instead of faulting in fresh pages (see engine/memory.py)
    config = validate_config(AutoencoderTrainConfig, {
        "arch": arch, "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
        "holdout_every": holdout_every, "checkpoint_every": checkpoint_every, "encoding": encoding},
        "autoencoder training settings")
    data = dataset_path(data, data_alias, "train ae")
    job = prepare_training(data, out, config, device)  # fail on bad input before drawing a progress bar
    with training_progress(f"train {arch}", steps, console) as on_step:
        results = run_training(job, on_step=on_step)
    Console().print(f"{out}: {arch}, {results['steps']} steps; held-out PSNR {results['heldout_psnr']:.2f} dB, "
                    f"SSIM {results['heldout_ssim']:.4f} on {results['heldout_frames']} frames; "
                    f"evaluate it with `frob eval DATA --model run:{out} --out EVAL_DIR`", highlight=False)


@writes(lambda a: a["out"])
def eval_command(
    data_dir: Path = typer.Argument(..., help=DATASET_HELP, metavar="DATA"),
    model: str = config_option(EvalConfig, "model"),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    batch_size: int = config_option(EvalConfig, "batch_size"),
    latent: str = config_option(EvalConfig, "latent"),
    seed: int = config_option(EvalConfig, "seed"),
    edge_radius: int = config_option(EvalConfig, "edge_radius"),
    device: str = device_option(),
):
    """Judge a model against its optimal output: PSNR, SSIM, error maps, and the error by ground-truth factor."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.interp.evaluation.images import prepare_evaluation, read_breakdown, run_evaluation

    config = validate_config(EvalConfig, {"model": model, "latent": latent, "seed": seed, "batch_size": batch_size,
                                          "edge_radius": edge_radius}, "evaluation settings")
    keep_freed_memory()
    job = prepare_evaluation(data_dir, out, config, device)  # fail on bad input before drawing a progress bar
    with job_progress("eval", console) as on_progress:
        summary = run_evaluation(job, on_progress=on_progress)
    stdout = Console()
    stdout.print(f"[bold]{escape(model)}[/bold] on {summary['frames']} frames: mean PSNR {summary['mean_psnr']:.2f} dB, "
                 f"mean SSIM {summary['mean_ssim']:.4f} (linear RGB against the optimal output)")
    table = Table("factor", "bin", "share of pixels", "PSNR dB", "MSE x all pixels", title="error by ground truth", title_justify="left")
    for row in read_breakdown(out):
        if row["pixels"]:
            table.add_row(row["factor"], row["bin"], f"{100 * row['pixel_share']:.1f}%", f"{row['psnr']:.2f}",
                          f"{row['mse_vs_overall']:.2f}")
    stdout.print(table)
    stdout.print(f"wrote {out}/frames.csv, breakdown.csv, maps/ (zarr) and plots/*.png", highlight=False)


@models_app.command("hooks")
def hooks_command(
    model: str = typer.Argument(..., help=ANY_MODEL_HELP),
    contains: str = typer.Option(None, help="only names containing this text"),
):
    """List a model's hook points (one per module call, in execution order); NeRFs too (nerf:, nerfstudio:)."""
    from frobnoscope.models import load_any_model

    names = load_any_model(model).hook_points()
    shown = [name for name in names if contains is None or contains in name]
    stdout = Console()
    for name in shown:
        stdout.print(name, highlight=False)
    console.print(f"{len(shown)} of {len(names)} hook points")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    train_app.command("ae")(train_ae_command)
    app.command("eval")(eval_command)
    app.add_typer(models_app, name="models")
