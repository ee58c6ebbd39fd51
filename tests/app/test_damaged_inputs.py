"""Damaged inputs, tried systematically: each kind of run directory is damaged in each way that applies to it, and
every command that reads it runs on the damage through the CLI in this process. Each must stop with exit code 2 and
one line (`error: ...`) naming the damaged directory or file and what to do, never a traceback and never a result
computed from the damage (`frob scenes verify` reports damaged frames with exit code 1: finding them is its job).

The run directories are built once per module under `base/` (a tiny dataset, a tiny TAESD pair in safetensors,
activations of it and of another model, an SAE, an orbit dataset with a tiny NeRF, a workspace); each case copies
the directory it damages (and, where another run refers to it by path, that one too) before damaging it.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

HOOKS = "encoder.4,encoder.14"
BUSY_PORT = object()
SAE_HOOK = "encoder.4"  # 64 channels in both models


# the runs trained here are trained as these `frob` commands train them, so a rerun of the command resumes them
AE_ARGS = ["--arch", "conv", "--steps", "2", "--batch-size", "2", "--holdout-every", "4", "--checkpoint-every", "1"]
AE_CONFIG = {"arch": "conv", "steps": 2, "batch_size": 2, "holdout_every": 4, "checkpoint_every": 1}
NERF_ARGS = ["--steps", "2", "--encoding", "frequency", "--hidden-width", "8", "--coarse-samples", "4",
             "--fine-samples", "4", "--rays-per-step", "32", "--eval-every", "1", "--checkpoint-every", "1",
             "--threads", "1"]
NERF_CONFIG = {"field": {"encoding": "frequency", "hidden_width": 8}, "sampling": {"coarse_samples": 4, "fine_samples": 4},
               "steps": 2, "rays_per_step": 32, "eval_every": 1, "checkpoint_every": 1, "threads": 1}


@pytest.fixture(scope="module")
def base(tmp_path_factory, save_tiny_taesd_pair) -> Path:
    from frobnoscope.interp.activations.capture import CaptureConfig, capture
    from frobnoscope.interp.sae.run import SAERunConfig, train_on_run
    from frobnoscope.interp.sae.training import SAETrainConfig
    from frobnoscope.models.autoencoders.train import train_autoencoder
    from frobnoscope.models.nerf.train import train_nerf
    from frobnoscope.scenes.generate import generate

    root = tmp_path_factory.mktemp("damaged-inputs") / "base"
    generate("tabletop", n=8, seed=5, out=root / "data", settings={"res": "32", "max_objects": "3"}, chunk_frames=4)
    generate("orbit", n=10, seed=0, out=root / "orbit", settings={"res": "16"})
    save_tiny_taesd_pair(root / "model", suffix=".safetensors")
    save_tiny_taesd_pair(root / "other_model", pool=False, suffix=".safetensors")  # encoder.4: the same shape
    for name, model in (("capture", "model"), ("capture_other", "other_model")):
        capture(root / "data", root / name, CaptureConfig(model=f"taesd:{root / model / 'tiny'}", hooks=HOOKS,
                                                          batch_size=4))
    train_on_run(root / "capture", SAERunConfig(hook=SAE_HOOK, width=8, k=2, splice_frames=1),
                 SAETrainConfig(steps=4, batch_tokens=64, checkpoint_every=2), out=root / "sae")
    train_autoencoder(root / "data", root / "ae", AE_CONFIG)
    train_nerf(root / "orbit", root / "nerf", NERF_CONFIG)
    (root / "ws").mkdir()
    (root / "ws" / "manifest.json").write_text(json.dumps({
        "format": "frobnoscope.study/1", "package_version": "0", "command": "frob study run ci", "study": "ci",
        "stages": {"data.tabletop": {"settings": {}, "done": True, "seconds": 1.0}}}))
    return root


# --- damage ------------------------------------------------------------------------------------------------------

def _first_chunk(array_dir: Path, index: int = 0) -> Path:
    chunk = array_dir / "c" / str(index)
    return chunk if chunk.is_file() else min(p for p in chunk.rglob("*") if p.is_file())


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: max(len(path.read_bytes()) // 3, 1)])
    return path


def edit_json(path: Path, edit: Callable[[dict], None]) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def bad_safetensors_header(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:8] + b"{not json" + data[17:])
    return path


@dataclass(frozen=True)
class Damage:
    """`apply(run_dir)` damages a copy and returns the path the error must name."""
    apply: Callable[[Path], Path]
    kinds: tuple[str, ...]


# what each kind holds: a zarr array, its weight file, a manifest key its readers use
ARRAY = {"dataset": "rgb", "orbit": "rgb", "capture": f"activations.zarr/{SAE_HOOK}/acts"}
WEIGHTS = {"model": "tiny_encoder.safetensors", "sae": "sae.safetensors", "nerf": "model/model.safetensors",
           "ae": "model/diffusion_pytorch_model.safetensors"}
KEY = {"dataset": "frames", "orbit": "n", "capture": "hooks", "sae": "source", "nerf": "dataset", "ae": "config",
       "workspace": "stages"}
RUNS = ("dataset", "orbit", "capture", "sae", "nerf", "ae", "workspace")  # the kinds with a manifest


def _narrower(tensors: dict) -> dict:
    """The same tensor names, each cut to one element along its last axis: shapes no model of this config has."""
    return {name: t[..., :1].contiguous() if t.ndim else t for name, t in tensors.items()}


def _other_weights(run: Path) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = run / WEIGHTS[kind_of(run)]
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    save_file(_narrower(load_file(str(path))), str(path), metadata)
    return path


def _checkpoint(run: Path) -> Path:
    """The run as a training cut off after its last checkpoint (unfinished, no model/), that checkpoint's model
    tensors replaced by others of the wrong shapes: resuming and loading the run both read it."""
    from safetensors.torch import load_file, save_file

    edit_json(run / "manifest.json", lambda m: m.update(complete=False))
    shutil.rmtree(run / "model")
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    path = run / "checkpoints" / latest["model"]
    save_file(_narrower(load_file(str(path))), str(path))
    return path


DAMAGES = {
    "truncated chunk": Damage(lambda run: truncate(_first_chunk(run / ARRAY[kind_of(run)])), tuple(ARRAY)),
    "deleted chunk": Damage(lambda run: _unlink(_first_chunk(run / ARRAY[kind_of(run)], 1)), tuple(ARRAY)),
    "deleted array": Damage(lambda run: _rmtree(run / ARRAY[kind_of(run)]), tuple(ARRAY)),
    "manifest of another kind": Damage(
        lambda run: edit_json(run / "manifest.json", lambda m: m.update(format="frobnoscope.probes/1")), RUNS),
    "manifest missing a key": Damage(lambda run: edit_json(run / "manifest.json", lambda m: m.pop(KEY[kind_of(run)])),
                                     RUNS),
    "manifest cut short": Damage(lambda run: truncate(run / "manifest.json"), RUNS),
    "weights of the wrong shapes": Damage(_other_weights, tuple(WEIGHTS)),
    "weights with a bad header": Damage(lambda run: bad_safetensors_header(run / WEIGHTS[kind_of(run)]),
                                        tuple(WEIGHTS)),
    "checkpoint of the wrong shapes": Damage(_checkpoint, ("nerf", "ae")),
    "activations of another model": Damage(lambda run: run, ("other model",)),  # nothing damaged: a wrong pairing
}


def _unlink(path: Path) -> Path:
    path.unlink()
    return path


def _rmtree(path: Path) -> Path:
    shutil.rmtree(path)
    return path


def kind_of(run: Path) -> str:
    return {source: kind for kind, source in SOURCE.items()}[run.name]


# --- commands ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    kind: str  # the kind of run directory damaged
    command: str
    args: Callable[[Path, Path], list]  # (case root with the damaged copy and the pristine rest, output dir) -> argv
    damages: tuple[str, ...] | None = None  # only these (None: every damage of the kind)
    names: str | None = None  # the run the error must name, if not the damaged one (a pairing's other half)


def model(root: Path, name: str = "model") -> str:
    return f"taesd:{root / name / 'tiny'}"


def ae(root: Path) -> str:
    return f"run:{root / 'ae'}"


SAE_TARGET = ["--target", f"feature:{SAE_HOOK}:0", "--method", "saliency"]
LABEL = ["--max-tokens", "512", "--importance-frames", "1", "--candidates", "1", "--figures", "0"]
RESUMING = ("manifest of another kind", "manifest missing a key", "manifest cut short", "checkpoint of the wrong shapes")
COMMANDS = [
    Case("dataset", "scenes verify", lambda r, o: ["scenes", "verify", r / "data"]),
    Case("dataset", "scenes info", lambda r, o: ["scenes", "info", r / "data"]),
    Case("dataset", "export", lambda r, o: ["export", r / "data", "--format", "nerfstudio", "--out", o]),
    Case("dataset", "eval", lambda r, o: ["eval", r / "data", "--model", model(r), "--out", o]),
    Case("dataset", "capture", lambda r, o: ["capture", r / "data", "--model", model(r), "--hooks", HOOKS, "--out", o]),
    Case("dataset", "attribute", lambda r, o: ["attribute", r / "data", "--model", model(r), "--target", "error",
                                               "--method", "saliency", "--out", o]),
    Case("dataset", "train ae", lambda r, o: ["train", "ae", r / "data", *AE_ARGS, "--out", o]),
    Case("model", "eval", lambda r, o: ["eval", r / "data", "--model", model(r), "--out", o]),
    Case("model", "capture", lambda r, o: ["capture", r / "data", "--model", model(r), "--hooks", HOOKS, "--out", o]),
    Case("model", "attribute", lambda r, o: ["attribute", r / "data", "--model", model(r), "--target", "error",
                                             "--method", "saliency", "--out", o]),
    Case("ae", "eval", lambda r, o: ["eval", r / "data", "--model", ae(r), "--out", o]),
    Case("ae", "capture", lambda r, o: ["capture", r / "data", "--model", ae(r), "--hooks", "encoder.3", "--out", o]),
    Case("ae", "train ae", lambda r, o: ["train", "ae", r / "data", *AE_ARGS, "--out", r / "ae"], RESUMING),
    Case("capture", "probe", lambda r, o: ["probe", r / "capture", "--out", o]),
    Case("capture", "sae train", lambda r, o: ["sae", "train", r / "capture", "--hook", SAE_HOOK, "--width", "8",
                                               "--k", "2", "--steps", "2", "--out", o]),
    Case("capture", "features label", lambda r, o: ["features", "label", r / "capture", "--hook", SAE_HOOK, *LABEL, "--out", o]),
    Case("sae", "features label", lambda r, o: ["features", "label", r / "capture", "--sae", r / "sae", *LABEL, "--out", o]),
    Case("sae", "attribute", lambda r, o: ["attribute", r / "data", "--model", model(r), *SAE_TARGET, "--sae", r / "sae",
                                           "--out", o]),
    Case("other model", "probe --control", lambda r, o: ["probe", r / "capture", "--control", r / "capture_other",
                                                         "--out", o]),
    Case("other model", "features label", lambda r, o: ["features", "label", r / "capture_other", "--sae", r / "sae",
                                                        *LABEL, "--out", o]),
    Case("other model", "attribute", lambda r, o: ["attribute", r / "data", "--model", model(r, "other_model"),
                                                   *SAE_TARGET, "--sae", r / "sae", "--out", o], names="sae"),
    Case("nerf", "eval-nerf", lambda r, o: ["eval-nerf", r / "nerf", "--out", o]),
    Case("nerf", "train nerf", lambda r, o: ["train", "nerf", r / "orbit", *NERF_ARGS, "--out", r / "nerf"], RESUMING),
    Case("orbit", "eval-nerf", lambda r, o: ["eval-nerf", r / "nerf", "--out", o]),
    Case("workspace", "app", lambda r, o: ["app", r / "ws", "--port", BUSY_PORT]),
]
# the directory each kind is copied from
SOURCE = {"dataset": "data", "orbit": "orbit", "model": "model", "capture": "capture", "sae": "sae", "nerf": "nerf",
          "ae": "ae", "workspace": "ws", "other model": "capture_other"}


def cases():
    for case in COMMANDS:
        for name, damage in DAMAGES.items():
            if case.kind in damage.kinds and (case.damages is None or name in case.damages):
                yield pytest.param(case, name, id=f"{case.kind}-{name.replace(' ', '_')}-{case.command.replace(' ', '_')}")


def prepare(base: Path, tmp_path: Path, case: Case, damage: str) -> tuple[Path, Path]:
    """tmp_path/root: links to every pristine run of `base`, but a damaged copy of the case's kind (same name)."""
    root = tmp_path / "root"
    root.mkdir()
    source = SOURCE[case.kind]
    for entry in base.iterdir():
        if entry.name != source:
            (root / entry.name).symlink_to(entry)
    shutil.copytree(base / source, root / source)
    if case.kind == "orbit":  # the NeRF run names its dataset: a copy of it that names the damaged copy
        (root / "nerf").unlink()
        shutil.copytree(base / "nerf", root / "nerf")
        edit_json(root / "nerf" / "manifest.json", lambda m: m["dataset"].update(path=str(root / source)))
    named = DAMAGES[damage].apply(root / source)
    return root, named


@pytest.fixture(scope="module")
def busy_port():
    """A port something listens on: `frob app` on a workspace that opens stops there instead of serving."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


@pytest.mark.parametrize("case, damage", list(cases()))
def test_a_damaged_input_is_one_line_naming_it(base, busy_port, tmp_path, frob_cli, case, damage):
    root, named = prepare(base, tmp_path, case, damage)
    code, err = frob_cli(*[busy_port if arg is BUSY_PORT else arg for arg in case.args(root, tmp_path / "out")])
    lines = [line for line in err.splitlines() if line.strip()]
    if case.command == "scenes verify" and damage in ("truncated chunk", "deleted chunk", "deleted array"):
        assert code == 1 and "damaged:" in err and "rerun the `frob scenes generate` command" in err, err
        return
    assert code == 2, err
    assert "Traceback" not in err
    assert lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1, err
    message = lines[-1]
    named = root / case.names if case.names else named
    assert str(root / SOURCE[case.kind]) in message or str(named) in message or named.name in message, message
    assert any(fix in message for fix in ("rerun the", "make it again", "train it again", "delete ", "`frob ",
                                          "fetch ", "give ")), message  # what to do
