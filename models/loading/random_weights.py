"""The random-weights control: the same architecture with its parameters re-initialised from a fixed seed.

Every submodule with a `reset_parameters` method (convolutions, linear layers, norms) is reset, in module order,
under `torch.manual_seed(seed)` inside a forked RNG (the caller's global RNG state is left as it was), so a seed
gives the same weights on every run. Buffers (running statistics) are left alone; parameters of modules without
`reset_parameters` (rare) keep their trained values and are counted in the return value.
"""

from __future__ import annotations

import torch

from frobnoscope.models.adapter import AutoencoderAdapter


def reinitialise(adapter: AutoencoderAdapter, seed: int) -> int:
    """Re-initialise `adapter.module` in place; returns the number of parameters that could not be reset. The
    weights are drawn on the CPU (the same weights whatever device the model is on), then moved back."""
    untouched, device = 0, adapter.device
    adapter.module.to("cpu")
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in adapter.module.modules():
            own = list(module.parameters(recurse=False))
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            else:
                untouched += sum(p.numel() for p in own)
    adapter.module.to(device)
    adapter.name = f"{adapter.name} (random weights, seed {seed})"
    return untouched
