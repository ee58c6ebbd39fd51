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

from frobnoscope.app.cli import web
from frobnoscope.app.cli.errors import error_line, is_out_of_memory, out_of_memory_line
from frobnoscope.engine.errors import FrobError

HELP = "frobnoscope: interpretability for image models where the right answer is known."
console = Console(stderr=True)


def full_app() -> typer.Typer:
    """Every `frob` command (the area modules import the configs they take options from, and with them torch)."""
    from frobnoscope.app.cli import attribute, field, interp, models, nerf, sae, scenes, study

    root = typer.Typer(help=HELP, no_args_is_help=True)
    train_app = typer.Typer(help="Train models on a dataset.", no_args_is_help=True)
    scenes.register(root)
    root.add_typer(train_app, name="train")
    models.register(root, train_app)
    nerf.register(root, train_app)
    field.register(root, train_app)
    interp.register(root)
    sae.register(root)
    attribute.register(root)
    study.register(root)
    web.register(root)
    return root


def app_launcher() -> typer.Typer:
    """`frob app` alone: it starts streamlit and waits, so it skips importing the rest (about 2 s of start-up)."""
    root = typer.Typer(help=HELP, no_args_is_help=True)
    root.callback()(lambda: None)  # a group, so the command keeps its name: `frob app WORKSPACE`
    web.register(root)
    return root


def __getattr__(name: str):
    if name == "app":  # `from frobnoscope.app.cli.main import app`: the full command tree, built on first use
        globals()["app"] = full_app()
        return globals()["app"]
    raise AttributeError(name)


def main() -> None:
    try:
        (app_launcher() if sys.argv[1:2] == ["app"] else full_app())()
    except (FrobError, OSError) as error:
        console.print(f"[red]error:[/red] {escape(error_line(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except RuntimeError as error:  # a device out of memory is the user's to fix; anything else is our bug
        if not is_out_of_memory(error):
            raise
        console.print(f"[red]error:[/red] {escape(out_of_memory_line(error, sys.argv[1:]))}", highlight=False,
                      soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
