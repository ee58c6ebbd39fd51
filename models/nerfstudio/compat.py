"""Making torchvision importable when its compiled operators cannot load.

PyPI's torchvision wheels for Linux are CUDA builds: their `_C` extension links libtorch_cuda and fails to load
next to a CPU-only torch. torchvision then still imports its pure-Python parts, except that
`torchvision._meta_registrations` registers fake kernels for `torchvision::nms` and `torchvision::qnms` without
checking that the operators exist, and `import torchvision` fails with "operator torchvision::nms does not
exist". nerfstudio imports `torchvision.utils` (pure Python) at start-up, so that one failure stops `ns-train`.

`ensure_torchvision_importable()` loads torchvision's extension the way torchvision does; if that fails it
declares the two operators' schemas (no kernels), so the registrations succeed. Detection and box operators stay
unavailable (calling them raises); nothing nerfstudio's NeRF training uses needs them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import torch

_SCHEMAS = ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
            "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_library = None  # kept alive: the schemas last as long as this Library object


def torchvision_ops_load() -> bool:
    """Whether torchvision's compiled `_C` extension loads with this torch (no torchvision: True, nothing to do)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True
    folder = Path(spec.origin).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        library = folder / f"_C{suffix}"
        if library.is_file():
            try:
                torch.ops.load_library(str(library))
                return True
            except OSError:
                return False
    return False


def ensure_torchvision_importable() -> bool:
    """Call before anything imports torchvision. Returns False when the schemas had to be declared."""
    global _library
    if "torchvision" in sys.modules or torchvision_ops_load():
        return True
    if _library is None:
        _library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            _library.define(schema)
    return False
