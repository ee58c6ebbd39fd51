"""`frob`: the command line. Every `FrobError` (and operating-system error) becomes one line on stderr and exit
code 2 (`errors.error_line`).

One module per area registers its commands here: scenes (and export), models (train ae, eval, hooks), nerf
(train nerf, eval-nerf), interp (capture, probe), sae (sae, features), attribute, study and app (the exploration app).
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from frobnoscope.app.cli import attribute, interp, models, nerf, sae, scenes, study, web
from frobnoscope.app.cli.errors import error_line
from frobnoscope.engine.errors import FrobError

app = typer.Typer(help="frobnoscope: interpretability for image models where the right answer is known.", no_args_is_help=True)
train_app = typer.Typer(help="Train models on a dataset.", no_args_is_help=True)
scenes.register(app)
app.add_typer(train_app, name="train")
models.register(app, train_app)
nerf.register(app, train_app)
interp.register(app)
sae.register(app)
attribute.register(app)
study.register(app)
web.register(app)
console = Console(stderr=True)


def main() -> None:
    try:
        app()
    except (FrobError, OSError) as error:
        console.print(f"[red]error:[/red] {escape(error_line(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
