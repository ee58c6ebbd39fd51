"""What several commands share: help texts, the dataset argument (and its old spelling), options whose default and
help come from a config, config field paths as flags, and the writer lock of the run directory a command writes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.lock import run_lock

# help texts are rich markup: a backslash keeps "[distributed]" from being read as a tag
RAY_HELP = ("address (HOST:PORT) of a running Ray cluster: run the blocks there on --workers actors "
            "(needs frobnoscope\\[distributed])")
DATASET_HELP = "dataset directory made by `frob scenes generate`"
RUN_DIR_HELP = "run directory (created; rerunning the same command resumes it)"
# the same text as models.device.DEVICE_HELP, which this module does not import (it would import torch for `frob app`)
DEVICE_HELP = ("where models run: auto (the first CUDA device torch sees, else the CPU), cpu, cuda, cuda:N or mps; "
               "data on disk is the same whatever the device")


def device_option(default: str | None = "auto", note: str = ""):
    """`--device NAME` of every command that runs a model (checked when the job starts: one line if torch cannot
    use it)."""
    return typer.Option(default, "--device", help=DEVICE_HELP + note, show_default=default is not None)


def check_device(device: str | None) -> None:
    """A one-line error now, before a progress bar is drawn, if torch cannot use `device` here."""
    from frobnoscope.models.device import resolve_device

    resolve_device(device)


def data_alias_option() -> Path | None:
    """The deprecated `--data DIR` spelling of a command's dataset argument (hidden from --help)."""
    return typer.Option(None, "--data", hidden=True, help="deprecated: pass the dataset as the first argument")


def dataset_path(argument: Path | None, alias: Path | None, command: str) -> Path:
    """The dataset given as the first argument or, for one release, as `--data` (with a note on stderr)."""
    if argument is not None and alias is not None:
        raise FrobError(f"give the dataset once: `frob {command} DATA ...` (--data is the old spelling)")
    if argument is None and alias is None:
        raise FrobError(f"missing the dataset: `frob {command} DATA ...`")
    if alias is not None:
        Console(stderr=True).print(f"note: `--data DIR` is deprecated and will be removed in the next release; "
                                   f"write `frob {command} DIR ...`", highlight=False)
    return argument if argument is not None else alias


def config_option(config_class, field: str, *names: str, **options):
    """A typer option for `config_class`'s `field`: its default and its help (the field's description) come
    from the config, so the flag and a study file cannot disagree. `names` overrides the flag's spelling. The help
    is escaped: typer reads help as rich markup, where `[seed, k]` would vanish as an unknown tag."""
    info = config_class.model_fields[field]
    default = ... if info.is_required() else info.get_default(call_default_factory=True)
    return typer.Option(default, *names, help=escape(info.description or ""), **options)


def flag_of(path: str) -> str:
    """A config field path as the CLI spells it: 'batch_size' -> '--batch-size'; nested paths stay dotted."""
    return path if not path or "." in path else "--" + path.replace("_", "-")


def writes(run_dir_of: Callable[[dict], Path | None]):
    """Decorate a command that writes a run directory (`run_dir_of(its arguments)`): it runs holding that
    directory's writer lock (`engine.lock`), so a second command writing the same directory stops at once."""
    def decorate(command):
        @functools.wraps(command)
        def locked(**arguments):
            run_dir = run_dir_of(arguments)
            if run_dir is None:
                return command(**arguments)
            with run_lock(run_dir):
                return command(**arguments)

        return locked

    return decorate
