"""`frob features label`: label an activation run's features (raw channels of a hook, and an SAE's latents) against
ground truth, measure their causal importance, and rank them by frobnoloid score.

Output directory (default SAE_DIR/features, or RUN/features/<hook> without an SAE):
  features.csv     one row per feature, ranked by frobnoloid_score (unmeasured importance last): kind (latent or
                   channel), feature, active_fraction, best_continuous, correlation, best_categorical, label, iou,
                   matched, best_factor, gt_r2 (with its bootstrap interval gt_r2_low, gt_r2_high and its ridge
                   lambda gt_lambda: `explained`), importance, steer_importance, frobnoloid_score
  summary.csv      how many features match ground truth: trained channels, the same architecture with random
                   weights (`models.loading.random_weights.reinitialise`, seed `random_seed`), and SAE latents;
                   beside each, the null: the share that match other frames' ground truth (each frame's tokens
                   paired with another labelled frame's truth at the same positions), the matching bars'
                   false-positive rate, and the matches above it
  figures/         <kind>_<feature>.png for the `figures` top-ranked features (`plots.features`)
  examples.npz     every feature's top and lower-quantile examples, histogram and neighbours (`examples`)
  manifest.json    format frobnoscope.features/1, config, summary
Labelling uses up to `max_tokens` tokens (whole frames, evenly spaced over the run; see `features` for the
statistics). Importance is measured on `importance_frames` held-out frames for the `candidates` features of each
kind with the highest activation energy x (1 - gt_r2_high) (energy: mean squared contribution to the hook's tokens);
the others get NaN (measuring every latent costs two model passes each).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator

from frobnoscope.engine.config import Config
from frobnoscope.engine.runs import MANIFEST, run_header, write_json_atomic
from frobnoscope.engine.tables import write_csv
from frobnoscope.interp.activations import tokens as feature_data
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.features import effects as feature_effects
from frobnoscope.interp.features import labels as features
from frobnoscope.interp.features.layout import COLUMNS, FEATURES_FORMAT
from frobnoscope.models.device import device_record, prepare_device, resolve_device, to_numpy
from frobnoscope.scenes.store import DatasetStore


class LabelConfig(Config):
    """What `frob features label` labels and how much it measures; stored in its manifest as `to_dict()`."""

    hook: str | None = Field(None, description="hook point (default: the SAE's)")
    sae: str | None = Field(None, validate_default=True,
                            description="SAE directory (its latents are labelled too; its hook is the default)")
    max_tokens: int = Field(16384, ge=1, description="tokens used for labelling (whole frames, evenly spaced)")
    importance_frames: int = Field(8, ge=1, description="held-out frames the ablation/steering effects are measured on")
    candidates: int = Field(32, ge=0, description="features per kind whose importance is measured")
    figures: int = Field(8, ge=0, description="top-ranked features drawn as PNGs")
    random_seed: int = Field(0, ge=0, description="seed of the random-weights copy of the model (summary.csv)")

    @field_validator("sae")
    @classmethod
    def _sae_or_hook(cls, sae: str | None, info: ValidationInfo) -> str | None:
        if sae is None and info.data.get("hook") is None:
            raise ValueError("give an SAE directory or a hook (the SAE's hook is the default)")
        return sae


def label_run(run, config: LabelConfig, out=None, on_progress: Callable[[str, int, int], None] | None = None,
              device: str | torch.device | None = "cpu") -> tuple[Path, list[dict], list[dict]]:
    """Label, measure and rank, running the model and the SAE on `device`; returns (output directory, ranked
    rows, summary rows)."""
    from frobnoscope.models import load_model

    device = prepare_device(resolve_device(device))
    store = ActivationStore.open(run)
    sae, hook = _sae_and_hook(store, config)
    sae = sae.to(device) if sae is not None else None
    out = Path(out) if out else (Path(config.sae) / "features" if config.sae else Path(run) / "features" / hook)
    frames = feature_data.subsample_frames(store, hook, np.arange(len(store)), config.max_tokens)
    tokens, index = feature_data.load_tokens(store, hook, frames)
    truth = feature_data.token_truth(store, hook, index)
    adapter = load_model(store.model_spec, device=device)
    _, heldout = feature_data.split_frames(store)
    chosen = heldout[np.linspace(0, len(heldout) - 1, min(config.importance_frames, len(heldout))).round().astype(int)]
    from frobnoscope.interp.sae.splice import dataset_batches

    batches = dataset_batches(store.dataset_path, np.unique(chosen))
    kinds = {"channel": _channel_kind(tokens)}
    if sae is not None:
        kinds["latent"] = _latent_kind(sae, tokens)
    rows = []
    for kind, (activations, energy, make_edits) in kinds.items():
        labelled = features.label_features(activations, truth)
        explained = np.array([row["gt_r2_high"] for row in labelled])
        candidates = np.argsort(-(energy * (1 - np.clip(explained, 0, 1))))[:config.candidates]
        amounts = feature_effects.steer_amounts(activations)
        edits = {int(i): make_edits(int(i), float(amounts[i])) for i in candidates}
        progress = (lambda done, total, kind=kind: on_progress(kind, done, total)) if on_progress else None
        effects = feature_effects.importances(adapter, batches, hook, edits, on_feature=progress)
        for row in labelled:
            ablate, steer = effects.get(row["feature"], (float("nan"), float("nan")))
            row.update(kind=kind, importance=ablate, steer_importance=steer,
                       frobnoloid_score=features.frobnoloid_score(ablate, row["gt_r2_high"]))
            rows.append(row)
    rows.sort(key=lambda row: -row["frobnoloid_score"] if np.isfinite(row["frobnoloid_score"]) else np.inf)
    summary = _summary(rows, kinds, store, hook, frames, index, truth, config.random_seed, device)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "features.csv", [{key: row.get(key, "") for key in COLUMNS} for row in rows])
    write_csv(out / "summary.csv", summary)
    _figures(out / "figures", rows[:config.figures], kinds, index, store, hook)
    write_json_atomic(out / MANIFEST, {**run_header(FEATURES_FORMAT), "config": config.to_dict(), "hook": hook,
                                       "run": str(Path(run).resolve()), "summary": summary,
                                       "device": device_record(device),
                                       "thresholds": {"quantile": feature_data.QUANTILE, "iou": features.IOU_BAR,
                                                      "correlation": features.CORRELATION_BAR}})
    from frobnoscope.interp.features.examples import write_examples

    write_examples(out)
    return out, rows, summary


def _sae_and_hook(store: ActivationStore, config: LabelConfig):
    if config.sae is None:
        store.shape(config.hook)
        return None, config.hook
    from frobnoscope.interp.sae.training import check_trained_on, load_sae, read_manifest

    source = read_manifest(config.sae).get("source", {})
    sae = load_sae(config.sae)
    hook = config.hook or source.get("hook")
    if hook is None or (config.hook and source.get("hook") and config.hook != source["hook"]):
        raise InterpError(f"{config.sae} was trained on hook {source.get('hook')!r}, not {config.hook!r}")
    check_trained_on(config.sae, store.manifest["model"], store.shape(hook)[2], f"{store.path} at {hook}")
    return sae, hook


def _channel_kind(tokens: torch.Tensor):
    activations = tokens.numpy()
    means = activations.mean(0)
    return activations, activations.var(0), lambda c, amount: (feature_effects.channel_ablation(c, float(means[c])),
                                                               feature_effects.channel_steering(c, amount))


def _latent_kind(sae, tokens: torch.Tensor):
    with torch.no_grad():
        codes = to_numpy(sae.encode(tokens.to(sae.W_dec.device)))
    energy = (codes.astype(np.float64) ** 2).mean(0) / float(sae.input_scale) ** 2
    return codes, energy, lambda i, amount: (feature_effects.latent_ablation(sae, i),
                                             feature_effects.latent_steering(sae, i, amount))


def _summary(rows: list[dict], kinds: dict, store: ActivationStore, hook: str, frames: np.ndarray, index: np.ndarray,
             truth, seed: int, device: torch.device) -> list[dict]:
    """Matches per kind of feature, beside the null: the same features against other frames' ground truth."""
    null_truth = feature_data.token_truth(store, hook, feature_data.other_frames(index, seed))
    summary = []
    for kind, (activations, _, _) in kinds.items():
        matched = [row["matched"] for row in rows if row["kind"] == kind]
        summary.append(_summary_row(f"trained {kind}s", matched, activations, null_truth))
    random_acts = _random_weights_tokens(store, hook, frames, seed, device)
    matched = [row["matched"] for row in features.label_features(random_acts, truth, with_gt_r2=False)]
    summary.append(_summary_row("random-weights channels", matched, random_acts, null_truth))
    return summary


def _summary_row(name: str, matched: list[bool], activations: np.ndarray, null_truth) -> dict:
    """count, matched and its fraction; the null's matched fraction (the bars' false-positive rate: the same
    features against other frames' ground truth), and the matches above it (matched - null rate x count)."""
    null = np.mean([row["matched"] for row in features.label_features(activations, null_truth, with_gt_r2=False)])
    return {"features": name, "count": len(matched), "matched": int(sum(matched)),
            "matched_fraction": float(np.mean(matched)) if matched else 0.0, "null_matched_fraction": float(null),
            "matched_above_null": float(max(0.0, sum(matched) - null * len(matched)))}


def _random_weights_tokens(store: ActivationStore, hook: str, frames: np.ndarray, seed: int,
                           device: torch.device) -> np.ndarray:
    """The hook's tokens for `frames` (same order as `load_tokens`) from the model with re-initialised weights."""
    from frobnoscope.interp.sae.splice import dataset_batches
    from frobnoscope.models import load_model
    from frobnoscope.models.loading.random_weights import reinitialise

    adapter = load_model(store.model_spec, device=device)
    reinitialise(adapter, seed)
    out = []
    for batch in dataset_batches(store.dataset_path, frames):
        acts = adapter.capture(batch, [hook])[hook]
        out.append(to_numpy(acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1]).float()))
    return np.concatenate(out)


def _figures(directory: Path, rows: list[dict], kinds: dict, index: np.ndarray, store: ActivationStore, hook: str) -> None:
    from frobnoscope.interp.plots.features import plot_feature

    dataset = DatasetStore.open(store.dataset_path)
    grid = store.shape(hook)[:2]
    for row in rows:
        activations = kinds[row["kind"]][0][:, row["feature"]]
        title = (f"{row['kind']} {row['feature']}: frobnoloid {row['frobnoloid_score']:.3g}, gt_r2 {row['gt_r2']:.2f}, "
                 f"best {row['best_factor'] or 'none'}")
        plot_feature(title, activations, index, grid, lambda k: dataset.channel("rgb")[k],
                     directory / f"{row['kind']}_{row['feature']}.png")


