"""`frob study run|status|show`: the whole pipeline from one study file, resumable, in one workspace."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from frobnoscope.app.cli.options import RAY_HELP, device_option, writes

console = Console(stderr=True)
study_app = typer.Typer(help="Studies: scenes to ranked frobnoloids from one YAML file, resumable.",
                        no_args_is_help=True)
STUDY_HELP = "a study file (YAML), or a built-in study: demo, ci or full (`frob study show NAME` prints one)"


@study_app.command("run")
@writes(lambda a: a["out"])
def run_command(
    study: str = typer.Argument(..., help=STUDY_HELP),
    out: Path = typer.Option(..., help="workspace directory (created; rerunning the same command resumes it)"),
    redo: list[str] = typer.Option([], help="redo this stage (a name or glob) and what depends on it; repeatable"),
    workers: int = typer.Option(1, help="worker processes for generate, capture and attribute"),
    ray: str = typer.Option(None, help=RAY_HELP),
    device: str = device_option(None, " (default: the study file's `device`, else auto)"),
):
    """Run a study's stages in dependency order, skipping finished ones; print and write summary.md at the end."""
    from frobnoscope.app.study.builtin import study_path
    from frobnoscope.app.study.plan import plan_study
    from frobnoscope.app.study.runner import check_workspace, run_study
    from frobnoscope.app.study.schema import load_study
    from frobnoscope.app.study.summary import summarise
    from frobnoscope.engine.memory import keep_freed_memory

    keep_freed_memory()
    spec = load_study(study_path(study))
    plan = plan_study(spec, out, workers=workers, ray=ray, device=device)
    check_workspace(plan, out, spec.name, redo)  # fail before drawing the stages
    for note in plan.notes:
        console.print(f"note: {note}", highlight=False)
    columns = (TextColumn("{task.fields[stage]:<34}"), TextColumn("{task.fields[state]:<8}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[seconds]}"))
    with Progress(*columns, console=console) as progress:
        tasks = {stage.name: progress.add_task("", total=None, start=False, stage=stage.name, state="pending",
                                               seconds="") for stage in plan.stages}

        def on_stage(name: str, state: str, seconds: float | None) -> None:
            if state == "running":
                progress.start_task(tasks[name])
            else:
                progress.stop_task(tasks[name])
                progress.update(tasks[name], total=1, completed=1)
            progress.update(tasks[name], state=state, seconds=f"{seconds:.1f} s" if seconds is not None else "")

        run_study(plan, out, spec.name, redo=redo, on_stage=on_stage,
                  on_progress=lambda name, done, total: progress.update(tasks[name], completed=done, total=total))
    text = summarise(spec, out)
    (Path(out) / "summary.md").write_text(text)
    Console().print(text, highlight=False, soft_wrap=True)
    console.print(f"wrote {out}/summary.md; `frob study status {out}` lists the stages", highlight=False)


@study_app.command("status")
def status_command(workspace: Path = typer.Argument(..., help="a study workspace (`frob study run ... --out`)")):
    """The stages a workspace holds: finished or not, and how long each took."""
    from frobnoscope.app.study.state import StudyError, read_state

    state = read_state(workspace)
    if not state:
        raise StudyError(f"{workspace} holds no study yet; start one with `frob study run STUDY --out {workspace}`")
    table = Table("stage", "state", "seconds", title=f"study {state['study']} in {workspace}", title_justify="left")
    for name, entry in state["stages"].items():
        table.add_row(name, "done" if entry["done"] else "unfinished", f"{entry.get('seconds', 0):.1f}")
    Console().print(table)


@study_app.command("show")
def show_command(name: str = typer.Argument(..., help="a built-in study: demo, ci or full")):
    """Print a built-in study file, to copy and edit."""
    from frobnoscope.app.study.builtin import study_path

    print(study_path(name).read_text(), end="")


def register(app: typer.Typer) -> None:
    app.add_typer(study_app, name="study")
