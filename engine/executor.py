"""Run a job's blocks in this process or in a pool of local worker processes.

A job names how to build its per-process state (`WorkerSpec`: a module-level factory and its picklable
arguments) and lists its blocks as `(start, stop)` frame ranges. Each worker's `block(start, stop)`
returns a picklable result. `block_runner` starts the workers and yields `run_blocks(todo)`, which
yields `((start, stop), result)` as blocks finish, in any order; the caller journals and writes.
With a Ray address the workers are actors on that cluster (`ray_executor`, imported only then).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from frobnoscope.engine.blocks import Block, RunBlocks, WorkerSpec, start_worker
from frobnoscope.engine.config import ConfigError


def _init_pool_worker(spec: WorkerSpec) -> None:
    global _worker
    _worker = start_worker(spec)


def _run_pooled_block(bounds: Block) -> tuple[Block, Any]:
    return bounds, _worker.block(*bounds)


@contextmanager
def block_runner(spec: WorkerSpec, workers: int = 1, ray_address: str | None = None) -> Iterator[RunBlocks]:
    """Start `workers` workers (1: this process) and yield `run_blocks`. Worker start-up overlaps with
    whatever the caller does before its first call to `run_blocks`. With `ray_address`, the workers are
    `workers` actors on that running Ray cluster, and blocks whose worker died are redone."""
    if ray_address is not None:
        from frobnoscope.engine.ray_executor import ray_block_runner

        with ray_block_runner(spec, workers, ray_address) as run_blocks:
            yield run_blocks
        return
    if workers == 1:
        worker = spec.build()
        try:
            yield lambda todo: ((bounds, worker.block(*bounds)) for bounds in todo)
        finally:
            close = getattr(worker, "close", None)
            if close is not None:
                close()
        return
    # forkserver: workers start from a clean process (no zarr threads, no OpenGL context inherited)
    context = multiprocessing.get_context("forkserver")
    with _environment(spec.pool_env):  # read by the fork server, which may import numpy before any worker runs
        pool = context.Pool(workers, initializer=_init_pool_worker, initargs=(spec,))
    drained = []

    def run_blocks(todo):
        yield from pool.imap_unordered(_run_pooled_block, todo)
        drained.append(True)

    try:
        yield run_blocks
    finally:
        if drained:
            pool.close()  # the workers exit on their own and run their finalizers: no leaked semaphore warnings
        else:
            pool.terminate()  # an error, or the caller stopped early: do not wait for blocks nobody will read
        pool.join()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """`values` set in os.environ for the duration, then restored.

    The fork server starts with the first pool and hands its environment, and its already imported modules,
    to every worker: a BLAS that numpy loaded there before OMP_NUM_THREADS=1 keeps one spinning thread per core
    in each worker (at 256x256, two workers then ran no faster than one)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_workers(workers: int) -> None:
    """A `ConfigError` naming `workers` unless it is at least 1."""
    if workers < 1:
        raise ConfigError("job options", [("workers", f"must be at least 1, got {workers}")])
