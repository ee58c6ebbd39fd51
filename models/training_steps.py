"""What every training loop shares: the report after each step (what a progress bar shows), and the learning-rate
schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

FINAL_LR_FRACTION = 0.1


@dataclass(frozen=True)
class StepReport:
    step: int
    steps: int
    loss: float
    psnr: float  # this step's training batch, dB
    heldout_psnr: float | None  # at the steps that evaluate held-out data, else None


def learning_rate(config, step: int) -> float:
    """Learning rate for step `step` (1-based): linear warmup, then cosine decay to FINAL_LR_FRACTION. `config`: any
    training config with `learning_rate`, `warmup_steps` and `steps` (the NeRF trainer's too)."""
    if step <= config.warmup_steps:
        return config.learning_rate * step / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))
