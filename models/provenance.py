"""What made a run directory: the command, the package version and the input dataset (by its manifest's hash)."""

from __future__ import annotations

import hashlib
import shlex
import sys

from frobnoscope.scenes.store import MANIFEST, DatasetStore, package_version


def dataset_reference(store: DatasetStore) -> dict:
    """{path, manifest_blake2b, params}: enough to tell whether a run was made from this very dataset."""
    manifest_bytes = (store.path / MANIFEST).read_bytes()
    return {"path": str(store.path.resolve()), "manifest_blake2b": hashlib.blake2b(manifest_bytes, digest_size=16).hexdigest(),
            "params": store.manifest.get("params")}


def run_header(run_format: str) -> dict:
    return {"format": run_format, "package_version": package_version(), "command": shlex.join(sys.argv)}
