"""`frob sae train`, `frob sae compare`, `frob sae meta` and `frob features label`, registered on the main app by
`register`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import check_device, config_option, device_option, writes
from frobnoscope.app.cli.progress import job_progress, step_progress
from frobnoscope.engine.config import validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.interp.features.run import LabelConfig
from frobnoscope.interp.sae.meta import MetaConfig
from frobnoscope.interp.sae.run import SAERunConfig
from frobnoscope.interp.sae.training import SAETrainConfig

console = Console(stderr=True)
sae_app = typer.Typer(help="Sparse autoencoders on a hook point's activations.", no_args_is_help=True)
features_app = typer.Typer(help="Features labelled against ground truth; frobnoloids.", no_args_is_help=True)


@sae_app.command("train")
@writes(lambda a: a["out"] or Path(a["run"]) / "saes")
def train_command(
    run: Path = typer.Argument(..., help="activation run made by `frob capture`"),
    hook: str = config_option(SAERunConfig, "hook"),
    arch: str = config_option(SAERunConfig, "arch"),
    width: int = config_option(SAERunConfig, "width"),
    k: int = config_option(SAERunConfig, "k"),
    steps: int = config_option(SAETrainConfig, "steps"),
    seed: int = config_option(SAETrainConfig, "seed"),
    seeds: str = typer.Option(None, help="comma-separated seeds: train one SAE per seed and compare the first two"),
    batch_tokens: int = config_option(SAETrainConfig, "batch_tokens"),
    learning_rate: float = config_option(SAETrainConfig, "learning_rate"),
    frequency_cost: float = config_option(SAERunConfig, "frequency_cost"),
    max_tokens: int = config_option(SAERunConfig, "max_tokens"),
    checkpoint_every: int = config_option(SAETrainConfig, "checkpoint_every"),
    out: Path = typer.Option(None, help="SAE directory (default RUN/saes/<hook>.<arch>.w<M>.k<K>.s<seed>)"),
    device: str = device_option(),
):
    """Train an SAE on a hook's tokens; report L0, FVU, dead/dense fractions, spliced score and absorption."""
    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.sae.run import train_on_run

    seed_list = [seed] if seeds is None else _parse_seeds(seeds)
    if out is not None and len(seed_list) > 1:
        raise FrobError("--out names one SAE directory; leave it out with --seeds")
    config = validate_config(SAERunConfig, dict(hook=hook, arch=arch, width=width, k=k, frequency_cost=frequency_cost,
                                                max_tokens=max_tokens), "SAE settings")
    train_configs = [validate_config(SAETrainConfig, dict(steps=steps, batch_tokens=batch_tokens,
                                                          learning_rate=learning_rate, seed=one_seed,
                                                          checkpoint_every=checkpoint_every), "SAE training settings")
                     for one_seed in seed_list]
    check_device(device)  # fail on a device torch cannot use, a bad run or hook before drawing a progress bar
    ActivationStore.open(run).shape(hook)
    directories = []
    for train_config in train_configs:
        with step_progress(f"sae {arch} seed {train_config.seed}", steps, console, _describe_step) as on_step:
            directory, report = train_on_run(run, config, train_config, out=out, on_step=on_step, device=device)
        directories.append(directory)
        _print_report(directory, report)
    if len(directories) > 1:
        _print_stability(directories[0], directories[1])
        _print_stability_curve(directories[0], directories[1])


def _describe_step(report) -> str:
    return f"loss {report.loss:.4f}  L0 {report.l0:.1f}  dead {100 * report.dead_fraction:.1f}%"


def _parse_seeds(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise FrobError(f"--seeds expects comma-separated integers, got {text!r}") from None


def _print_report(directory: Path, report: dict) -> None:
    stdout = Console()
    metrics, splice = report["metrics"], report["splice"]
    table = Table("metric", "value", title=f"{directory}", title_justify="left")
    table.add_row("L0", f"{metrics['l0']:.2f}")
    table.add_row("FVU", f"{metrics['fvu']:.4f}")
    table.add_row(f"dead (no firing in {metrics['dead_tokens']} tokens)", f"{100 * metrics['dead_fraction']:.1f}%")
    table.add_row("dense (> 10% of tokens)", f"{100 * metrics['dense_fraction']:.1f}%")
    if "skipped" in splice:
        table.add_row("spliced score", f"skipped: {splice['skipped']}")
    else:
        table.add_row("MSE clean / spliced / zero-ablated",
                      f"{splice['clean_mse']:.3g} / {splice['spliced_mse']:.3g} / {splice['zero_ablation_mse']:.3g}")
        table.add_row("error recovered by the SAE", f"{100 * splice['recovered']:.1f}%")
    absorption = report["absorption"]
    table.add_row("absorption pairs (confirmed by GT)", f"{absorption['pairs']} ({absorption['confirmed']})")
    stdout.print(table)
    stdout.print(f"wrote {directory}/report.json, sae.safetensors, and curves.csv + curves.png (convergence)",
                 highlight=False)


def _print_stability(a: Path, b: Path) -> None:
    from frobnoscope.interp.sae.analysis import stability
    from frobnoscope.interp.sae.training import load_sae

    result = stability(load_sae(a), load_sae(b))
    Console().print(f"stability {a.name} vs {b.name}: mean Hungarian-matched decoder cosine "
                    f"{result['mean_matched_cosine']:.3f}, {100 * result['fraction_above']:.1f}% of latents above "
                    f"{result['threshold']}", highlight=False)
    print(json.dumps(result))


def _print_stability_curve(first: Path, second: Path) -> None:
    from frobnoscope.interp.sae.run import write_stability

    curve = write_stability(second, first)
    table = Table("step", "mean matched cosine", "share > 0.9", title=f"stability along the run: {second.name} vs "
                  f"{first.name}", title_justify="left")
    for point in curve:
        table.add_row(str(int(point["step"])), f"{point['mean_matched_cosine']:.3f}",
                      f"{100 * point['fraction_above']:.1f}%")
    Console().print(table)
    if curve:
        console.print(f"chance (two random dictionaries of this shape): mean matched cosine {curve[0]['chance']:.3f}",
                      highlight=False)
    console.print(f"wrote {second}/stability.csv and curves.png", highlight=False)


@sae_app.command("compare")
def compare_command(
    a: Path = typer.Argument(..., help="SAE directory"),
    b: Path = typer.Argument(..., help="SAE directory (same hook and width, another seed)"),
):
    """Stability: Hungarian-matched decoder cosine similarity of two SAEs."""
    from frobnoscope.interp.sae.training import load_sae

    first, second = load_sae(a), load_sae(b)
    if first.W_dec.shape != second.W_dec.shape:
        raise FrobError(f"{a} and {b} differ in shape ({tuple(first.W_dec.shape)} vs {tuple(second.W_dec.shape)})")
    _print_stability(a, b)


@sae_app.command("meta")
@writes(lambda a: a["out"] or Path(a["sae_dir"]) / "meta")
def meta_command(
    sae_dir: Path = typer.Argument(..., help="finished SAE directory made by `frob sae train`"),
    width: int = config_option(MetaConfig, "width"),
    k: int = config_option(MetaConfig, "k"),
    arch: str = config_option(MetaConfig, "arch"),
    steps: int = config_option(MetaConfig, "steps"),
    batch_tokens: int = config_option(MetaConfig, "batch_tokens"),
    learning_rate: float = config_option(MetaConfig, "learning_rate"),
    seed: int = config_option(MetaConfig, "seed"),
    out: Path = typer.Option(None, help="meta-SAE directory (default SAE_DIR/meta)"),
    device: str = device_option(),
):
    """Meta-SAE on an SAE's decoder rows: which latents decompose into which shared meta-latents."""
    from frobnoscope.interp.sae.meta import meta_width, train_meta

    config = validate_config(MetaConfig, dict(width=width, k=k, arch=arch, steps=steps, batch_tokens=batch_tokens,
                                              learning_rate=learning_rate, seed=seed), "meta-SAE settings")
    check_device(device)  # fail on a device torch cannot use, an unfinished SAE or a bad width before drawing a bar
    meta_width(sae_dir, config)
    with step_progress(f"meta-sae {arch}", steps, console, _describe_step) as on_step:
        directory, summary = train_meta(sae_dir, out, config, device=device, on_step=on_step)
    _print_meta(directory, summary)


def _print_meta(directory: Path, summary: dict) -> None:
    import csv

    with open(directory / "meta_latents.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    stdout = Console()
    stdout.print(f"{summary['latents']} latents -> {summary['meta_width']} meta-latents: FVU {summary['fvu']:.4f}, "
                 f"{summary['mean_active']:.2f} active per latent, reconstruction cosine {summary['mean_cosine']:.3f}; "
                 f"{summary['sharing']['shared']} meta-latents shared by several latents, "
                 f"{summary['sharing']['unused']} unused", highlight=False)
    labelled = summary["labelled"] > 0
    table = Table("meta-latent", "used by", "latents", *(("top label", "share", "labels") if labelled else ()),
                  title="most shared meta-latents", title_justify="left")
    for row in [row for row in rows if int(row["used_by"]) > 0][:15]:
        latents = row["latents"].split()
        shown = " ".join(latents[:8]) + (f" (+{len(latents) - 8})" if len(latents) > 8 else "")
        labels = ((row["top_label"] or "-", f"{100 * float(row['top_share']):.0f}%", row["labels"][:60])
                  if labelled else ())
        table.add_row(row["meta_latent"], row["used_by"], shown, *labels)
    stdout.print(table)
    if not labelled:
        stdout.print("no labels: run `frob features label RUN --sae SAE_DIR`, then this command again", highlight=False)
    stdout.print(f"wrote {directory}/decomposition.csv, meta_latents.csv, meta.json and sae.safetensors",
                 highlight=False)


@features_app.command("label")
@writes(lambda a: a["out"] or (Path(a["sae"]) / "features" if a["sae"] else Path(a["run"]) / "features"))
def label_command(
    run: Path = typer.Argument(..., help="activation run made by `frob capture`"),
    sae: Path = config_option(LabelConfig, "sae"),
    hook: str = config_option(LabelConfig, "hook"),
    max_tokens: int = config_option(LabelConfig, "max_tokens"),
    importance_frames: int = config_option(LabelConfig, "importance_frames"),
    candidates: int = config_option(LabelConfig, "candidates"),
    figures: int = config_option(LabelConfig, "figures"),
    out: Path = typer.Option(None, help="output directory (default SAE_DIR/features or RUN/features/<hook>)"),
    device: str = device_option(),
):
    """Best ground-truth match, gt_r2, importance and frobnoloid score of every latent and raw channel."""
    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.features.run import label_run

    config = validate_config(LabelConfig, dict(hook=hook, sae=str(sae) if sae else None, max_tokens=max_tokens,
                                               importance_frames=importance_frames, candidates=candidates,
                                               figures=figures), "labelling settings")
    check_device(device)  # fail on a device torch cannot use, a bad run or hook before drawing a progress bar
    store = ActivationStore.open(run)
    if hook is not None:
        store.shape(hook)
    if sae is not None:
        from frobnoscope.interp.sae.training import read_manifest

        read_manifest(sae)
    with job_progress("importance", console, unit="features") as on_progress:
        directory, rows, summary = label_run(
            run, config, out, on_progress=lambda kind, done, total: on_progress(done, total, note=kind), device=device)
    stdout = Console()
    table = Table("kind", "feature", "best factor", "r / IoU", "gt_r2 [95% interval]", "importance", "frobnoloid", title="top frobnoloids",
                  title_justify="left")
    for row in rows[:15]:
        table.add_row(row["kind"], str(row["feature"]), row["best_factor"] or "-",
                      f"{row.get('correlation', 0.0):.2f} / {row['iou']:.2f}",
                      f"{row['gt_r2']:.2f} [{row['gt_r2_low']:.2f}, {row['gt_r2_high']:.2f}]",
                      f"{row['importance']:.3g}", f"{row['frobnoloid_score']:.3g}")
    stdout.print(table)
    totals = Table("features", "count", "matched", "fraction", "null (other frames' truth)", "above null",
                   title="ground-truth matches", title_justify="left")
    for row in summary:
        totals.add_row(row["features"], str(row["count"]), str(row["matched"]), f"{100 * row['matched_fraction']:.1f}%",
                       f"{100 * row['null_matched_fraction']:.1f}%", f"{row['matched_above_null']:.1f}")
    stdout.print(totals)
    stdout.print(f"wrote {directory}/features.csv, summary.csv, examples.npz and figures/", highlight=False)


@features_app.command("index")
@writes(lambda a: a["directory"])
def index_command(directory: Path = typer.Argument(..., help="features run made by `frob features label`")):
    """(Re)make a features run's examples.npz (examples, histograms, neighbours) for `frob app`."""
    from frobnoscope.interp.features.examples import write_examples
    from frobnoscope.interp.features.source import FeatureSource

    with console.status(f"scanning {directory}"):
        path = write_examples(directory, FeatureSource(directory))
    Console().print(f"wrote {path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(sae_app, name="sae")
    app.add_typer(features_app, name="features")
