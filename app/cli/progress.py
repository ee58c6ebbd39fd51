"""Progress bars that the commands share: frames of a job with their rate, and training steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RateColumn(TextColumn):
    """Items per second since the job (re)started: from the task's first report (`first_done` at `first_time`, set
    by `job_progress`), so a resumed job's finished frames do not count, and the rate is right also when the bar
    is drawn only once, at the end (output that is not a terminal)."""

    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        if "first_time" not in task.fields:
            return f"{'-':>6} {self.unit}/s"
        elapsed = time.perf_counter() - task.fields["first_time"]
        rate = (task.completed - task.fields["first_done"]) / elapsed if elapsed > 0 else 0.0
        return f"{rate:6.1f} {self.unit}/s"


@contextmanager
def job_progress(title: str, console: Console, unit: str = "frames") -> Iterator[Callable[..., None]]:
    """The one bar of a job's items (frames, views, features) with their rate; yields `on_progress(done, total,
    note=None)`, where `note` names the part of the job under way (shown after the title)."""
    columns = (TextColumn(f"[bold]{title}" + "{task.fields[note]}"), BarColumn(), MofNCompleteColumn(), RateColumn(unit),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(unit, total=None, note="")
        first = {}

        def on_progress(done: int, total: int, note: str | None = None) -> None:
            if not first:
                first.update(first_done=done, first_time=time.perf_counter())
            progress.update(task, completed=done, total=total, **first, **({"note": f" {note}"} if note else {}))

        yield on_progress


@contextmanager
def step_progress(title: str, steps: int, console: Console, describe: Callable[[object], str]) -> Iterator[Callable[[object], None]]:
    """The one bar of an optimisation's `steps`; yields `on_step(report)` for reports with `step`, and shows
    `describe(report)` (loss, metrics) beside it. The bar ends full, also when the run had already finished."""
    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[described]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("steps", total=steps, described="")

        def on_step(report) -> None:
            progress.update(task, completed=report.step, described=describe(report))

        yield on_step
        progress.update(task, completed=steps)


def training_progress(title: str, steps: int, console: Console):
    """`step_progress` for reports with `loss`, `psnr` and `heldout_psnr` (None between held-out evaluations:
    the last value stays shown)."""
    last = {"heldout": "-"}

    def describe(report) -> str:
        if report.heldout_psnr is not None:
            last["heldout"] = f"{report.heldout_psnr:.2f} dB"
        return f"loss {report.loss:.5f}  PSNR {report.psnr:.2f} dB  held-out {last['heldout']}"

    return step_progress(title, steps, console, describe)
