"""`frob train field` and `frob eval-field`: the field-model commands, registered on the main app by `register`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from frobnoscope.app.cli.options import RUN_DIR_HELP, check_device, config_option, device_option, writes
from frobnoscope.app.cli.progress import step_progress
from frobnoscope.engine.config import ConfigError, validate_config
from frobnoscope.interp.evaluation.field import FieldJudgeConfig
from frobnoscope.models.field.config import FieldModelConfig, FieldTrainConfig, PointSamplingConfig

console = Console(stderr=True)
NESTED_FLAGS = ("model.encoding", "model.hidden_width", "model.hidden_layers", "sampling.points_per_step",
                "sampling.near_fraction", "sampling.near_sigma")


@writes(lambda a: a["out"])
def train_field_command(
    data: Path = typer.Argument(..., help="orbit dataset (`frob scenes generate --family orbit`) or scene spec file "
                                          "(.yaml, .json)", metavar="DATA_OR_SPEC"),
    out: Path = typer.Option(..., help=RUN_DIR_HELP),
    steps: int = config_option(FieldTrainConfig, "steps"),
    encoding: str = config_option(FieldModelConfig, "encoding"),
    hidden_width: int = config_option(FieldModelConfig, "hidden_width"),
    hidden_layers: int = config_option(FieldModelConfig, "hidden_layers"),
    points_per_step: int = config_option(PointSamplingConfig, "points_per_step"),
    near_fraction: float = config_option(PointSamplingConfig, "near_fraction"),
    near_sigma: float = config_option(PointSamplingConfig, "near_sigma"),
    sdf_clamp: float = config_option(FieldTrainConfig, "sdf_clamp"),
    learning_rate: float = config_option(FieldTrainConfig, "learning_rate"),
    seed: int = config_option(FieldTrainConfig, "seed"),
    eval_every: int = config_option(FieldTrainConfig, "eval_every"),
    checkpoint_every: int = config_option(FieldTrainConfig, "checkpoint_every"),
    threads: int = config_option(FieldTrainConfig, "threads"),
    device: str = device_option(),
):
    """Fit a coordinate MLP directly to a scene's 3D truth (SDF, albedo, object id) at sampled points."""
    from frobnoscope.models.field.source import load_source
    from frobnoscope.models.field.train import train_field

    values = {"model": {"encoding": encoding, "hidden_width": hidden_width, "hidden_layers": hidden_layers},
              "sampling": {"points_per_step": points_per_step, "near_fraction": near_fraction,
                           "near_sigma": near_sigma},
              "steps": steps, "sdf_clamp": sdf_clamp, "learning_rate": learning_rate, "seed": seed,
              "eval_every": eval_every, "checkpoint_every": checkpoint_every, "threads": threads}
    try:
        config = validate_config(FieldTrainConfig, values, "field training settings")
    except ConfigError as error:  # the nested fields these flags set are named by their flags
        raise ConfigError(error.what, [(path.rpartition(".")[2] if path in NESTED_FLAGS else path, message)
                                       for path, message in error.problems]) from None
    check_device(device)  # fail on a device torch cannot use or bad input before drawing a progress bar
    load_source(data)
    last = {"heldout": "-"}

    def describe(report) -> str:
        if report.heldout is not None:
            h = report.heldout
            last["heldout"] = f"SDF MAE {h['sdf_mae']:.4f}  IoU {h['iou']:.3f}  id {h['id_accuracy']:.3f}"
        return f"loss {report.loss:.5f}  held-out {last['heldout']}"

    with step_progress(f"train field ({encoding})", steps, console, describe) as on_step:
        results = train_field(data, out, config, on_step=on_step, device=device)
    h = results["heldout"]
    Console().print(f"{out}: {results['steps']} steps in {results['seconds']:.0f} s; held-out SDF MAE "
                    f"{h['sdf_mae']:.4f} units, IoU {h['iou']:.3f}, albedo RMSE {h['albedo_rmse']:.3f}, id accuracy "
                    f"{h['id_accuracy']:.3f}; judge it with `frob eval-field {out} --out EVAL_DIR`", highlight=False)


@writes(lambda a: a["out"])
def eval_field_command(
    run: Path = typer.Argument(..., help="run directory made by `frob train field`"),
    out: Path = typer.Option(..., help="output directory (created; must be new or empty)"),
    near_points: int = config_option(FieldJudgeConfig, "near_points"),
    uniform_points: int = config_option(FieldJudgeConfig, "uniform_points"),
    near_sigma: float = config_option(FieldJudgeConfig, "near_sigma"),
    seed: int = config_option(FieldJudgeConfig, "seed"),
    device: str = device_option(),
):
    """Judge a field model against its scene by distance to the surface: SDF error, solid IoU, albedo error and
    object-id accuracy, beside an untrained copy and the best constant."""
    from frobnoscope.interp.evaluation.field import check_inputs, judge_field

    config = validate_config(FieldJudgeConfig, {"near_points": near_points, "uniform_points": uniform_points,
                                                "near_sigma": near_sigma, "seed": seed}, "field judging settings")
    check_device(device)
    check_inputs(run, out)
    summary = judge_field(run, out, config, device=device)
    table = Table("model", "band |sdf|", "points", "SDF MAE", "IoU", "sign acc", "albedo RMSE", "id acc",
                  title="field against the scene's truth", title_justify="left")
    for model, bands in summary.items():
        for band, e in bands.items():
            table.add_row(model, band, str(e["points"]), f"{e['sdf_mae']:.4f}", f"{e['iou']:.3f}",
                          f"{e['sign_accuracy']:.3f}", f"{e['albedo_rmse']:.3f}", f"{e['id_accuracy']:.3f}")
    Console().print(table)
    Console().print(f"wrote {out}/manifest.json, bands.csv", highlight=False)


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    train_app.command("field")(train_field_command)
    app.command("eval-field")(eval_field_command)
