"""What several commands share: help texts of common options, and the dataset argument with its old spelling."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from frobnoscope.engine.errors import FrobError
from frobnoscope.models.loading.registry import IMAGE_KINDS, spec_help

# help texts are rich markup: a backslash keeps "[distributed]" from being read as a tag
RAY_HELP = ("address (HOST:PORT) of a running Ray cluster: run the blocks there on --workers actors "
            "(needs frobnoscope\\[distributed])")
IMAGE_MODEL_HELP = f"{spec_help(IMAGE_KINDS)} (model specs: see `frob models hooks --help`)"
ANY_MODEL_HELP = f"{spec_help()} (model specs: see `frob models hooks --help`)"
DATASET_HELP = "dataset directory made by `frob scenes generate`"


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
