"""The one config convention every run follows: a frozen pydantic model that forbids unknown fields.

A run's settings are a `Config` subclass. Each field carries its default, its constraints (`Field(ge=1)`) and a
`description`, which the CLI shows as the flag's help and takes its default from (`app.cli.options.config_option`).
`validate_config(cls, values)` is the one way in: a mapping that does not fit raises a `ConfigError` naming every
problem's field path (the first `SHOWN_PROBLEMS`, and a count of the rest), so a message reads right whether the
values came from flags, a study YAML file or a web form; the CLI rewrites top-level field names as its flags.
In a manifest a config is stored as `config.model_dump(mode="json")`; resuming compares those dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from frobnoscope.engine.errors import FrobError

SHOWN_PROBLEMS = 5
C = TypeVar("C", bound=BaseModel)


class Config(BaseModel):
    """Base of every run's settings: immutable, no unknown fields, validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form a manifest stores."""
        return self.model_dump(mode="json")


class ConfigError(FrobError):
    """Settings that do not validate. `problems` is [(field path, message)]; `what` names the settings."""

    def __init__(self, what: str, problems: list[tuple[str, str]]):
        self.what, self.problems = what, problems
        super().__init__(format_problems(what, problems))


def format_problems(what: str, problems: list[tuple[str, str]], rename=lambda path: path) -> str:
    """'invalid WHAT: a.b: message; c: message (and 3 more)': one line, every problem up to SHOWN_PROBLEMS."""
    shown = "; ".join(f"{rename(path)}: {message}" if path else message for path, message in problems[:SHOWN_PROBLEMS])
    more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
    return f"invalid {what}: {shown}{more}"


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """pydantic's errors as (dotted field path, message) pairs; the path is '' for the whole object."""
    out = []
    for item in error.errors():
        path = ".".join(_path_part(part) for part in item["loc"])
        message = " ".join(item["msg"].removeprefix("Value error, ").split())  # one line, whatever the input held
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        out.append((path, message))
    return out


def _path_part(part) -> str:
    """A key as a path shows it: as it is when printable and dot-free, else quoted (a key from a file may be '')."""
    text = str(part)
    return text if isinstance(part, int) or (text and text.isprintable() and "." not in text) else repr(text)


def validate_config(cls: type[C], values: Mapping[str, Any] | C, what: str | None = None) -> C:
    """`cls` validated from `values` (or `values` itself if it already is one); raises `ConfigError`."""
    if isinstance(values, cls):
        return values
    try:
        return cls.model_validate(dict(values))
    except ValidationError as error:
        raise ConfigError(what or f"{cls.__name__} settings", problems_of(error)) from None


def changed_fields(stored: Mapping, current: Mapping, prefix: str = "") -> list[str]:
    """Dotted paths of the settings that differ between a stored config dict and the current one (nested mappings
    key by key): what a resumed run names when it refuses other settings."""
    changed = []
    for key in dict.fromkeys([*stored, *current]):
        old, new = stored.get(key), current.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += changed_fields(old, new, f"{prefix}{key}.")
        elif old != new or (key in stored) != (key in current):
            changed.append(f"{prefix}{key}")
    return changed
