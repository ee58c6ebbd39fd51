"""What a field model is fitted to: the scene of an orbit dataset, or a scene spec file, and a reference to it.

An orbit dataset directory gives its first frame's spec (every frame shows the same scene; only the cameras differ);
its reference is `scenes.store.dataset_reference` (path, blake2b-128 of its manifest.json, params). A spec file
(.yaml, .yml or .json, `scenes.spec.load_spec`) gives itself; its reference is {path, manifest_blake2b: blake2b-128
of the validated spec's JSON (so reformatting the file changes nothing), kind: "spec"}: a rerun of the same run
directory refuses another scene by that hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from frobnoscope.models.errors import ModelError
from frobnoscope.scenes.spec import SceneSpec, load_spec, parse_spec
from frobnoscope.scenes.store import DatasetStore, dataset_reference

SPEC_SUFFIXES = (".yaml", ".yml", ".json")
ORBIT = "orbit"


def load_source(data_or_spec) -> tuple[SceneSpec, dict]:
    """(the scene's spec, a reference to the input); one-line `ModelError`s for anything else."""
    path = Path(data_or_spec)
    if path.is_dir():
        return _orbit_scene(path)
    if not path.exists():
        raise ModelError(f"{path} does not exist; give an orbit dataset (`frob scenes generate --family orbit`) or a "
                         f"scene spec file ({', '.join(SPEC_SUFFIXES)})")
    if path.suffix.lower() not in SPEC_SUFFIXES:
        raise ModelError(f"{path} is neither a dataset directory nor a scene spec file ({', '.join(SPEC_SUFFIXES)})")
    spec = load_spec(path)
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()
    return spec, {"path": str(path.resolve()), "manifest_blake2b": hashlib.blake2b(text, digest_size=16).hexdigest(),
                  "kind": "spec"}


def _orbit_scene(path: Path) -> tuple[SceneSpec, dict]:
    if not (path / "manifest.json").is_file():
        raise ModelError(f"{path} is not a dataset (no manifest.json); give an orbit dataset (`frob scenes generate "
                         "--family orbit`) or a scene spec file")
    store = DatasetStore.open(path)
    family = store.manifest.get("params", {}).get("family")
    if family != ORBIT:
        raise ModelError(f"{path} is a {family!r} dataset; a field model needs one scene: an orbit dataset (`frob "
                         "scenes generate --family orbit ...`) or a scene spec file")
    frames = store.manifest.get("frames") or []
    if not frames:
        raise ModelError(f"{path} has no frames yet; finish it with the `frob scenes generate` command that made it")
    return parse_spec(frames[0]["spec"], f"{path} frame 0"), {**dataset_reference(store), "kind": ORBIT}
