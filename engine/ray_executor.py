"""Run a job's blocks on actors of a running Ray cluster (`frob ... --ray ADDRESS`).

Each actor builds one worker from the job's `WorkerSpec` (an OpenGL context, a model) and keeps it for every
block it is given, one block at a time, so fast actors take more blocks. A worker whose process dies is
restarted by Ray (its state built again) and the block it held is run again; an actor that dies more often than
that is dropped and its block goes to another. Workers return their results: nothing is written on the cluster.
Workers read their inputs (a dataset, a model run) from the same paths as the driver.
Each finished block is recorded on the logger `frobnoscope.engine.ray_executor` (INFO): its frames, the Ray node
id, the worker's process id and host, and whether it ran in a Ray worker process (`BlockPlacement`).
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from frobnoscope.engine.blocks import Block, RunBlocks, WorkerSpec, start_worker
from frobnoscope.engine.errors import FrobError

try:
    import ray
except ImportError:
    raise FrobError("running on a Ray cluster needs Ray; install it with: pip install 'frobnoscope[distributed]'") from None

RESTARTS = 3  # per actor: Ray restarts a dead worker and reruns its block this many times
CONNECT_TIMEOUT_S = 5.0


class RayUnavailable(FrobError):
    """No Ray cluster answers at the address given, or every worker on it died."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlockPlacement:
    """Where a block ran: the Ray node's id, the host and process id of its worker, and whether that process was a
    Ray worker (not the driver)."""

    node_id: str
    host: str
    pid: int
    ray_worker: bool

    @staticmethod
    def here() -> BlockPlacement:
        context = ray.get_runtime_context()
        return BlockPlacement(context.get_node_id(), socket.gethostname(), os.getpid(),
                              context.worker.mode == ray.WORKER_MODE)


class BlockActor:
    """One worker on the cluster. A worker that fails to build is kept as its error and raised by `block`, so
    the driver sees the original exception (a bad model spec) rather than Ray's dead-actor report."""

    def __init__(self, spec: WorkerSpec):
        self.worker, self.error = None, None
        try:
            self.worker = start_worker(spec)
        except Exception as error:  # noqa: BLE001 - raised again from every block
            self.error = error

    def block(self, start: int, stop: int) -> tuple[BlockPlacement, object]:
        if self.error is not None:
            raise self.error
        return BlockPlacement.here(), self.worker.block(start, stop)


def check_address(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at a HOST:PORT address; never start a cluster."""
    if address in ("", "local"):
        raise RayUnavailable(f"a Ray address is that of a running cluster (HOST:PORT or auto), got {address!r}; "
                             "start one with `ray start --head`")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayUnavailable(f"no Ray cluster answers at {address} ({error.strerror or error}); "
                             "start one with `ray start --head --port PORT` or fix the Ray address") from None


@contextmanager
def ray_block_runner(spec: WorkerSpec, workers: int, address: str) -> Iterator[RunBlocks]:
    """Connect to the cluster at `address` (unless this process already is), start `workers` actors of one CPU
    (and `spec.num_gpus` GPUs) each, yield `run_blocks`, and end the actors (and the connection, if made here)."""
    connected_here = not ray.is_initialized()
    if connected_here:
        check_address(address)
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    actor_class = ray.remote(num_cpus=1, num_gpus=spec.num_gpus, max_restarts=RESTARTS,
                             max_task_retries=RESTARTS)(BlockActor)
    actors = []
    try:
        actors = [actor_class.remote(spec) for _ in range(workers)]
        yield lambda todo: _run_on_actors(actors, todo)
    finally:
        for actor in actors:
            ray.kill(actor)
        if connected_here:
            ray.shutdown()


def _run_on_actors(actors: list, todo: list[Block]) -> Iterator[tuple[Block, object]]:
    """Yield `(bounds, result)` as blocks finish. A block whose actor is gone for good goes back in the queue."""
    pending, idle, running = deque(todo), list(actors), {}
    while pending or running:
        while pending and idle:
            actor, bounds = idle.pop(), pending.popleft()
            running[actor.block.remote(*bounds)] = (bounds, actor)
        (ref,), _ = ray.wait(list(running), num_returns=1)
        bounds, actor = running.pop(ref)
        try:
            placement, result = ray.get(ref)
        except ray.exceptions.RayTaskError as error:  # the block itself raised: as it would in this process
            if isinstance(error.cause, Exception):
                raise error.cause from error
            raise
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as error:
            pending.appendleft(bounds)
            if not idle and not running:
                first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise RayUnavailable(f"every Ray worker died (last at frames {bounds[0]}-{bounds[1] - 1}: "
                                     f"{first_line}); check the cluster's memory and logs, then rerun to resume") from None
            continue
        idle.append(actor)
        log.info("frames %d-%d ran on Ray node %s (host %s, pid %d, ray worker: %s)", bounds[0], bounds[1] - 1,
                 placement.node_id, placement.host, placement.pid, placement.ray_worker)
        yield bounds, result
