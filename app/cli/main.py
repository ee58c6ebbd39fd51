"""`frob`: the command line. Every `FrobError` becomes one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from frobnoscope.app.cli.options import RAY_HELP
from frobnoscope.app.cli.progress import job_progress, training_progress
from frobnoscope.engine.errors import FrobError

app = typer.Typer(help="frobnoscope: interpretability for image models where the right answer is known.", no_args_is_help=True)
scenes_app = typer.Typer(help="Procedural scenes with exact ground truth, and datasets of them.", no_args_is_help=True)
app.add_typer(scenes_app, name="scenes")
console = Console(stderr=True)


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FrobError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@scenes_app.command("generate")
def generate_command(
    family: str = typer.Option("tabletop", help="tabletop, shapes3d or orbit"),
    n: int = typer.Option(None, help="number of frames (shapes3d: omit; it is the grid size)"),
    res: int = typer.Option(None, help="image width and height in pixels (default: the family's)"),
    seed: int = typer.Option(0, help="job seed; frame k uses numpy.random.default_rng([seed, k])"),
    out: Path = typer.Option(..., help="dataset directory (created; an unfinished one is resumed)"),
    workers: int = typer.Option(1, help="worker processes, one OpenGL context each"),
    settings: list[str] = typer.Option([], "--set", help="family setting key=value (repeatable), e.g. max_objects=3"),
    chunk_frames: int = typer.Option(8, help="frames per zarr chunk (and per unit of resumable work)"),
    ray: str = typer.Option(None, help=RAY_HELP),
):
    """Render a family's frames with every ground-truth channel into a zarr dataset."""
    from frobnoscope.scenes.families import make_family
    from frobnoscope.scenes.generate import frame_count, generate

    config = _settings(settings)
    if res is not None:
        config["res"] = str(res)
    frame_count(make_family(family, seed, config), n, workers)  # fail on bad input before drawing a progress bar
    if chunk_frames < 1:
        raise FrobError("--chunk-frames must be at least 1")
    with job_progress("generate", console) as on_progress:
        store = generate(family, n=n, seed=seed, out=out, workers=workers, settings=config,
                         chunk_frames=chunk_frames, on_progress=on_progress, ray_address=ray)
    _print_summary(store)


def _print_summary(store) -> None:
    from frobnoscope.scenes.store import DatasetStore

    assert isinstance(store, DatasetStore)
    manifest = store.manifest
    params = manifest["params"]
    out = Console()
    out.print(f"[bold]{store.path}[/bold]: {manifest['n']} frames of {params['family']} "
              f"(seed {params['seed']}) at {manifest['width']}x{manifest['height']}, "
              f"{'complete' if store.complete else 'INCOMPLETE'}")
    table = Table("channel", "dtype", "shape", "stored")
    for name, info in manifest["channels"].items():
        size = sum(f.stat().st_size for f in (store.path / name).rglob("*") if f.is_file())
        table.add_row(name, info["dtype"], "x".join(map(str, info["shape"])), f"{size / 1e6:.1f} MB")
    out.print(table)
    frames = manifest["frames"]
    splits = {}
    for frame in frames:
        splits[frame["split"]] = splits.get(frame["split"], 0) + 1
    if None not in splits:
        out.print("splits: " + ", ".join(f"{k} {v}" for k, v in splits.items()))
    counts = [len(f["spec"]["objects"]) for f in frames]
    out.print(f"objects per frame: min {min(counts)}, mean {sum(counts) / len(counts):.2f}, max {max(counts)}")


@scenes_app.command("info")
def info_command(data_dir: Path = typer.Argument(..., help="dataset directory")):
    """Print a dataset's summary: size, channels, splits."""
    from frobnoscope.scenes.store import DatasetStore

    _print_summary(DatasetStore.open(data_dir))


@scenes_app.command("verify")
def verify_command(data_dir: Path = typer.Argument(..., help="dataset directory")):
    """Recompute every frame's checksums and name any damaged frame (exit code 1 if any)."""
    from frobnoscope.scenes.store import DatasetStore

    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise FrobError(f"{data_dir} is unfinished; rerun the `frob scenes generate` command that made it to finish it")
    with Progress(TextColumn("[bold]verify"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
        task = progress.add_task("frames", total=len(store))
        damaged = store.damaged_frames(on_block=lambda count: progress.advance(task, count))
    if damaged:
        listed = "; ".join(f"frame {k} ({', '.join(names)})" for k, names in sorted(damaged.items())[:20])
        more = f"; and {len(damaged) - 20} more" if len(damaged) > 20 else ""
        console.print(f"damaged: {len(damaged)} of {len(store)} frames: {listed}{more}")
        raise typer.Exit(1)
    Console().print(f"ok: all {len(store)} frames match their checksums")


@scenes_app.command("show")
def show_command(
    spec_or_family: str = typer.Argument(..., help="a scene spec file (.json/.yaml) or a family name"),
    seed: int = typer.Option(0, help="family seed"),
    frame: int = typer.Option(0, help="frame index within the family"),
    res: int = typer.Option(256, help="image size for a family frame"),
    settings: list[str] = typer.Option([], "--set", help="family setting key=value (repeatable)"),
    out: Path = typer.Option(None, help="PNG to write (default: preview-<name>.png)"),
):
    """Render one frame and write a contact sheet of RGB and every ground-truth channel."""
    from frobnoscope.scenes.families import FAMILIES, make_family
    from frobnoscope.scenes.generate import render_frame
    from frobnoscope.scenes.preview import contact_sheet
    from frobnoscope.scenes.render import Renderer
    from frobnoscope.scenes.spec import load_spec

    path = Path(spec_or_family)
    if path.suffix in (".json", ".yaml", ".yml") or path.exists():
        spec = load_spec(path)
        from frobnoscope.scenes.families.base import Family, Frame

        class _OneSpec(Family):
            name = path.stem

            def frame(self, k):
                return Frame(spec=spec, factors={})

        family, title = _OneSpec(None, seed), str(path)
    elif spec_or_family in FAMILIES:
        family = make_family(spec_or_family, seed, {**_settings(settings), "res": str(res)})
        title = f"{spec_or_family} seed {seed} frame {frame}"
    else:
        raise FrobError(f"{spec_or_family!r} is neither a spec file nor a family; families: {', '.join(FAMILIES)}")
    out = out or Path(f"preview-{family.name}.png")
    with Renderer() as renderer:
        channels = render_frame(family, frame, renderer, {})
    contact_sheet(channels, out, title)
    Console().print(f"wrote {out}")


def _channel_list(values: list[str]) -> list[str] | None:
    """--channels rgb,depth_z --channels albedo -> ["rgb", "depth_z", "albedo"]; none given -> None (the format's default)."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _export_formats_help() -> str:
    """The export formats with their one-line summaries, from the registry (so a new format lists itself)."""
    from frobnoscope.scenes.export import formats

    return "\n\n".join(["Formats:", *(f"  {name} - {fmt.summary}" for name, fmt in formats().items())])


@app.command("export", epilog=_export_formats_help())
def export_command(
    data_dir: Path = typer.Argument(..., help="dataset directory made by `frob scenes generate`"),
    format_name: str = typer.Option(..., "--format", help="one of the formats listed below"),
    out: Path = typer.Option(..., help="output directory (must not exist; written beside it, then renamed)"),
    channels: list[str] = typer.Option([], help="channels to write, comma-separated or repeated (default: the format's)"),
    split: str = typer.Option(None, help="only frames of this split (train, val or test), for families with splits; "
                                         "not for nerf-synthetic, which always writes all three"),
):
    """Export a dataset for nerfstudio, the original NeRF, Hugging Face datasets or WebDataset."""
    from frobnoscope.scenes.export import plan_export, run_export

    job = plan_export(data_dir, format_name, out, _channel_list(channels), split)  # fail before drawing a progress bar
    with job_progress(f"export {job.fmt.name}", console) as on_progress:
        run_export(job, on_progress=on_progress)
    stdout = Console()
    stdout.print(f"wrote {len(job.indices)} frames ({', '.join(job.channels)}) to {job.out} as {job.fmt.name}", highlight=False)
    if job.fmt.notes:
        stdout.print(job.fmt.notes(job), highlight=False, soft_wrap=True)


train_app = typer.Typer(help="Train models on a dataset.", no_args_is_help=True)
app.add_typer(train_app, name="train")
models_app = typer.Typer(help="Image models behind the adapter protocol.", no_args_is_help=True)
app.add_typer(models_app, name="models")
MODEL_SPEC_HELP = "taef2[:DIR], taesd:PATH, sd-vae:PATH_OR_HUB_ID or run:RUN_DIR (see the README)"


@train_app.command("ae")
def train_ae_command(
    data: Path = typer.Option(..., help="dataset directory made by `frob scenes generate`"),
    arch: str = typer.Option("conv", help="kl-small (diffusers AutoencoderKL, small config) or conv"),
    steps: int = typer.Option(1500, help="optimizer steps"),
    out: Path = typer.Option(..., help="run directory (created; rerunning the same command resumes it)"),
    batch_size: int = typer.Option(4, help="frames per step"),
    learning_rate: float = typer.Option(1e-3, help="peak Adam learning rate (linear warmup, cosine decay to 10%)"),
    seed: int = typer.Option(0, help="initialisation and batch order"),
    holdout_every: int = typer.Option(10, help="hold out every n-th frame (datasets without splits)"),
    checkpoint_every: int = typer.Option(250, help="steps between checkpoints and held-out evaluations"),
    encoding: str = typer.Option("linear", help="what the model sees: linear (our data as is) or display (1/2.2 gamma)"),
):
    """Train an autoencoder on a dataset's frames; progress shows loss and PSNR, checkpoints are safetensors."""
    from frobnoscope.engine.memory import keep_freed_memory
    from frobnoscope.models.autoencoders.train import TrainConfig, prepare_training, run_training

    keep_freed_memory()  # tensors reuse freed memory instead of faulting in fresh pages (see models/memory.py)
    config = TrainConfig(arch=arch, steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                         holdout_every=holdout_every, checkpoint_every=checkpoint_every, encoding=encoding)
    job = prepare_training(data, out, config)  # fail on bad input before drawing a progress bar
    with training_progress(f"train {arch}", steps, console) as on_step:
        results = run_training(job, on_step=on_step)
    Console().print(f"{out}: {arch}, {results['steps']} steps; held-out PSNR {results['heldout_psnr']:.2f} dB, "
                    f"SSIM {results['heldout_ssim']:.4f} on {results['heldout_frames']} frames; "
                    f"evaluate it with `frob eval DATA --model run:{out} --out EVAL_DIR`", highlight=False)


@app.command("eval")
def eval_command(
    data_dir: Path = typer.Argument(..., help="dataset directory made by `frob scenes generate`"),
    model: str = typer.Option(..., help=MODEL_SPEC_HELP),
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
    model: str = typer.Argument(..., help="taef2[:DIR], taesd:PATH, sd-vae:PATH_OR_HUB_ID, run:RUN_DIR, nerf:RUN_DIR or "
                                          "nerfstudio:CONFIG_YML (see the README)"),
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


from frobnoscope.app.cli import nerf as nerf_cli

nerf_cli.register(app, train_app)

from frobnoscope.app.cli import interp as interp_cli

interp_cli.register(app)

from frobnoscope.app.cli import sae as sae_cli

sae_cli.register(app)

from frobnoscope.app.cli import attribute as attribute_cli

attribute_cli.register(app)


def main() -> None:
    try:
        app()
    except FrobError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
