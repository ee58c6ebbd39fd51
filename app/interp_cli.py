"""`frob capture` and `frob probe`: activation stores and linear probes against the ground truth."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

MODEL_SPEC_HELP = "taef2[:DIR], taesd:PATH, sd-vae:PATH_OR_HUB_ID or run:RUN_DIR (see the README)"
console = Console(stderr=True)


def capture_command(
    data: Path = typer.Option(..., help="dataset directory made by `frob scenes generate`"),
    model: str = typer.Option(..., help=MODEL_SPEC_HELP),
    hooks: str = typer.Option(..., help="comma-separated globs over the model's hook points (`frob models hooks`)"),
    out: Path = typer.Option(..., help="run directory (created; rerunning the same command resumes it)"),
    dtype: str = typer.Option("float16", help="stored activation dtype: float16 or float32"),
    batch_size: int = typer.Option(8, help="frames per forward pass (and per zarr chunk)"),
    frames: int = typer.Option(None, help="capture only the first N frames"),
    random_weights_seed: int = typer.Option(None, help="re-initialise the model's weights with this seed (control run)"),
):
    """Stream activations at the chosen hook points, with ground truth pooled to each layer's grid, into zarr."""
    from frobnoscope.interp.activations import ActivationStore
    from frobnoscope.interp.capture import CaptureConfig, capture

    config = CaptureConfig(model=model, hooks=hooks, dtype=dtype, batch_size=batch_size, frames=frames,
                           random_weights_seed=random_weights_seed)
    config.check()
    columns = (TextColumn("[bold]capture"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("frames", total=None)
        capture(data, out, config, on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    store = ActivationStore.open(out)
    stdout = Console()
    for hook in store.hooks():
        stdout.print(f"{hook}: {' x '.join(map(str, store.shape(hook)))} per frame", highlight=False)
    stdout.print(f"wrote {out}: {len(store)} frames, {len(store.hooks())} hook points, "
                 f"{len(store.gt_channels())} pooled ground-truth arrays, {len(store.factors())} factors", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_command)
