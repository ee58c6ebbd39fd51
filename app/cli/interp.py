"""`frob capture` and `frob probe`: activation stores and linear probes against the ground truth."""

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
    data_alias_option,
    dataset_path,
    device_option,
    writes,
)
from frobnoscope.app.cli.progress import job_progress
from frobnoscope.engine.config import validate_config
from frobnoscope.interp.activations.capture import CaptureConfig
from frobnoscope.interp.probes.linear import ProbeConfig

console = Console(stderr=True)


@writes(lambda a: a["out"])
def capture_command(
    data: Path = typer.Argument(None, help=DATASET_HELP, show_default=False, metavar="DATA"),
    model: str = config_option(CaptureConfig, "model"),
    hooks: str = config_option(CaptureConfig, "hooks"),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    dtype: str = config_option(CaptureConfig, "dtype"),
    batch_size: int = config_option(CaptureConfig, "batch_size"),
    frames: int = config_option(CaptureConfig, "frames"),
    random_weights_seed: int = config_option(CaptureConfig, "random_weights_seed"),
    workers: int = typer.Option(1, help="worker processes, one copy of the model each"),
    ray: str = typer.Option(None, help=RAY_HELP),
    device: str = device_option(),
    data_alias: Path = data_alias_option(),
):
    """Stream activations at the chosen hook points, with ground truth pooled to each layer's grid, into zarr."""
    from frobnoscope.interp.activations.capture import capture
    from frobnoscope.interp.activations.store import ActivationStore

    data = dataset_path(data, data_alias, "capture")
    config = validate_config(CaptureConfig, dict(model=model, hooks=hooks, dtype=dtype, batch_size=batch_size,
                                                 frames=frames, random_weights_seed=random_weights_seed),
                             "capture settings")
    check_device(device)
    with job_progress("capture", console) as on_progress:
        capture(data, out, config, on_progress=on_progress, workers=workers, ray_address=ray, device=device)
    store = ActivationStore.open(out)
    skipped = store.manifest.get("skipped_hooks", [])
    if skipped:
        console.print(f"note: skipped {len(skipped)} hook points whose output is not image-like (B, C, h, w), e.g. "
                      f"{skipped[0]}", highlight=False)
    stdout = Console()
    for hook in store.hooks():
        stdout.print(f"{hook}: {' x '.join(map(str, store.shape(hook)))} per frame", highlight=False)
    stdout.print(f"wrote {out}: {len(store)} frames, {len(store.hooks())} hook points, "
                 f"{len(store.gt_channels())} pooled ground-truth arrays, {len(store.factors())} factors", highlight=False)


@writes(lambda a: a["out"] or Path(a["run"]) / "probes")
def probe_command(
    run: Path = typer.Argument(..., help="capture run made by `frob capture`"),
    control: Path = typer.Option(None, help="capture run of the same model with random weights (`--random-weights-seed`)"),
    out: Path = typer.Option(None, help="output directory (default RUN/probes)"),
    tokens_per_frame: int = config_option(ProbeConfig, "tokens_per_frame"),
    seed: int = config_option(ProbeConfig, "seed"),
    device: str = device_option(),
):
    """Linear probes for every hook point x ground-truth factor, with shuffled-target and random-weights controls."""
    from frobnoscope.interp.probes.run import PRIMARY_METRICS, run_probes

    config = validate_config(ProbeConfig, dict(tokens_per_frame=tokens_per_frame, seed=seed), "probe settings")
    rows = run_probes(run, out, control, config, on_hook=lambda hook: console.print(f"probed {hook}", highlight=False),
                      device=device)
    table = Table("hook", "factor", "metric", "score", "baseline", "shuffled", "selectivity",
                  *(["control"] if control is not None else []), title="best probes", title_justify="left")
    primary = sorted((r for r in rows if r["metric"] in PRIMARY_METRICS and not r["note"]),
                     key=lambda r: -r["selectivity"])
    for r in primary[:15]:
        table.add_row(r["hook"], r["factor"], r["metric"], f"{r['score']:.3f}", f"{r['baseline']:.3f}",
                      f"{r['shuffled']:.3f}", f"{r['selectivity']:.3f}",
                      *([f"{r['control_score']:.3f}"] if control is not None else []))
    stdout = Console()
    stdout.print(table)
    refused = {}
    for r in rows:
        if r["note"]:
            refused.setdefault((r["hook"], r["note"]), []).append(r["factor"])
    for (hook, note), factors in refused.items():
        console.print(f"note: frame-level probes at {hook} not fitted ({len(factors)} factors): {note}",
                      highlight=False)
    stdout.print(f"wrote {out or Path(run) / 'probes'}/probes.csv and heatmap.png ({len(rows)} rows)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_command)
    app.command("probe")(probe_command)
