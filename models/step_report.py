"""What every training loop reports after each step: what a progress bar shows."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepReport:
    step: int
    steps: int
    loss: float
    psnr: float  # this step's training batch, dB
    heldout_psnr: float | None  # at the steps that evaluate held-out data, else None
