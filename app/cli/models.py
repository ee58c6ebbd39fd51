"""`frob train ae`, `frob eval` and `frob models hooks`: image autoencoders, trained and judged."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frobnoscope.app.cli.options import ANY_MODEL_HELP, DATASET_HELP, IMAGE_MODEL_HELP, data_alias_option, dataset_path
from frobnoscope.app.cli.progress import job_progress, training_progress

console = Console(stderr=True)
models_app = typer.Typer(help="Image models behind the adapter protocol.", no_args_is_help=True)



def train_ae_command(
    data: Path = typer.Argument(None, help=DATASET_HELP, show_default=False, metavar="DATA"),
    arch: str = typer.Option("conv", help="kl-small (diffusers AutoencoderKL, small config) or conv"),
    steps: int = typer.Option(1500, help="optimizer steps"),
    out: Path = typer.Option(..., help="run directory (created; rerunning the same command resumes it)"),
    batch_size: int = typer.Option(4, help="frames per step"),
    learning_rate: float = typer.Option(1e-3, help="peak Adam learning rate (linear warmup, cosine decay to 10%)"),
    seed: int = typer.Option(0, help="initialisation and batch order"),
    holdout_every: int = typer.Option(10, help="hold out every n-th frame (datasets without splits)"),
    checkpoint_every: int = typer.Option(250, help="steps between checkpoints and held-out evaluations"),
    encoding: str = typer.Option("linear", help="what the model sees: linear (our data as is) or display (1/2.2 gamma)"),
    data_alias: Path = data_alias_option(),
):
    """Train an autoencoder on a dataset's frames; progress shows loss and PSNR, checkpoints are safetensors."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.models.autoencoders.train import TrainConfig, prepare_training, run_training

    keep_freed_memory()  # tensors reuse freed memory instead of faulting in fresh pages (see models/memory.py)
    config = TrainConfig(arch=arch, steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         holdout_every=holdout_every, checkpoint_every=checkpoint_every, encoding=encoding)
    data = dataset_path(data, data_alias, "train ae")
    job = prepare_training(data, out, config)  # fail on bad input before drawing a progress bar
    with training_progress(f"train {arch}", steps, console) as on_step:
        results = run_training(job, on_step=on_step)
    Console().print(f"{out}: {arch}, {results['steps']} steps; held-out PSNR {results['heldout_psnr']:.2f} dB, "
                    f"SSIM {results['heldout_ssim']:.4f} on {results['heldout_frames']} frames; "
                    f"evaluate it with `frob eval DATA --model run:{out} --out EVAL_DIR`", highlight=False)


def eval_command(
    data_dir: Path = typer.Argument(..., help=DATASET_HELP, metavar="DATA"),
    model: str = typer.Option(..., help=IMAGE_MODEL_HELP),
    out: Path = typer.Option(..., help="run directory (created; rerunning the same command resumes it)"),
    batch_size: int = typer.Option(8, help="frames per forward pass"),
    latent: str = typer.Option("mean", help="KL models (sd-vae, kl-small runs): decode the posterior mean or a sample"),
    seed: int = typer.Option(0, help="noise seed for --latent sample"),
    edge_radius: int = typer.Option(1, help="pixels counted as near an edge, around the edges channel's marks"),
):
    """Judge a model against its optimal output: PSNR, SSIM, error maps, and the error by ground-truth factor."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.interp.evaluation.images import EvalConfig, prepare_evaluation, read_breakdown, run_evaluation

    keep_freed_memory()
    config = EvalConfig(model=model, latent=latent, seed=seed, batch_size=batch_size, edge_radius=edge_radius)
    job = prepare_evaluation(data_dir, out, config)  # fail on bad input before drawing a progress bar
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
