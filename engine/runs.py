"""Run directories: every job writes one, with a `manifest.json` saying what made it.

A manifest holds `format` (e.g. "frobnoscope.sae/1": what the directory is, and the version of its layout),
`package_version`, `command` (the argv that made it), the job's `config`, and references to its inputs (a
dataset's manifest hash). Writes are atomic: a temp file beside the target, then a rename, so a reader never
sees half a file. `open_run` (in `engine.open_run`) picks a typed reader by the manifest's format.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import tempfile
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from frobnoscope.engine.config import changed_fields
from frobnoscope.engine.errors import FrobError, RunError

MANIFEST = "manifest.json"


def package_version() -> str:
    try:
        return version("frobnoscope")
    except PackageNotFoundError:
        return "unknown"


def json_text(data) -> str:
    """JSON with one top-level key per line and one line per item of a top-level list (a dataset manifest's
    frames), each written compactly by json's C encoder: readable, greppable, and about 10x faster to write
    than `indent=1`, which runs json's pure-Python encoder over every frame's spec."""
    if not isinstance(data, dict):
        return json.dumps(data) + "\n"

    def value(item) -> str:
        if isinstance(item, list) and item:
            return "[\n  " + ",\n  ".join(json.dumps(element) for element in item) + "\n ]"
        return json.dumps(item)

    return "{\n" + ",\n".join(f" {json.dumps(str(key))}: {value(item)}" for key, item in data.items()) + "\n}\n"


def write_json_atomic(path: Path, data) -> None:
    """Write JSON to a temp file beside `path`, then rename over it: readers never see half a file."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes the file private; a manifest is read by other users and tools
        with os.fdopen(handle, "w") as f:
            f.write(json_text(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename over it (no fsync: chunks are checksummed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")  # hosts may share `path`
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_temp_files(directory: Path) -> list[Path]:
    """Delete what interrupted atomic writes left in `directory` (zarr's `*.partial`, ours `.*.tmp`); only safe for
    the holder of the directory's writer lock (`engine.lock`)."""
    stray = [p for pattern in ("*.partial", ".*.tmp") for p in Path(directory).rglob(pattern) if p.is_file()]
    for path in stray:
        path.unlink(missing_ok=True)
    return stray


def run_header(run_format: str) -> dict:
    """The manifest fields every run starts with: its format, the package version and the command line."""
    return {"format": run_format, "package_version": package_version(), "command": shlex.join(sys.argv)}


def load_manifest(directory, *, expected_format: str, what: str, make_with: str, error: type[FrobError] = RunError) -> dict:
    """`directory/manifest.json` of something a `frob` command made: it must exist, parse and carry
    `expected_format`; otherwise a one-line `error` saying `directory` is not `what` and how to make one.
    `directory` may be an `engine.storage` location instead (a prefix on an object store)."""
    if hasattr(directory, "url_of"):
        path, text = directory.url_of(MANIFEST), directory.read_bytes(MANIFEST)
    else:
        path = Path(directory) / MANIFEST
        text = path.read_text() if path.is_file() else None
    if text is None:
        raise error(f"{directory} is not {what} (no {MANIFEST}); make one with `{make_with}`")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as json_error:
        raise error(f"{path} is not valid JSON ({json_error.msg}: cut short or edited?); delete {directory} and make "
                    f"it again with `{make_with}`") from None
    if not isinstance(manifest, dict):
        raise error(f"{path} is not a JSON object; delete {directory} and make it again with `{make_with}`")
    if manifest.get("format") != expected_format:
        raise error(f"{directory} is not {what} (its manifest has format {manifest.get('format')!r}, not "
                    f"{expected_format!r}); make one with `{make_with}` (this version)")
    return manifest


def require_keys(directory, manifest: dict, keys: Mapping[str, type | tuple[type, ...]], *, make_with: str,
                 error: type[FrobError] = RunError) -> dict:
    """`manifest` (of the run in `directory`) if each of `keys` holds a value of its type (a hand edit can drop or
    change one); otherwise a one-line `error` naming the manifest file and the key, and saying to make it again."""
    for key, kind in keys.items():
        if not isinstance(manifest.get(key), kind):
            raise error(f"{Path(directory) / MANIFEST} is damaged (no valid {key!r}); delete {directory} and make it "
                        f"again with `{make_with}`")
    return manifest


def refuse_other_settings(out: Path, what: str, stored: Mapping, current: Mapping, *, stored_dataset: Mapping | None = None,
                          dataset: Mapping | None = None, error: type[FrobError] = RunError) -> None:
    """Resume only what was started with the same settings and data: a one-line `error` if the run in `out`
    (`what`: "a capture") was made with other settings (naming each by its dotted field path) or from another
    dataset (`stored_dataset` vs `dataset`: dataset references, compared by their manifest hash)."""
    changed = changed_fields(stored, current)
    if changed:
        raise error(f"{out} holds {what} made with other settings ({', '.join(changed)}); rerun with the same settings, "
                    "or choose another output directory or delete it")
    if stored_dataset is not None and dataset is not None and \
            stored_dataset["manifest_blake2b"] != dataset["manifest_blake2b"]:
        raise error(f"{out} holds {what} made from another dataset ({stored_dataset['path']}); choose another output "
                    "directory or delete it")


def existing_run(out: Path, *, run_format: str, what: str, make_with: str, config: Mapping, dataset: Mapping,
                 error: type[FrobError] = RunError) -> dict | None:
    """The manifest of the run already in `out`, if it is `what` (of `run_format`) made with `config` (a config's
    `to_dict()`) from `dataset` (a dataset reference): the job resumes it. None if `out` is new or empty. Anything
    else is a one-line `error`: another kind of directory, other settings, another dataset."""
    out = Path(out)
    if (out / MANIFEST).is_file():
        manifest = load_manifest(out, expected_format=run_format, what=what, make_with=make_with, error=error)
        require_keys(out, manifest, {"config": dict, "dataset": dict}, make_with=make_with, error=error)
        refuse_other_settings(out, what, manifest["config"], config, stored_dataset=manifest["dataset"],
                              dataset=dataset, error=error)
        return manifest
    if out.exists() and any(out.iterdir()):
        raise error(f"{out} exists and is not {what}; choose an empty or new output directory")
    return None
