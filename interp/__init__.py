"""Interpretability against ground truth, one folder per concept; the public API is importable from here, as from
`captum.attr`: `from frobnoscope.interp import capture, CaptureConfig, train_on_run, label_run, attribute`.

Names are imported on first use (PEP 562), so `import frobnoscope.interp.probes.ridge` does not load captum.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "frobnoscope.interp.activations.store": ["ActivationStore"],
    "frobnoscope.interp.activations.capture": ["CaptureConfig", "capture"],
    "frobnoscope.interp.evaluation.images": ["EvalConfig", "prepare_evaluation", "run_evaluation"],
    "frobnoscope.interp.evaluation.nerf": ["NerfJudgeConfig", "judge_nerf"],
    "frobnoscope.interp.probes.linear": ["ProbeConfig"],
    "frobnoscope.interp.probes.run": ["run_probes", "load_fitted"],
    "frobnoscope.interp.sae.model": ["SAEConfig", "SparseAutoencoder"],
    "frobnoscope.interp.sae.training": ["SAETrainConfig", "train_sae", "load_sae"],
    "frobnoscope.interp.sae.run": ["SAERunConfig", "train_on_run"],
    "frobnoscope.interp.features.run": ["LabelConfig", "label_run"],
    "frobnoscope.interp.attribution.config": ["AttributeConfig"],
    "frobnoscope.interp.attribution.methods": ["MethodSettings"],
    "frobnoscope.interp.attribution.run": ["attribute"],
    "frobnoscope.interp.attribution.scores": ["score_run"],
    "frobnoscope.interp.errors": ["InterpError"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'frobnoscope.interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
