"""What interp's run configs share: resuming a run directory with the same settings.

A manifest stores each config as `Config.to_dict()` (JSON values: tuples as lists); a rerun into the same directory
must bring the same dict (and the same input data), or it is refused with a one-line error naming every setting
that differs by its field path (nested settings dotted: `sae.width`, `settings.n_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from frobnoscope.engine.config import changed_fields
from frobnoscope.interp.errors import InterpError


def refuse_other_settings(out: Path, what: str, stored: Mapping, current: Mapping, *, same_data: bool = True) -> None:
    """Raise `InterpError` if the run in `out` (`what`: "a capture") was made with other settings or data."""
    changed = changed_fields(stored, current)
    if changed:
        raise InterpError(f"{out} holds {what} made with other settings ({', '.join(changed)}); "
                          "choose another output directory or delete it")
    if not same_data:
        raise InterpError(f"{out} holds {what} made from another dataset; choose another output directory or delete it")
