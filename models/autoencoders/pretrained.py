"""`from_pretrained` for diffusers-style model directories, local or on the Hugging Face hub, with one-line errors.

A location is a local directory holding `config.json` (or a `vae/` subfolder that does, as in a pipeline
directory), or a hub id `owner/name` or `owner/name/subfolder`. Hub ids need a network; offline, the error says how
to fetch the weights elsewhere and point at the local copy. diffusers reads safetensors, or `.bin` files through
`torch.load(weights_only=True)`, so no code is ever unpickled.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from frobnoscope.engine.errors import first_sentence
from frobnoscope.models.errors import WeightsError


def load_pretrained(model_class, location: str, spec_kind: str):
    """`model_class.from_pretrained(location)` on the CPU in float32, for a local directory or a hub id."""
    path = Path(location).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return _call(model_class, str(path), None, location)
        if (path / "vae" / "config.json").is_file():
            return _call(model_class, str(path), "vae", location)
        raise WeightsError(f"{path} has no config.json (nor vae/config.json): not a diffusers model directory")
    if path.exists():
        raise WeightsError(f"{path} is a file; {spec_kind}: expects a diffusers model directory or a hub id")
    parts = location.split("/")
    if location.startswith((".", "/", "~")) or len(parts) not in (2, 3) or not all(parts):
        raise WeightsError(f"{location} does not exist (expected a diffusers model directory, or a hub id owner/name or owner/name/subfolder)")
    repo, subfolder = "/".join(parts[:2]), (parts[2] if len(parts) == 3 else None)
    try:
        return _call(model_class, repo, subfolder, location)
    except WeightsError as error:
        raise WeightsError(
            f"cannot load {location!r}: no such local directory, and the Hugging Face hub did not provide it ({error}); "
            f"where there is a network, run `hf download {repo} --local-dir DIR` and use {spec_kind}:DIR") from None


def _call(model_class, location: str, subfolder: str | None, shown: str):
    try:
        with warnings.catch_warnings():  # diffusers passes huggingface_hub an argument it deprecated
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            model = model_class.from_pretrained(location, subfolder=subfolder,
                                                low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None)
    except (OSError, ValueError, RuntimeError, EnvironmentError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 and lines[0].endswith(":") else first_sentence(error)  # a state dict's
        raise WeightsError(f"cannot load {shown} with diffusers: {detail.rstrip('.')}") from None
    return model.float().eval()
