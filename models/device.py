"""Where models run: one device name (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`) as a `torch.device`, the record every
run's manifest keeps of it, and what is reproducible where.

  auto      the first CUDA device torch sees (cuda:0), else the CPU; MPS only when asked for by name
  cpu       results are bit-identical across `--workers` and `--ray` (fixed block order, per-frame seeds)
  cuda[:N]  same seeds and data order as on the CPU; forward passes repeat exactly on one GPU model and driver
            (cuDNN deterministic, its autotuner off), but training is not bit-reproducible: scatter-add in the
            hash-grid backward and some reductions use atomics. Results agree with the CPU's to float32 rounding.
  mps       Apple GPUs; as cuda, without the cuDNN settings

Data stays in the same on-disk formats whatever the device: the writers move each block to the CPU
(`to_numpy`), so device memory holds one block at a time. A device torch cannot use is a one-line `DeviceError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from frobnoscope.models.errors import ModelError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
DEVICE_HELP = ("where models run: auto (the first CUDA device torch sees, else the CPU), cpu, cuda, cuda:N or mps; "
               "data on disk is the same whatever the device")
DEVICE_PATTERN = r"^(auto|cpu(:0)?|mps|cuda(:\d+)?)$"  # what a study file's `device` may hold
_NAME = re.compile(DEVICE_PATTERN)


class DeviceError(ModelError):
    """A device name that is not one, or a device torch cannot use on this machine."""


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`device` as a usable `torch.device` (None means auto). A `torch.device` passes as it is (tests use 'meta' to
    find tensors left on the CPU); a name is checked against what torch sees here."""
    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device).strip().lower()
    if not _NAME.match(name):
        raise DeviceError(f"unknown device {device!r}; expected {DEVICE_NAMES}")
    if name == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda"):
        _check_cuda(name)
    if name == "mps" and not (torch.backends.mps.is_available()):
        raise DeviceError("device 'mps': torch sees no Apple GPU here; use device 'cpu' or 'auto'")
    return torch.device("cuda:0" if name == "cuda" else name)


def _check_cuda(name: str) -> None:
    if not torch.cuda.is_available():
        build = "a CPU build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise DeviceError(f"device {name!r}: torch sees no CUDA device here (torch {torch.__version__}, {build}); use "
                          "device 'cpu' or 'auto'")
    index, count = int(name.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device {name!r}: torch sees {count} CUDA device(s) (cuda:0 to cuda:{count - 1}); choose "
                          "one of them")


def prepare_device(device: torch.device) -> torch.device:
    """Set what makes runs on `device` repeatable at little cost (see the module docstring); returns `device`."""
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False  # TF32 would change results by ~1e-3, not only the speed
        torch.backends.cudnn.allow_tf32 = False
    return device


def worker_device(device: torch.device, ray_address: str | None) -> str:
    """The device name a block worker loads its model on: a Ray actor sees only the GPU Ray gave it, as `cuda`."""
    return "cuda" if ray_address is not None and device.type == "cuda" else str(device)


def gpus_per_worker(device: torch.device, ray_address: str | None) -> int:
    """GPUs a block worker asks Ray for: one per actor on a CUDA device, else none (local workers share it)."""
    return 1 if ray_address is not None and device.type == "cuda" else 0


def device_record(device: torch.device) -> dict:
    """What a manifest keeps of the device a job ran on: its name, the GPU's model, torch's version."""
    record = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        record["name"] = torch.cuda.get_device_name(device)
        record["cuda"] = torch.version.cuda
    return record


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads, then give the caller its thread count back (results of a
    CPU job are reproducible for a fixed count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor on any device as a CPU numpy array (what every writer stores)."""
    return tensor.detach().cpu().numpy()
