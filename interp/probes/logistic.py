"""Multinomial logistic regression in torch on standardised features (Adam, full-batch-free minibatches), on any
device: the minibatch order and the initial weights come from CPU generators, so they are the same everywhere."""

from __future__ import annotations

import numpy as np
import torch


def fit_logistic(x: np.ndarray, labels: np.ndarray, n_classes: int, *, epochs: int = 5, batch: int = 4096,
                 lr: float = 0.02, weight_decay: float = 1e-4, seed: int = 0,
                 device: torch.device | str = "cpu") -> torch.nn.Module:
    """A linear classifier (standardisation folded in front) trained on `device` on x (n, D) float32 and labels
    (n,) in [0, n_classes). Deterministic for a seed."""
    generator = torch.Generator().manual_seed(seed)
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    y_t = torch.from_numpy(labels.astype(np.int64)).to(device)
    mean, std = x_t.mean(0), x_t.std(0).clamp_min(1e-6)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        linear = torch.nn.Linear(x.shape[1], n_classes).to(device)
    model = _Standardised(linear, mean, std)
    optimizer = torch.optim.Adam(linear.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(x_t), generator=generator).to(device)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            loss = torch.nn.functional.cross_entropy(model(x_t[rows]), y_t[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The class index (n,) of each row of x (n, D) under a `fit_logistic` model (on its device)."""
    with torch.no_grad():
        x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(model.mean.device)
        return model(x_t).argmax(1).cpu().numpy()


def folded_weights(model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(weights (D, K), intercept (K,)) of a `fit_logistic` model with its standardisation folded in: the logits
    of rows x are x @ weights + intercept."""
    with torch.no_grad():
        scaled = model.linear.weight / model.std  # (K, D)
        intercept = model.linear.bias - scaled @ model.mean
    return scaled.t().cpu().numpy().astype(np.float64), intercept.cpu().numpy().astype(np.float64)


class _Standardised(torch.nn.Module):
    def __init__(self, linear: torch.nn.Linear, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.linear = linear
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)
