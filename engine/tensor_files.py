"""Loading weights safely: safetensors, or `torch.load(weights_only=True)` for `.pth`/`.pt`/`.bin` state dicts.

Nothing here ever unpickles arbitrary objects: a pickle that needs code (a class, a function) to be rebuilt is
refused with a one-line `WeightsError`, as is a missing or truncated file. Every message names the file.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from frobnoscope.engine.errors import WeightsError, first_sentence

SAFETENSORS_SUFFIX = ".safetensors"


def load_state_dict(path) -> dict[str, torch.Tensor]:
    """A plain {name: tensor} dict from a safetensors file or a tensors-only torch pickle, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file {path} does not exist")
    if path.stat().st_size == 0:
        raise WeightsError(f"weight file {path} is empty")
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors(path)
    return _load_torch_pickle(path)


def load_weights_into(module: torch.nn.Module, path, fix: str) -> torch.nn.Module:
    """Load the state dict in `path` into `module` (strict); a file whose tensors do not fit it (other names or
    shapes: made for another configuration, or replaced) is a one-line `WeightsError` naming the file and `fix`."""
    try:
        state = load_state_dict(path)
    except WeightsError as error:
        raise WeightsError(f"{error}; {fix}") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = next((line.strip() for line in str(error).splitlines()[1:] if line.strip()), first_sentence(error))
        raise WeightsError(f"weight file {path} does not fit the model ({detail.rstrip('.')}); {fix}") from None
    return module


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"weight file {path} is not a readable safetensors file (truncated or damaged: {first_sentence(error)})") from None


def _load_torch_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notice; failures are reported below
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" in str(error):
            raise WeightsError(
                f"refusing to load {path}: it is a pickle that needs arbitrary code to load ({_unsafe_global(error)}); "
                "only safetensors files and plain tensor state dicts are loaded") from None
        raise WeightsError(f"weight file {path} is not a readable torch file (truncated or damaged: {first_sentence(error)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise WeightsError(f"weight file {path} is not a readable torch file (truncated or damaged: {first_sentence(error)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"weight file {path} does not hold a state dict of tensors")
    return dict(state)


def save_safetensors_atomic(tensors: dict[str, torch.Tensor], path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file beside `path`, then rename it over `path`: a kill never leaves half a file."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, temp, metadata=metadata)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _unsafe_global(error: BaseException) -> str:
    """What torch's weights-only unpickler stopped at: 'GLOBAL posix.system', or the opcode it does not allow."""
    message = str(error)
    found = re.search(r"GLOBAL (\S+)", message)
    if found:
        return f"it calls {found.group(1)}"
    found = re.search(r"WeightsUnpickler error:\s*(.+)", message)
    return found.group(1).strip().rstrip(".") if found else "not a plain tensor pickle"
