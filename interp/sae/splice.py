"""The model's error against its optimal output while a hook point's activation is edited (splicing, ablation,
steering).

An edit is a function of a token matrix: (T, C) -> (T, C), T = B * h * w tokens of a (B, C, h, w) hook output,
the same token layout as the activation store (frame, row, col order, channels last). `token_edit` turns it into an
adapter intervention. The error is the mean squared error (linear RGB [0, 1], averaged over pixels, colour
channels and frames; `models.metrics.squared_error_map`) between the adapter's output and its optimal output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from frobnoscope.models import metrics

TokenEdit = Callable[[torch.Tensor], torch.Tensor]


def token_edit(edit: TokenEdit):
    """An adapter intervention that applies `edit` to the hook output's tokens."""

    def intervention(output: torch.Tensor) -> torch.Tensor:
        b, c, h, w = output.shape
        tokens = output.permute(0, 2, 3, 1).reshape(-1, c)
        edited = edit(tokens.float()).to(output.dtype)
        return edited.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()

    return intervention


@torch.no_grad()
def model_error(adapter, batches: Sequence, hook: str | None = None, edit: TokenEdit | None = None) -> float:
    """Mean squared error of the adapter's output against its optimal output over `batches` (image batches the
    adapter accepts), with `edit` applied at `hook` when given."""
    total, count = 0.0, 0
    for batch in batches:
        if edit is None:
            output = adapter.forward(batch)
        else:
            with adapter.intervene(hook, token_edit(edit)):
                output = adapter.forward(batch)
        output = torch.as_tensor(output)
        error = metrics.squared_error_map(output, torch.as_tensor(adapter.optimal_output(batch)).to(output.device))
        total += float(error.sum())
        count += error.numel()
    return total / max(count, 1)


def dataset_batches(dataset_path, frames: Sequence[int], batch_size: int = 8) -> list[torch.Tensor]:
    """rgb frames (linear [0, 1], (B, 3, H, W) float32) of a dataset, in blocks of `batch_size`."""
    from frobnoscope.scenes.store import DatasetStore

    store = DatasetStore.open(dataset_path)
    frames = np.sort(np.asarray(frames, dtype=np.int64))
    rgb = store.channel("rgb")
    return [torch.from_numpy(np.asarray(rgb.get_orthogonal_selection((frames[i:i + batch_size],)))).permute(0, 3, 1, 2)
            for i in range(0, len(frames), batch_size)]


def spliced_score(adapter, batches: Sequence, hook: str, reconstruct: TokenEdit) -> dict:
    """Error of the clean model, with the hook's tokens replaced by `reconstruct(tokens)`, and with the hook
    zero-ablated; `recovered` = (zero - spliced) / (zero - clean), 1 when splicing costs nothing, 0 when it is as bad
    as removing the hook's output."""
    clean = model_error(adapter, batches)
    spliced = model_error(adapter, batches, hook, reconstruct)
    zero = model_error(adapter, batches, hook, torch.zeros_like)
    gap = zero - clean
    return {"clean_mse": clean, "spliced_mse": spliced, "zero_ablation_mse": zero,
            "recovered": (zero - spliced) / gap if abs(gap) > 1e-30 else float("nan")}
