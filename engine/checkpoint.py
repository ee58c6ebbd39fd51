"""Training checkpoints: model and optimizer tensors in safetensors, everything else in JSON.

`checkpoints/step_000250.safetensors` holds the model's state dict, `step_000250.optimizer.safetensors` the
optimizer's tensors (keyed `<parameter index>.<name>`, e.g. `3.exp_avg`), and `checkpoints/latest.json` names them
with the step, the optimizer's non-tensor state (param groups, scalars) and the training history. Files are written
to temporary names and renamed, `latest.json` last, so a kill at any moment leaves the previous checkpoint intact.
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from frobnoscope.engine.errors import FrobError, RunError, first_sentence
from frobnoscope.engine.runs import write_json_atomic
from frobnoscope.engine.tensor_files import load_state_dict, load_weights_into, save_safetensors_atomic

LATEST = "latest.json"


def save_checkpoint(directory: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, history: list,
                    keep: int = 2) -> None:
    """Write step `step`'s checkpoint and point latest.json at it; keep the newest `keep` checkpoints."""
    directory.mkdir(parents=True, exist_ok=True)
    model_file, optimizer_file = f"step_{step:06d}.safetensors", f"step_{step:06d}.optimizer.safetensors"
    save_safetensors_atomic(model.state_dict(), directory / model_file)
    tensors, scalars = _split_optimizer_state(optimizer.state_dict())
    save_safetensors_atomic(tensors, directory / optimizer_file)
    write_json_atomic(directory / LATEST, {
        "step": step, "model": model_file, "optimizer": optimizer_file,
        "optimizer_scalars": scalars, "param_groups": optimizer.state_dict()["param_groups"], "history": history,
    })
    for old in sorted(directory.glob("step_*.safetensors"))[: -2 * keep]:
        old.unlink(missing_ok=True)


def read_latest(directory: Path) -> dict | None:
    path = directory / LATEST
    if not path.is_file():
        return None
    try:
        latest = json.loads(path.read_text())
    except json.JSONDecodeError:
        latest = None
    if not isinstance(latest, dict) or not isinstance(latest.get("step"), int) or \
            not isinstance(latest.get("model"), str):
        raise RunError(f"{path} is damaged; delete the run directory's checkpoints/ to start over")
    return latest


def load_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict | None:
    """Restore the latest checkpoint into `model` (and `optimizer`); return latest.json's record, or None."""
    latest = read_latest(directory)
    if latest is None:
        return None
    fix = f"delete {directory} to train from the start"
    try:
        load_weights_into(model, directory / latest["model"], fix)
        if optimizer is not None:
            tensors = load_state_dict(directory / latest["optimizer"])
            optimizer.load_state_dict(_join_optimizer_state(tensors, latest["optimizer_scalars"], latest["param_groups"]))
    except (KeyError, TypeError, ValueError, AttributeError) as error:  # latest.json or the optimizer's state edited
        raise RunError(f"{directory / LATEST} does not match its checkpoint ({type(error).__name__}: "
                       f"{first_sentence(error)}); {fix}") from None
    return latest


def load_final_or_latest(model: nn.Module, weights: Path, checkpoints: Path, run_dir, make_with: str,
                         error: type[FrobError] = RunError) -> None:
    """Load a training run's finished `weights` into `model`, else its latest checkpoint in `checkpoints`; a
    one-line `error` naming `make_with` (the command that trains it) when the run has neither yet."""
    if Path(weights).is_file():
        load_weights_into(model, weights, f"delete {run_dir} and train it again with `{make_with}`")
    elif read_latest(checkpoints) is not None:
        load_checkpoint(checkpoints, model)
    else:
        raise error(f"{run_dir} has no checkpoint yet; let `{make_with}` run to its first checkpoint")


def _split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    tensors, scalars = {}, {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, scalars


def _join_optimizer_state(tensors: dict[str, torch.Tensor], scalars: dict, param_groups: list) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, entries in scalars.items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": param_groups}
