"""`frob sae train` on an activation run: train on the train frames' tokens, then report on held-out frames.

Training tokens are streamed from the run a window of chunks at a time (`sae.tokens`), so memory does not grow
with the run; the held-out report reads at most HELDOUT_TOKENS tokens.

The SAE directory defaults to RUN/saes/<hook>.<arch>.w<width>.k<k>.s<seed>/ (see `sae.training` for its files);
report.json (also stored in its manifest) holds:
  metrics     L0, FVU, dead and dense fractions on held-out tokens (`sae_train.measure`)
  splice      the model's error against its optimal output on up to `splice_frames` held-out frames: clean, with
              the SAE's reconstruction spliced in at the hook, with the hook zero-ablated, and the share recovered
              (`splice.spliced_score`); absent when the run's dataset or model cannot be loaded (with the reason)
  absorption  likely absorbed pairs on held-out tokens (`sae_analysis.absorption_candidates`)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, field_validator

from frobnoscope.engine.config import Config, validate_config
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.runs import write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.activations import tokens as feature_data
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.plots import sae as sae_plots
from frobnoscope.interp.sae import analysis as sae_analysis
from frobnoscope.interp.sae import training as sae_train
from frobnoscope.interp.sae.model import Arch, FrequencyCost, K, SAEConfig, Width, k_within_width
from frobnoscope.interp.sae.tokens import StreamedTokenBatches
from frobnoscope.models.device import prepare_device, resolve_device, to_numpy

ABSORPTION_TOKENS = 50_000
HELDOUT_TOKENS = 500_000  # the report's metrics are measured on at most this many held-out tokens (whole frames)
CURVE_TOKENS = 50_000  # the convergence curve's held-out measurements, at each checkpoint: the first this many
STABILITY = "stability.csv"  # against another seed: step, mean matched cosine, share above 0.9


class SAERunConfig(Config):
    """What `frob sae train` trains on, and the SAE's shape (its `SAEConfig` takes d_in from the hook)."""

    hook: str = Field(description="hook point (one the run captured)")
    arch: Arch = "topk"
    width: Width = 4096
    k: K = 32
    frequency_cost: FrequencyCost = 0.0
    max_tokens: int | None = Field(None, ge=1, description="train tokens used (whole frames, evenly spaced; default "
                                                           "all); they are streamed from the run, never all in memory")
    splice_frames: int = Field(16, ge=1, description="held-out frames the spliced score is measured on")

    _k_within_width = field_validator("k")(classmethod(k_within_width))


def default_out(run, config: SAERunConfig, seed: int) -> Path:
    return Path(run) / "saes" / f"{config.hook}.{config.arch}.w{config.width}.k{config.k}.s{seed}"


def train_on_run(run, config: SAERunConfig, train_config: sae_train.SAETrainConfig, out=None,
                 on_step: Callable | None = None, device: str | torch.device | None = "cpu") -> tuple[Path, dict]:
    """Train (or resume, or reopen) an SAE on `run`'s hook on `device` (the measurements after training too: the
    splice runs the model there); returns (SAE directory, report)."""
    device = prepare_device(resolve_device(device))
    store = ActivationStore.open(run)
    h, w, channels = store.shape(config.hook)
    train_frames, heldout_frames = feature_data.split_frames(store)
    out = Path(out) if out else default_out(run, config, train_config.seed)
    sae_config = validate_config(SAEConfig, dict(d_in=channels, width=config.width, arch=config.arch, k=config.k,
                                                 frequency_cost=config.frequency_cost))
    frames = (train_frames if config.max_tokens is None
              else feature_data.subsample_frames(store, config.hook, train_frames, config.max_tokens))
    source = {"run": str(Path(run).resolve()), "hook": config.hook, "frames": len(frames),
              "max_tokens": config.max_tokens, "splice_frames": config.splice_frames}
    if (out / "report.json").is_file():
        manifest = sae_train.read_manifest(out)
        same = {"sae": sae_config.to_dict(), "train": train_config.to_dict(), "source": source}
        if manifest.get("complete") and json.loads(json.dumps(same)) == {key: manifest.get(key) for key in same}:
            return out, manifest["report"]  # finished with these settings; other settings: refused by train_sae
    heldout_tokens, heldout_index = feature_data.load_tokens(
        store, config.hook, feature_data.subsample_frames(store, config.hook, heldout_frames, HELDOUT_TOKENS))
    batches = StreamedTokenBatches(store, config.hook, frames, train_config.batch_tokens, train_config.seed)
    sae = sae_train.train_sae(batches, out, sae_config, train_config, source=source, on_step=on_step, device=device,
                              evaluate=lambda trained: sae_train.measure(trained, heldout_tokens[:CURVE_TOKENS]))
    del batches
    report = {"hook": config.hook, "grid": [h, w], "channels": channels,
              "metrics": sae_train.measure(sae, heldout_tokens),
              "splice": _splice(store, sae, config, heldout_frames, device),
              "absorption": _absorption(store, sae, config.hook, heldout_tokens, heldout_index)}
    write_json_atomic(out / "report.json", report)
    plot_curves(out)
    sae_train.finish(out, report)
    return out, report


def write_stability(directory, reference) -> list[dict]:
    """`directory`'s stability against the SAE in `reference` (another seed of the same settings) at each checkpoint
    both kept (`analysis.stability_curve`), written to STABILITY (and the curves plot redrawn with it)."""
    rows = [{"against": Path(reference).name, **point} for point in sae_analysis.stability_curve(reference, directory)]
    if rows:
        write_csv(Path(directory) / STABILITY, rows)
        plot_curves(directory)
    return rows


def read_curves(directory) -> tuple[list[dict], list[dict]]:
    """(rows of curves.csv, rows of stability.csv) of an SAE directory, numbers parsed ([] for a missing file)."""
    def read(path: Path) -> list[dict]:
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return [{key: value if key == "against" else float(value) for key, value in row.items()}
                    for row in csv.DictReader(f)]

    return read(Path(directory) / sae_train.CURVES), read(Path(directory) / STABILITY)


def plot_curves(directory) -> None:
    """DIRECTORY/curves.png from its curves (`plots.sae`); nothing before the first checkpoint."""
    curve, stability = read_curves(directory)
    if curve:
        sae_plots.plot_curves(curve, stability, Path(directory) / "curves.png")


def _splice(store: ActivationStore, sae, config: SAERunConfig, heldout_frames: np.ndarray,
            device: torch.device) -> dict:
    from frobnoscope.interp.sae.splice import dataset_batches, spliced_score
    from frobnoscope.models import load_model

    try:
        adapter = load_model(store.model_spec, device=device)
        frames = heldout_frames[np.linspace(0, len(heldout_frames) - 1,
                                            min(config.splice_frames, len(heldout_frames))).round().astype(int)]
        batches = dataset_batches(store.dataset_path, np.unique(frames))
    except (FrobError, OSError) as error:
        return {"skipped": str(error)}
    return {"frames": len(np.unique(frames)), **spliced_score(adapter, batches, config.hook, sae.forward)}


def _absorption(store: ActivationStore, sae, hook: str, tokens, index: np.ndarray) -> dict:
    keep = slice(0, min(len(tokens), ABSORPTION_TOKENS))
    with torch.no_grad():
        codes = to_numpy(sae.encode(tokens[keep].to(sae.W_dec.device)))
    categorical = feature_data.token_truth(store, hook, index[keep]).categorical
    pairs = sae_analysis.absorption_candidates(sae, codes, categorical)
    return {"pairs": len(pairs), "confirmed": sum(bool(p["confirmed_by"]) for p in pairs), "top": pairs[:20]}
