"""`frob scenes generate|info|verify|show|schema` and `frob export`: procedural scenes, datasets of them, and exports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import DATASET_HELP, RAY_HELP, config_option, flag_of, writes
from frobnoscope.app.cli.progress import job_progress
from frobnoscope.engine.config import ConfigError, format_problems, validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.executor import check_workers
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.generate_config import GenerateConfig

console = Console(stderr=True)
scenes_app = typer.Typer(help="Procedural scenes with exact ground truth, and datasets of them.", no_args_is_help=True)


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FrobError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


@scenes_app.command("generate")
@writes(lambda a: a["out"])
def generate_command(
    family: str = config_option(GenerateConfig, "family"),
    n: int = config_option(GenerateConfig, "n"),
    res: int = typer.Option(None, help="image width and height in pixels (default: the family's)"),
    seed: int = config_option(GenerateConfig, "seed"),
    out: str = typer.Option(..., metavar="DIR|URL",
                            help="dataset directory (created; an unfinished one is resumed), or an object store URL "
                                 "such as s3://bucket/prefix (endpoint and credentials from the AWS_* environment "
                                 "variables; needs frobnoscope\\[s3])"),
    workers: int = typer.Option(1, help="worker processes, one OpenGL context each"),
    settings: list[str] = typer.Option([], "--set", help="family setting key=value (repeatable), e.g. max_objects=3"),
    chunk_frames: int = config_option(GenerateConfig, "chunk_frames"),
    ray: str = typer.Option(None, help=RAY_HELP),
):
    """Render a family's frames with every ground-truth channel into a zarr dataset."""
    given = {**_settings(settings), **({"res": res} if res is not None else {})}
    values = {"family": family, "n": n, "seed": seed, "settings": given, "chunk_frames": chunk_frames}
    try:  # fail on bad input before drawing a progress bar
        config = validate_config(GenerateConfig, values, "dataset settings")
    except ConfigError as error:
        raise FrobError(format_problems(error.what, error.problems, rename=_flag_of_setting)) from None
    check_workers(workers)
    with job_progress("generate", console) as on_progress:
        store = generate(config, out=out, workers=workers, on_progress=on_progress, ray_address=ray)
    _print_summary(store)


def _flag_of_setting(path: str) -> str:
    """'settings.res' -> '--res', 'settings.max_objects' -> '--set max_objects', 'settings' -> '--set'."""
    if path == "settings.res":
        return "--res"
    if path == "settings" or path.startswith("settings."):
        return f"--set {path.removeprefix('settings').removeprefix('.')}".rstrip()
    return flag_of(path)


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
        size = store.location.size(name)
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
def info_command(data_dir: str = typer.Argument(..., help="dataset directory or object store URL (s3://...)")):
    """Print a dataset's summary: size, channels, splits."""
    from frobnoscope.scenes.store import DatasetStore

    store = DatasetStore.open(data_dir)
    store.check_files()  # arrays and chunk files all there (cheap: nothing is decoded; `verify` does that)
    _print_summary(store)


@scenes_app.command("verify")
def verify_command(data_dir: str = typer.Argument(..., help="dataset directory or object store URL (s3://...)")):
    """Recompute every frame's checksums and name any damaged frame (exit code 1 if any)."""
    from frobnoscope.scenes.store import DatasetStore

    store = DatasetStore.open(data_dir)
    if not store.complete:
        raise FrobError(f"{data_dir} is unfinished; rerun the `frob scenes generate` command that made it to finish it")
    checked = [0]

    with job_progress("verify", console) as on_progress:
        def on_block(count: int) -> None:
            checked[0] += count
            on_progress(checked[0], len(store))

        damaged = store.damaged_frames(on_block=on_block)
    if damaged:
        listed = "; ".join(f"frame {k} ({', '.join(names)})" for k, names in sorted(damaged.items())[:20])
        more = f"; and {len(damaged) - 20} more" if len(damaged) > 20 else ""
        console.print(f"damaged: {len(damaged)} of {len(store)} frames: {listed}{more}; rerun the `frob scenes "
                      "generate` command that made it to rewrite them", soft_wrap=True, highlight=False)
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


@scenes_app.command("schema")
def schema_command():
    """Print the JSON schema of a scene spec file (either camera form), e.g. for an editor's YAML validation."""
    import json

    from frobnoscope.scenes.spec import SceneSpec

    typer.echo(json.dumps(SceneSpec.model_json_schema(), indent=2))


def _channel_list(values: list[str]) -> list[str] | None:
    """--channels rgb,depth_z --channels albedo -> ["rgb", "depth_z", "albedo"]; none given -> None (the format's default)."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _export_formats_help() -> str:
    """The export formats with their one-line summaries, from the registry (so a new format lists itself)."""
    from frobnoscope.scenes.export import formats

    return "\n\n".join(["Formats:", *(f"  {name} - {fmt.summary}" for name, fmt in formats().items())])


@writes(lambda a: a["out"])
def export_command(
    data_dir: Path = typer.Argument(..., help=DATASET_HELP, metavar="DATA"),
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


def register(app: typer.Typer) -> None:
    app.add_typer(scenes_app, name="scenes")
    app.command("export", epilog=_export_formats_help())(export_command)
