"""Where pretrained weights are looked for when a model spec gives no directory."""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_DIR_VARIABLE = "FROB_WEIGHTS_DIR"


def default_weights_dir() -> Path:
    """`$FROB_WEIGHTS_DIR`, else `../shared/weights` beside the repository (where the offline weights are kept)."""
    configured = os.environ.get(WEIGHTS_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2].parent / "shared" / "weights"
