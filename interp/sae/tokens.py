"""SAE training batches streamed from an activation store: memory is a window of chunks, whatever the run's size.

Epoch e visits the storage chunks (capture blocks) that hold the chosen frames in an order permuted with seed
[seed, e]. Consecutive chunks of that order are grouped into windows of at least `window_tokens` tokens; each
window's tokens are shuffled with seed [seed, e, w]; the epoch's batches are consecutive `batch_tokens` slices of
the windows' concatenation (the last partial batch of an epoch is dropped). A batch is thus a function of the step
alone, so a resumed run reads exactly the batches an uninterrupted one reads, with no reader state to save, and at
most two windows are held (a batch can straddle two), stored in the run's dtype.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from frobnoscope.interp.activations.store import ActivationStore

WINDOW_TOKENS = 262_144


class StreamedTokenBatches:
    """`batches(step)` -> (batch_tokens, C) float32 tensor of `hook`'s tokens over `frames` (see the module)."""

    def __init__(self, store: ActivationStore, hook: str, frames: np.ndarray, batch_tokens: int, seed: int,
                 window_tokens: int = WINDOW_TOKENS):
        h, w, self.channels = store.shape(hook)
        self.array = store.acts(hook)
        self.store = store
        self.blocks = list(store.frame_blocks(hook, frames))
        self.block_tokens = np.array([len(block) * h * w for block in self.blocks], dtype=np.int64)
        self.tokens = int(self.block_tokens.sum())
        self.batch = min(batch_tokens, self.tokens)
        self.per_epoch = self.tokens // self.batch
        self.seed = seed
        self.window_tokens = max(window_tokens, self.batch)
        self._epoch, self._windows, self._window_starts = -1, [], np.zeros(1, dtype=np.int64)
        self._loaded: OrderedDict[int, np.ndarray] = OrderedDict()

    def __call__(self, step: int) -> torch.Tensor:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._plan(epoch)
        start, stop = index * self.batch, (index + 1) * self.batch
        first = int(np.searchsorted(self._window_starts, start, side="right")) - 1
        parts = []
        for window in range(first, len(self._windows)):
            window_start = int(self._window_starts[window])
            if window_start >= stop:
                break
            tokens = self._window(window)
            parts.append(tokens[max(start - window_start, 0):stop - window_start])
        return torch.from_numpy(np.concatenate(parts).astype(np.float32, copy=False))

    @property
    def loaded_tokens(self) -> int:
        """Tokens held in memory now (at most two windows)."""
        return sum(len(tokens) for tokens in self._loaded.values())

    def _plan(self, epoch: int) -> None:
        """Epoch `epoch`'s chunk order, cut into windows of at least `window_tokens` tokens."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.blocks))
        windows, current, size = [], [], 0
        for block in order:
            current.append(int(block))
            size += int(self.block_tokens[block])
            if size >= self.window_tokens:
                windows.append(current)
                current, size = [], 0
        if current:
            windows.append(current)
        self._epoch, self._windows = epoch, windows
        self._window_starts = np.cumsum([0] + [int(self.block_tokens[w].sum()) for w in windows])
        self._loaded.clear()

    def _window(self, window: int) -> np.ndarray:
        if window not in self._loaded:
            acts = np.concatenate([self.store.read_frames(self.array, self.blocks[block]).reshape(-1, self.channels)
                                   for block in self._windows[window]])
            order = np.random.default_rng([self.seed, self._epoch, window]).permutation(len(acts))
            self._loaded[window] = acts[order]
            while len(self._loaded) > 2:
                self._loaded.popitem(last=False)
        return self._loaded[window]
