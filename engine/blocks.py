"""What a block job is made of: blocks of frames `(start, stop)`, and the per-process worker that runs them.

A job names how to build its per-process state (`WorkerSpec`: a module-level factory and its picklable
arguments). Each worker's `block(start, stop)` returns a picklable result. The executors (`engine.executor` for
this process and local pools, `engine.ray_executor` for Ray actors) build workers with `start_worker`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

Block = tuple[int, int]
RunBlocks = Callable[[list[Block]], Iterable[tuple[Block, Any]]]


class BlockWorker(Protocol):
    def block(self, start: int, stop: int) -> Any: ...


@dataclass(frozen=True)
class WorkerSpec:
    """`factory(*args)` builds one worker's state. `pool_env` is set in each pooled worker process before the
    factory runs (the pool keeps every core busy, so libraries that start their own threads get one each).
    `num_gpus`: GPUs each Ray actor reserves (Ray then shows the actor only those, as cuda:0...)."""

    factory: Callable[..., BlockWorker]
    args: tuple = ()
    pool_env: dict[str, str] = field(default_factory=lambda: {"OMP_NUM_THREADS": "1"})
    num_gpus: int = 0

    def build(self) -> BlockWorker:
        return self.factory(*self.args)


_worker: BlockWorker | None = None


def start_worker(spec: WorkerSpec) -> BlockWorker:
    """Build a worker in a process of its own (pooled or remote): `pool_env` first, then the factory."""
    os.environ.update(spec.pool_env)
    torch = sys.modules.get("torch")  # imported while unpickling the spec, too early to read OMP_NUM_THREADS
    if torch is not None and "OMP_NUM_THREADS" in spec.pool_env:
        torch.set_num_threads(int(spec.pool_env["OMP_NUM_THREADS"]))
    return spec.build()
