"""A finished features run (`frob features label`) opened for reading: its table, the tokens it labelled, their
ground truth, and any feature's activation on any frame of the capture.

The tokens are the same whole frames `label_run` used (`activations.tokens.subsample_frames` with the run's
`max_tokens`), so statistics computed here agree with `features.csv`. A feature is `(kind, index)`: kind `channel`
(a raw channel of the hook) or `latent` (a code of the run's SAE, `SparseAutoencoder.encode` of the raw tokens).
Paths recorded in manifests are absolute; `relocate` (default: unchanged) maps them when a workspace has moved.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from frobnoscope.engine.runs import MANIFEST, load_manifest
from frobnoscope.interp.activations import tokens as token_data
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.errors import InterpError
from frobnoscope.interp.features.layout import FEATURES_FORMAT

KINDS = ("channel", "latent")


def read_features_table(directory: Path) -> list[dict]:
    """features.csv as dicts (strings as written; the caller converts)."""
    with open(Path(directory) / "features.csv", newline="") as handle:
        return list(csv.DictReader(handle))


class FeatureSource:
    def __init__(self, directory, relocate: Callable[[str], Path] = Path):
        self.directory = Path(directory)
        self.manifest = load_manifest(self.directory, expected_format=FEATURES_FORMAT, what="a features run",
                                      make_with="frob features label", error=InterpError)
        self.hook: str = self.manifest["hook"]
        self.run = relocate(self.manifest["run"])
        sae = self.manifest["config"].get("sae")
        self.sae_dir = relocate(sae) if sae else None

    @cached_property
    def store(self) -> ActivationStore:
        return ActivationStore.open(self.run)

    @cached_property
    def sae(self):
        if self.sae_dir is None:
            return None
        from frobnoscope.interp.sae.training import load_sae

        return load_sae(self.sae_dir)

    def kinds(self) -> list[str]:
        return ["channel", "latent"] if self.sae_dir is not None else ["channel"]

    @cached_property
    def frames(self) -> np.ndarray:
        """The frames whose tokens were labelled (sorted)."""
        store = self.store
        return token_data.subsample_frames(store, self.hook, np.arange(len(store)), self.manifest["config"]["max_tokens"])

    @cached_property
    def _tokens(self) -> tuple[torch.Tensor, np.ndarray]:
        return token_data.load_tokens(self.store, self.hook, self.frames)

    @property
    def index(self) -> np.ndarray:
        """(T, 3) frame, row, col of each labelled token."""
        return self._tokens[1]

    @cached_property
    def truth(self) -> token_data.TokenTruth:
        return token_data.token_truth(self.store, self.hook, self.index)

    def activations(self, kind: str) -> np.ndarray:
        """(T, F) float32 activations of every feature of `kind` on the labelled tokens."""
        return self._activations[self._kind(kind)]

    @cached_property
    def _activations(self) -> dict[str, np.ndarray]:
        tokens = self._tokens[0]
        out = {"channel": tokens.numpy()}
        if self.sae_dir is not None:
            out["latent"] = self.encode(tokens)
        return out

    @torch.no_grad()
    def encode(self, tokens: torch.Tensor) -> np.ndarray:
        return torch.cat([self.sae.encode(part) for part in tokens.split(8192)]).numpy()

    def frame_map(self, kind: str, feature: int, frame: int) -> np.ndarray:
        """(h, w) activation of one feature over the hook's grid on any frame of the capture."""
        acts = self.store.frame_activations(self.hook, frame)
        h, w, c = acts.shape
        if self._kind(kind) == "channel":
            return acts[..., self._feature(kind, feature, c)]
        codes = self.encode(torch.from_numpy(acts.reshape(-1, c)))
        return codes[:, self._feature(kind, feature, codes.shape[1])].reshape(h, w)

    def channel_means(self) -> np.ndarray:
        """(C,) mean of each raw channel over the labelled tokens (what a channel ablation puts in its place)."""
        return self.activations("channel").mean(0)

    def count(self, kind: str) -> int:
        return self.activations(kind).shape[1]

    def _kind(self, kind: str) -> str:
        if kind not in self.kinds():
            raise InterpError(f"{self.directory} has no {kind} features; it has {', '.join(self.kinds())}")
        return kind

    def _feature(self, kind: str, feature: int, count: int) -> int:
        if not 0 <= feature < count:
            raise InterpError(f"{kind} {feature} does not exist at {self.hook}; there are {count} (0 to {count - 1})")
        return feature


def features_directories(root: Path) -> list[Path]:
    """Every features run under `root` (directories holding features.csv and a manifest), sorted."""
    return sorted(path.parent for path in Path(root).rglob("features.csv") if (path.parent / MANIFEST).is_file())
