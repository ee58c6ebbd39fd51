"""The studies that ship with frobnoscope (`app/study/builtin/*.yaml`): `frob study run NAME` runs one, and
`frob study show NAME` prints it to copy and edit."""

from __future__ import annotations

from pathlib import Path

from frobnoscope.engine.config import ConfigError

BUILTIN = Path(__file__).parent / "builtin"


def builtin_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN.glob("*.yaml"))


def study_path(name_or_path: str) -> Path:
    """A study file's path: an existing file, else a built-in study's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if (BUILTIN / f"{name_or_path}.yaml").is_file():
        return BUILTIN / f"{name_or_path}.yaml"
    raise ConfigError(f"study {name_or_path!r}",
                      [("", f"neither a file nor a built-in study ({', '.join(builtin_names())})")])
