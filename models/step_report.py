"""What every training loop shares: the per-step report a progress bar shows, and option checks."""

from __future__ import annotations

from dataclasses import dataclass

from frobnoscope.models.errors import ModelError


@dataclass(frozen=True)
class StepReport:
    step: int
    steps: int
    loss: float
    psnr: float  # this step's training batch, dB
    heldout_psnr: float | None  # at the steps that evaluate held-out data, else None


def require_positive(options: dict[str, float]) -> None:
    """One-line `ModelError` naming the first command-line option (`--name-like-this`) that is not > 0."""
    for name, value in options.items():
        if value <= 0:
            raise ModelError(f"--{name.replace('_', '-')} must be positive, got {value}")
