"""Progress bars that the training commands share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def training_progress(title: str, steps: int, console: Console) -> Iterator[Callable[[object], None]]:
    """A bar of `steps` with loss, PSNR and held-out PSNR; yields `on_step(report)` for reports with `step`,
    `loss`, `psnr` and `heldout_psnr` (None between held-out evaluations). The bar ends full, also when
    the run had already finished."""
    columns = (TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}  PSNR {task.fields[psnr]}  held-out {task.fields[heldout]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("steps", total=steps, loss="-", psnr="-", heldout="-")

        def on_step(report) -> None:
            fields = {"loss": f"{report.loss:.5f}", "psnr": f"{report.psnr:.2f} dB"}
            if report.heldout_psnr is not None:
                fields["heldout"] = f"{report.heldout_psnr:.2f} dB"
            progress.update(task, completed=report.step, **fields)

        yield on_step
        progress.update(task, completed=steps)
