"""Training a sparse autoencoder on a matrix of tokens, resumably, and measuring it.

SAE directory:
  manifest.json           format frobnoscope.sae/1: sae config, train config, source (activation run, hook), and
                          when complete the report
  checkpoints/            step_NNNNNN.safetensors (+ .optimizer.safetensors) and latest.json (engine/checkpoint.py)
  sae.safetensors         the finished SAE's state dict; its metadata holds the SAE config as JSON
  curves.csv              convergence, one row per checkpoint: step, the training batch's loss, L0 and dead fraction,
                          and (when trained on an activation run) held-out FVU, L0, dead and dense fractions
  snapshots/              decoder.<step>.npy: unit decoder rows at each checkpoint (float16), so two seeds' stability
                          can be followed along the run (`analysis.stability_curve`)
A rerun with the same configuration continues from the latest checkpoint and reaches exactly the weights an
uninterrupted run reaches (batches are a function of the step: in memory, epoch e shuffles the tokens with seed
[seed, e]; streamed from an activation run, see `sae.tokens`);
another configuration in the same directory is a one-line error.

Metrics (`measure`, on held-out tokens): L0 (mean active latents per token), FVU = sum ||x - x_hat||^2 /
sum ||x - mean(x)||^2, dense fraction (latents active on more than 10% of the tokens) and dead fraction (latents that
fired on none of the last `dead_tokens` training tokens).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from frobnoscope.engine.checkpoint import load_checkpoint, save_checkpoint
from frobnoscope.engine.config import Config
from frobnoscope.engine.errors import FrobError, first_sentence
from frobnoscope.engine.runs import (
    MANIFEST,
    load_manifest,
    refuse_other_settings,
    require_keys,
    run_header,
    write_bytes_atomic,
    write_json_atomic,
)
from frobnoscope.engine.tables import write_csv
from frobnoscope.engine.tensor_files import load_weights_into, save_safetensors_atomic
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.sae.model import SAEConfig, SparseAutoencoder
from frobnoscope.models.device import device_record, prepare_device, resolve_device

SAE_FORMAT = "frobnoscope.sae/1"
SAE_FILE = "sae.safetensors"
CURVES = "curves.csv"  # one row per checkpoint: the training batch's loss, L0, dead fraction; held-out FVU, L0, ...
SNAPSHOTS = "snapshots"  # decoder.<step>.npy: the unit decoder rows (M, d) float16 at each checkpoint
DENSE_FRACTION = 0.1


class SAETrainConfig(Config):
    """How an SAE is optimised; stored in its directory's manifest (`train`) as `to_dict()`."""

    steps: int = Field(2000, ge=1, description="optimizer steps")
    batch_tokens: int = Field(4096, ge=1, description="tokens per step")
    learning_rate: float = Field(1e-3, gt=0, description="peak Adam learning rate (5% warmup, decay over the last 20%)")
    seed: int = Field(0, ge=0, description="initialisation and token order")
    checkpoint_every: int = Field(250, ge=1, description="steps between checkpoints")


@dataclass
class StepReport:
    step: int
    steps: int
    loss: float
    l0: float
    dead_fraction: float


class TokenBatches:
    """Batch `step` of a (N, d) token matrix: epoch = step // batches_per_epoch, shuffled with seed [seed, epoch]."""

    def __init__(self, tokens: torch.Tensor, batch_tokens: int, seed: int):
        self.tokens = tokens
        self.batch = min(batch_tokens, len(tokens))
        self.per_epoch = len(tokens) // self.batch
        self.seed = seed
        self._epoch, self._order = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.tokens), generator=generator)
        return self.tokens[self._order[index * self.batch:(index + 1) * self.batch]]


def learning_rate_at(step: int, steps: int, peak: float) -> float:
    """Linear warmup over the first 5% of steps, constant, linear decay to 0 over the last 20%."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_start = int(0.8 * steps)
    if step >= decay_start:
        return peak * (steps - step) / max(1, steps - decay_start)
    return peak


def training_step(sae: SparseAutoencoder, optimizer: torch.optim.Optimizer, tokens: torch.Tensor,
                  learning_rate: float) -> dict[str, torch.Tensor]:
    """One step: losses, backward, decoder gradient projected, Adam step, decoder rows renormalised."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    losses = sae.losses(tokens)
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    sae.project_decoder_gradient()
    optimizer.step()
    sae.normalise_decoder()
    return losses


def train_sae(tokens: torch.Tensor | Callable[[int], torch.Tensor], out, sae_config: SAEConfig,
              train_config: SAETrainConfig, *, source: dict | None = None,
              on_step: Callable[[StepReport], None] | None = None,
              device: str | torch.device | None = "cpu",
              evaluate: Callable[[SparseAutoencoder], dict] | None = None,
              zero_decoder_bias: bool = False) -> SparseAutoencoder:
    """Train (or resume, or load the finished) SAE in `out` on `device`, on `tokens`: an (N, d) float32 matrix
    held in memory, or a function of the step returning that step's batch (e.g. `sae.tokens.StreamedTokenBatches`),
    which must depend on the step alone for resume to be exact. Batches are drawn on the CPU and moved to the
    device one at a time; the SAE comes back on `device`. At each checkpoint, `evaluate(sae)` (e.g. `measure` on
    held-out tokens) joins the curve as heldout_<key>, and the decoder is kept in SNAPSHOTS; CURVES is written at
    the end. `zero_decoder_bias`: b_dec is a zero buffer, never trained (a meta-SAE: `meta`)."""
    device = prepare_device(resolve_device(device))
    out = Path(out)
    manifest = _prepare(out, sae_config, train_config, source or {})
    if manifest.get("complete"):
        return load_sae(out).to(device)
    manifest["device"] = device_record(device)  # of the latest session (a run may resume on another)
    write_json_atomic(out / MANIFEST, manifest)
    torch.manual_seed(train_config.seed)
    sae = SparseAutoencoder(sae_config, torch.Generator().manual_seed(train_config.seed)).to(device)
    draw = (TokenBatches(tokens, train_config.batch_tokens, train_config.seed)
            if isinstance(tokens, torch.Tensor) else tokens)

    def batches(step: int) -> torch.Tensor:
        return draw(step).to(device)

    sae.initialise_from(batches(0))
    if zero_decoder_bias:
        del sae.b_dec
        sae.register_buffer("b_dec", torch.zeros(sae_config.d_in, device=device))
    optimizer = torch.optim.Adam(sae.parameters(), lr=train_config.learning_rate, betas=(0.9, 0.999))
    latest = load_checkpoint(out / "checkpoints", sae, optimizer)
    start, history = (latest["step"], latest["history"]) if latest else (0, [])
    sae.train()
    for step in range(start, train_config.steps):
        losses = training_step(sae, optimizer, batches(step),
                               learning_rate_at(step, train_config.steps, train_config.learning_rate))
        done = step + 1
        report = StepReport(done, train_config.steps, float(losses["loss"].detach()), float(losses["l0"]),
                            float(sae.dead_mask().float().mean()))
        if done % train_config.checkpoint_every == 0 or done == train_config.steps:
            history.append(_curve_point(out, sae, report, evaluate))
            save_checkpoint(out / "checkpoints", done, sae, optimizer, history)
        if on_step:
            on_step(report)
    sae.eval()
    write_csv(out / CURVES, history)
    save_safetensors_atomic(sae.state_dict(), out / SAE_FILE, metadata={"sae_config": json.dumps(sae_config.to_dict())})
    return sae


def _curve_point(out: Path, sae: SparseAutoencoder, report: StepReport,
                 evaluate: Callable[[SparseAutoencoder], dict] | None) -> dict:
    """The curve's row at a checkpoint (held-out measurements too, with `evaluate`), and the decoder's snapshot."""
    point = asdict(report)
    if evaluate is not None:
        measured = evaluate(sae)
        sae.train()
        point.update({f"heldout_{key}": measured[key] for key in ("fvu", "l0", "dead_fraction", "dense_fraction")})
    with torch.no_grad():
        rows = torch.nn.functional.normalize(sae.W_dec.detach().float(), dim=1).cpu().numpy().astype(np.float16)
    buffer = io.BytesIO()
    np.save(buffer, rows)
    write_bytes_atomic(out / SNAPSHOTS / f"decoder.{report.step:07d}.npy", buffer.getvalue())
    return point


def read_snapshots(directory) -> dict[int, np.ndarray]:
    """{step: unit decoder rows (M, d) float32} of an SAE directory's checkpoints (empty for older runs)."""
    return {int(path.stem.split(".")[1]): np.load(path).astype(np.float32)
            for path in sorted((Path(directory) / SNAPSHOTS).glob("decoder.*.npy"))}


def finish(out, report: dict) -> None:
    """Record the report in the manifest and mark the SAE directory complete."""
    path = Path(out) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(report=report, complete=True)
    write_json_atomic(path, manifest)


def load_sae(directory) -> SparseAutoencoder:
    """The finished SAE in `directory` (eval mode, CPU)."""
    path = Path(directory) / SAE_FILE
    if not path.is_file():
        raise InterpError(f"{directory} holds no finished SAE ({SAE_FILE}); train one with `frob sae train`")
    from pydantic import ValidationError
    from safetensors import SafetensorError, safe_open

    fix = f"delete {directory} and train it again with `frob sae train`"
    try:
        with safe_open(str(path), framework="pt") as f:
            config = SAEConfig.model_validate(json.loads((f.metadata() or {})["sae_config"]))
    except (SafetensorError, OSError) as error:
        raise InterpError(f"{path} is not a readable safetensors file ({first_sentence(error)}); {fix}") from None
    except (KeyError, ValueError, ValidationError):  # json's and pydantic's errors are ValueErrors
        raise InterpError(f"{path} does not record a valid SAE config in its metadata; {fix}") from None
    return load_weights_into(SparseAutoencoder(config), path, fix).eval()


def check_trained_on(directory, model: dict, channels: int, what: str) -> None:
    """A one-line `InterpError` unless the SAE in `directory` was trained on activations of `model` (a capture
    manifest's `model` record; checked when the capture it was trained on can still be read) with `channels`
    channels: an SAE applied to another model's activations gives numbers that mean nothing. `what` names the
    activations it would be applied to."""
    from frobnoscope.interp.activations.store import ActivationStore, same_model

    source = read_manifest(directory)["source"]
    try:
        trained_on = ActivationStore.open(source["run"]).manifest["model"]
    except (FrobError, OSError, KeyError, TypeError):
        trained_on = None
    if trained_on is not None and not same_model(trained_on, model):
        raise InterpError(f"the SAE in {directory} was trained on activations of {trained_on.get('spec')} "
                          f"({source['run']}), not of {model.get('spec')} ({what}); train one on these with "
                          "`frob sae train`")
    width = int(read_manifest(directory)["sae"].get("d_in", channels))
    if width != channels:
        raise InterpError(f"the SAE in {directory} reads {width} channels, {what} has {channels}; train one on "
                          "these with `frob sae train`")


def read_manifest(directory) -> dict:
    manifest = load_manifest(directory, expected_format=SAE_FORMAT, what="an SAE directory",
                             make_with="frob sae train", error=InterpError)
    return require_keys(directory, manifest, {"sae": dict, "train": dict, "source": dict},
                        make_with="frob sae train", error=InterpError)


@torch.no_grad()
def measure(sae: SparseAutoencoder, tokens: torch.Tensor, batch: int = 8192) -> dict:
    """L0, FVU, dense and dead fractions of `sae` on `tokens` (see the module docstring)."""
    sae.eval()
    device = sae.W_dec.device
    mean = tokens.mean(0).to(device)
    squared_error = total_variance = active = 0.0
    fires = torch.zeros(sae.config.width, device=device)
    for start in range(0, len(tokens), batch):
        x = tokens[start:start + batch].to(device)
        z = sae.encode(x)
        squared_error += float((x - sae.decode(z)).pow(2).sum())
        total_variance += float((x - mean).pow(2).sum())
        active += float((z > 0).sum())
        fires += (z > 0).sum(0)
    n = len(tokens)
    return {"tokens": n, "l0": active / n, "fvu": squared_error / max(total_variance, 1e-30),
            "dense_fraction": float((fires / n > DENSE_FRACTION).float().mean()),
            "dead_fraction": float(sae.dead_mask().float().mean()), "dead_tokens": sae.config.dead_tokens}


def _prepare(out: Path, sae_config: SAEConfig, train_config: SAETrainConfig, source: dict) -> dict:
    settings = {"sae": sae_config.to_dict(), "train": train_config.to_dict(), "source": source}
    if (out / MANIFEST).is_file():
        manifest = read_manifest(out)
        refuse_other_settings(out, "an SAE", {key: manifest.get(key) for key in settings},
                              json.loads(json.dumps(settings)), error=InterpError)
        return manifest
    if out.exists() and any(out.iterdir()):
        raise InterpError(f"{out} exists and is not an SAE directory; choose an empty or new output directory")
    out.mkdir(parents=True, exist_ok=True)
    manifest = {**run_header(SAE_FORMAT), **settings, "complete": False}
    write_json_atomic(out / MANIFEST, manifest)
    return manifest

