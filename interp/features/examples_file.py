"""Reading a features run's examples.npz (written by `examples.write_examples`) without importing what computes
it (torch, the SAE): the app's index reads two small arrays per run from it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from frobnoscope.interp.errors import InterpError

EXAMPLES = "examples.npz"


def features_digest(directory: Path) -> str:
    return hashlib.blake2b((Path(directory) / "features.csv").read_bytes(), digest_size=16).hexdigest()


def read_examples(directory, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """FEATURES_DIR/examples.npz as arrays (only `names`, when given: the others are not read); one-line
    `InterpError` when missing or from another labelling."""
    directory = Path(directory)
    path = directory / EXAMPLES
    if not path.is_file():
        raise InterpError(f"{directory} has no {EXAMPLES}; make it with `frob features index {directory}`")
    with np.load(path) as data:
        if str(data["features_csv_blake2b"]) != features_digest(directory):
            raise InterpError(f"{path} belongs to an earlier labelling of {directory}; "
                              f"remake it with `frob features index {directory}`")
        wanted = [name for name in data.files if name != "features_csv_blake2b" and (names is None or name in names)]
        return {name: data[name] for name in wanted}
