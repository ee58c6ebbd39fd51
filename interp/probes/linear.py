"""Linear probes: how well a linear read-out of each hook point recovers each ground-truth factor.

Targets, per hook point of an `ActivationStore`:
- pixel level (one row per token = frame, row, col): every component of the pooled continuous channels (depth_z,
  normal_world.x, albedo.r, shading.0, ...), `edges` and `background_fraction` (cell shares), by streaming ridge
  (`ridge`) -> held-out R^2; mask-like targets (edges, shadow.*, background_fraction) also get the average precision
  of ranking the test cells by the ridge prediction against "the cell holds any of it" (target > 0: a threshold every
  cell can meet); categorical channels (object_id, shape_id, material_id, majority labels) by multinomial logistic
  regression (`logistic`) -> held-out accuracy, balanced accuracy and macro-F1 (`scores`). Tokens whose target is
  NaN (cells with no surface for that channel) are left out of that target.
- frame level: every per-frame factor from the token-averaged activations, by ridge on principal components scored
  by cross-validation over frames, refused (with a note) when there are too few frames (`frame_level`).
Pixel-level splits are by frame: frame k is validation when k % 5 == 3, test when k % 5 == 4, else train. Ridge
picks lambda on validation and is scored on test. Logistic probes train on a uniform reservoir of at most
`max_fit_tokens` train tokens and are scored on a reservoir of as many test tokens (bounded memory; the ridge
statistics use every token).
`tokens_per_frame` (if set) subsamples each frame's positions (seeded by frame index) before anything else.

Baselines and controls, in the same table: `baseline` is what a probe that learned nothing scores (R^2: 0, the
test mean; categorical metrics: predicting the training tokens' majority class for every token; average precision:
the test cells' positive rate). `shuffled` is the same probe trained and scored with targets taken from another frame of
the same split (a fixed permutation of frames): what layout and dataset statistics alone give;
`selectivity = score - shuffled`, with R^2 below 0 (worse than predicting the test split's
mean, common with few frames) counted as 0 on both sides. A control run (the same model with re-initialised
weights, `frob capture
--random-weights-seed`) is probed the same way and joined as `control_score` and `control_selectivity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field, field_validator

from frobnoscope.engine.config import Config
from frobnoscope.interp.activations import gt_pooling
from frobnoscope.interp.activations.store import ActivationStore, same_model
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.probes import logistic, ridge, scores
from frobnoscope.interp.probes.frame_level import FOLDS, frame_probe

COMPONENT_NAMES = {"normal_world": "xyz", "normal_cam": "xyz", "position_world": "xyz", "albedo": "rgb", "rgb": "rgb",
                   "specular": "rgb"}
MASK_CHANNELS = ("edges", "shadow", gt_pooling.BACKGROUND_FRACTION)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Fitted:
    """One probe trained on the real targets, as a read-out of a hook's channel vectors x (C,): `x @ weights +
    intercept` (weights (C, K), intercept (K,)); pixel level on each token, frame level on the token average. K = 1
    for ridge probes; a categorical probe's K class logits (standardisation folded in), classes[j] the label of
    column j."""

    level: str
    weights: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray | None = None


class ProbeConfig(Config):
    """How `frob probe` samples tokens and fits; stored in the probe directory's manifest as `to_dict()`."""

    tokens_per_frame: int | None = Field(256, ge=0, description="token positions sampled per frame (0: all)")
    max_fit_tokens: int = Field(50_000, ge=1, description="train tokens the logistic probes are fitted on (a uniform "
                                                          "reservoir; as many test tokens score them)")
    logistic_epochs: int = Field(5, ge=1, description="epochs of the logistic probes' training")
    seed: int = Field(0, ge=0, description="token sampling, target shuffling and logistic training")

    @field_validator("tokens_per_frame")
    @classmethod
    def _zero_is_all(cls, value: int | None) -> int | None:
        return value or None


def frame_splits(n: int) -> np.ndarray:
    """(n,) 0 train, 1 validation (k % 5 == 3), 2 test (k % 5 == 4)."""
    k = np.arange(n)
    return np.where(k % 5 == 3, 1, np.where(k % 5 == 4, 2, 0))


def shuffled_frames(splits: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of frames within each split: frame k takes its shuffled target from frame perm[k]."""
    rng = np.random.default_rng([seed, 1])
    perm = np.arange(len(splits))
    for split in range(len(SPLITS)):
        members = np.flatnonzero(splits == split)
        perm[members] = members[rng.permutation(len(members))]
    return perm


def component_names(channel: str, count: int) -> list[str]:
    if count == 1:
        return [channel]
    letters = COMPONENT_NAMES.get(channel, "")
    return [f"{channel}.{letters[i] if len(letters) == count else i}" for i in range(count)]


class _Reservoir:
    """A uniform sample of at most `size` rows from a stream (Algorithm R, vectorised per batch)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seen, self.rng = size, 0, np.random.default_rng(seed)
        self.columns: dict[str, np.ndarray] = {}

    def add(self, columns: dict[str, np.ndarray]) -> None:
        count = len(next(iter(columns.values())))
        if not self.columns:
            self.columns = {name: np.empty((self.size, *v.shape[1:]), dtype=v.dtype) for name, v in columns.items()}
        free = max(0, min(self.size - self.seen, count))
        for name, values in columns.items():
            self.columns[name][self.seen:self.seen + free] = values[:free]
        slots = self.rng.integers(0, self.seen + np.arange(free, count) + 1)
        keep = slots < self.size
        for name, values in columns.items():
            self.columns[name][slots[keep]] = values[free:][keep]
        self.seen += count

    def rows(self) -> dict[str, np.ndarray]:
        n = min(self.seen, self.size)
        return {name: values[:n] for name, values in self.columns.items()}


def _spatial_mean(acts_block: np.ndarray) -> np.ndarray:
    """(B, h, w, C) -> (B, C) token-averaged activations, float64."""
    return acts_block.reshape(len(acts_block), -1, acts_block.shape[-1]).mean(axis=1, dtype=np.float64)


def frame_mean_activations(store: ActivationStore, hook: str) -> np.ndarray:
    """(N, C) each frame's token-averaged activations at `hook` (one streaming pass)."""
    means = np.zeros((len(store), store.shape(hook)[2]))
    for block in store.frame_blocks(hook):
        means[block] = _spatial_mean(store.read_frames(store.acts(hook), block).astype(np.float32))
    return means


def _positions(k: int, h: int, w: int, config: ProbeConfig) -> np.ndarray:
    if config.tokens_per_frame is None or config.tokens_per_frame >= h * w:
        return np.arange(h * w)
    return np.sort(np.random.default_rng([config.seed, k]).choice(h * w, config.tokens_per_frame, replace=False))


def _tokens(array: np.ndarray, positions: list[np.ndarray]) -> np.ndarray:
    """(B, h, w, ...) block -> the chosen positions' rows, frame by frame."""
    flat = array.reshape(array.shape[0], -1, *array.shape[3:])
    return np.concatenate([flat[i, p] for i, p in enumerate(positions)])


def probe_hook(store: ActivationStore, hook: str, config: ProbeConfig, fitted: dict | None = None,
               device: torch.device | str = "cpu") -> list[dict]:
    """Every probe of one hook point: pixel-level rows, then frame-level rows. With `fitted`, each probe trained on
    the real targets is also stored there as {(hook, factor): `Fitted`}. Logistic probes train on `device` (ridge
    probes are float64 sufficient statistics, on the CPU)."""
    fitted = {} if fitted is None else fitted
    h, w, c = store.shape(hook)
    splits = frame_splits(len(store))
    perm = shuffled_frames(splits, config.seed)
    continuous = [ch for ch in store.gt_channels() if ch in gt_pooling.CONTINUOUS + gt_pooling.DERIVED
                  + gt_pooling.FRACTIONS or ch == gt_pooling.BACKGROUND_FRACTION]
    categorical = [ch for ch in store.gt_channels() if ch in gt_pooling.CATEGORICAL]
    widths = {ch: int(np.prod(store.gt(hook, ch).shape[3:])) for ch in continuous}
    stats = {(ch, split, shuffled): ridge.RidgeStats(c, widths[ch])
             for ch in continuous for split in range(3) for shuffled in (False, True)}
    fit_sample = _Reservoir(config.max_fit_tokens, config.seed)
    test_sample = _Reservoir(config.max_fit_tokens, config.seed + 1)
    frame_means = np.zeros((len(store), c))
    for block in store.frame_blocks(hook):
        acts_block = store.read_frames(store.acts(hook), block).astype(np.float32)
        frame_means[block] = _spatial_mean(acts_block)
        positions = [_positions(int(k), h, w, config) for k in block]
        x = _tokens(acts_block, positions)
        token_split = np.repeat(splits[block], [len(p) for p in positions])
        targets = {}
        for ch in continuous + categorical:
            array = store.gt(hook, ch)
            real = _tokens(store.read_frames(array, block), positions)
            fake = _tokens(array.get_orthogonal_selection((perm[block],)), positions)
            targets[ch, False], targets[ch, True] = real, fake
        for (ch, split, shuffled), accumulator in stats.items():
            y = targets[ch, shuffled].reshape(len(x), -1).astype(np.float64)
            keep = (token_split == split) & np.isfinite(y).all(axis=1)
            accumulator.add(x[keep], y[keep])
        columns = {"x": x, **{f"{ch}|{int(s)}": targets[ch, s] for ch, s in targets}}
        for split, sample in ((0, fit_sample), (2, test_sample)):
            chosen = token_split == split
            if chosen.any():
                sample.add({name: values[chosen] for name, values in columns.items()})
    rows = _pixel_ridge_rows(hook, continuous, widths, stats, test_sample.rows(), fitted)
    rows += _pixel_logistic_rows(hook, categorical, fit_sample.rows(), test_sample.rows(), config, fitted, device)
    rows += _frame_rows(hook, frame_means, store.factors(), perm, fitted)
    return rows


def _row(hook, factor, level, kind, metric, score, shuffled, n_train, n_test, lam=np.nan, baseline=np.nan,
         note="") -> dict:
    floor = (lambda v: max(v, 0.0)) if metric == "r2" else (lambda v: v)
    return {"hook": hook, "factor": factor, "level": level, "kind": kind, "metric": metric, "score": float(score),
            "baseline": float(0.0 if metric == "r2" else baseline), "shuffled": float(shuffled),
            "selectivity": float(floor(score) - floor(shuffled)), "n_train": int(n_train), "n_test": int(n_test),
            "lambda": float(lam), "note": note}


def _pixel_ridge_rows(hook, continuous, widths, stats, test_rows, fitted: dict) -> list[dict]:
    rows = []
    for ch in continuous:
        fits = {s: ridge.solve(stats[ch, 0, s], stats[ch, 1, s]) for s in (False, True)}
        r2 = {s: stats[ch, 2, s].r2(fits[s].weights, fits[s].intercept) for s in (False, True)}
        names = component_names(ch, widths[ch])
        for i, name in enumerate(names):
            fitted[hook, name] = Fitted("pixel", fits[False].weights[:, i:i + 1], fits[False].intercept[i:i + 1])
            rows.append(_row(hook, name, "pixel", "continuous", "r2", r2[False][i], r2[True][i],
                             stats[ch, 0, False].n, stats[ch, 2, False].n, fits[False].lam[i]))
            if ch in MASK_CHANNELS and test_rows:
                precision, rate = {}, np.nan
                for s in (False, True):
                    y = test_rows[f"{ch}|{int(s)}"].reshape(len(test_rows["x"]), -1)[:, i]
                    keep = np.isfinite(y)
                    prediction = test_rows["x"][keep] @ fits[s].weights[:, i] + fits[s].intercept[i]
                    precision[s] = scores.average_precision(prediction, y[keep] > 0)
                    rate = scores.positive_rate(y[keep] > 0) if not s else rate
                rows.append(_row(hook, name, "pixel", "mask", "average_precision", precision[False], precision[True],
                                 stats[ch, 0, False].n, len(test_rows["x"]), fits[False].lam[i], baseline=rate))
    return rows


def _pixel_logistic_rows(hook, categorical, fit_rows, test_rows, config: ProbeConfig, fitted: dict,
                         device: torch.device | str) -> list[dict]:
    rows = []
    if not fit_rows or not test_rows:
        return rows
    for ch in categorical:
        measured = {}
        for s in (False, True):
            labels, test_labels = fit_rows[f"{ch}|{int(s)}"], test_rows[f"{ch}|{int(s)}"]
            classes = np.unique(np.concatenate([labels, test_labels]))
            model = logistic.fit_logistic(fit_rows["x"], np.searchsorted(classes, labels), len(classes),
                                          epochs=config.logistic_epochs, seed=config.seed, device=device)
            predicted = classes[logistic.predict(model, test_rows["x"])]
            measured[s] = scores.categorical_scores(test_labels, predicted)
            if not s:
                weights, intercept = logistic.folded_weights(model)
                fitted[hook, ch] = Fitted("pixel", weights, intercept, classes)
        majority = scores.majority_scores(fit_rows[f"{ch}|0"], test_rows[f"{ch}|0"])
        for metric in scores.CATEGORICAL:
            rows.append(_row(hook, ch, "pixel", "categorical", metric, measured[False][metric], measured[True][metric],
                             len(fit_rows["x"]), len(test_rows["x"]), baseline=majority[metric]))
    return rows


def _frame_rows(hook, frame_means, factors: dict[str, np.ndarray], perm, fitted: dict) -> list[dict]:
    """Cross-validated frame-level probes (`frame_level`); a refused one has a NaN score and a note."""
    rows = []
    for name, values in factors.items():
        probe, shuffled = frame_probe(frame_means, values), frame_probe(frame_means, values[perm])
        if not probe.note:
            fitted[hook, name] = Fitted("frame", probe.weights, probe.intercept)
        rows.append(_row(hook, name, "frame", "continuous", "r2", probe.score, shuffled.score,
                         probe.frames * (FOLDS - 2) // FOLDS, probe.frames, probe.lam, note=probe.note))
    return rows


def probe_store(store: ActivationStore, config: ProbeConfig, on_hook: Callable[[str], None] | None = None,
                fitted: dict | None = None, device: torch.device | str = "cpu") -> list[dict]:
    rows = []
    for hook in store.hooks():
        rows += probe_hook(store, hook, config, fitted, device)
        if on_hook:
            on_hook(hook)
    return rows


def check_control(store: ActivationStore, control: ActivationStore) -> None:
    """A control run must hold the same frames of the same dataset at the same hook points."""
    if control.manifest["dataset"]["manifest_blake2b"] != store.manifest["dataset"]["manifest_blake2b"]:
        raise InterpError(f"control run {control.path} was captured from another dataset than {store.path}")
    if len(control) != len(store) or control.hooks() != store.hooks():
        raise InterpError(f"control run {control.path} holds other frames or hook points than {store.path}")
    ours, theirs = store.manifest["model"], control.manifest["model"]
    if not same_model({**ours, "random_weights_seed": None}, {**theirs, "random_weights_seed": None}):
        raise InterpError(f"control run {control.path} was captured from another model ({theirs.get('spec')}) than "
                          f"{store.path} ({ours.get('spec')}); capture the control from the same model with "
                          "`frob capture ... --random-weights-seed 0`")


def join_control(rows: list[dict], control_rows: list[dict]) -> list[dict]:
    """Add control_score and control_selectivity to each row (matched by hook, factor and metric)."""
    control = {(r["hook"], r["factor"], r["metric"]): r for r in control_rows}
    joined = []
    for row in rows:
        match = control.get((row["hook"], row["factor"], row["metric"]))
        joined.append({**row, "control_score": match["score"] if match else np.nan,
                       "control_selectivity": match["selectivity"] if match else np.nan})
    return joined
