"""`open_run(path)`: open any run directory a `frob` command made, with the reader its manifest's format names.

A manifest's `format` is "frobnoscope.<kind>/<version>". `FORMATS` lists every kind this version reads: the
command that makes it, the newest layout version it reads, and, where the kind has a reader class of its own,
where that class lives ("module:Class.method", imported only when such a run is opened, so the engine depends
on no later layer). Kinds without a reader class open as a `RunDirectory` (path, manifest and its tables).
"""

from __future__ import annotations

import csv
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from frobnoscope.engine.errors import RunError
from frobnoscope.engine.runs import MANIFEST


@dataclass(frozen=True)
class Format:
    made_by: str  # the command that makes such a run
    version: int = 1  # the newest layout version this package reads
    reader: str | None = None  # "module:Class.method" taking the path, or None: a RunDirectory


FORMATS = {
    "dataset": Format("frob scenes generate", reader="frobnoscope.scenes.store:DatasetStore.open"),
    "export": Format("frob export"),
    "train": Format("frob train ae"),
    "nerf": Format("frob train nerf"),
    "eval": Format("frob eval"),
    "nerf-eval": Format("frob eval-nerf"),
    "field": Format("frob train field"),
    "field-eval": Format("frob eval-field"),
    "activations": Format("frob capture", reader="frobnoscope.interp.activations.store:ActivationStore.open"),
    "probes": Format("frob probe"),
    "sae": Format("frob sae train"),
    "features": Format("frob features label"),
    "attribution": Format("frob attribute"),
    "study": Format("frob study run"),
}


@dataclass(frozen=True)
class RunDirectory:
    """A run directory read as it is: its manifest, its kind and layout version, and its CSV tables."""

    path: Path
    manifest: dict

    @property
    def kind(self) -> str:
        return parse_format(self.manifest.get("format"))[0]

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete", True))

    def table(self, name: str) -> list[dict[str, str]]:
        """Rows of `name` (e.g. "features.csv") as dicts of strings."""
        with open(self.path / name, newline="") as f:
            return list(csv.DictReader(f))


def parse_format(value) -> tuple[str, int]:
    """"frobnoscope.sae/1" -> ("sae", 1); anything else -> ("", 0)."""
    name, _, version = str(value).partition("/")
    if not name.startswith("frobnoscope.") or not version.isdigit():
        return "", 0
    return name.removeprefix("frobnoscope."), int(version)


def open_run(path):
    """The reader of the run at `path`: its kind's reader class, or a `RunDirectory`. One-line `RunError`s for
    a missing or unreadable manifest, a kind this version does not know, or a newer layout."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise RunError(f"{path} is not a run directory (no {MANIFEST}); give a directory a `frob` command made")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except json.JSONDecodeError as error:
        raise RunError(f"{path / MANIFEST} is not valid JSON ({error.msg}); make the run again") from None
    kind, version = parse_format(manifest.get("format"))
    if kind not in FORMATS:
        known = ", ".join(FORMATS)
        raise RunError(f"{path} has format {manifest.get('format')!r}, not a frobnoscope run this version reads ({known})")
    spec = FORMATS[kind]
    if version > spec.version:
        raise RunError(f"{path} was written by a newer frobnoscope (layout {kind}/{version}; this version reads up to "
                       f"/{spec.version}); upgrade frobnoscope, or make it again with `{spec.made_by}`")
    if spec.reader is None:
        return RunDirectory(path, manifest)
    module, _, attribute = spec.reader.partition(":")
    target = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target(path)
