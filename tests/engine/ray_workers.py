"""Worker classes that the Ray tests send to a cluster.

They live in a module of their own, not in conftest.py: Ray (cloudpickle) pickles a class by its module path, and
pytest's conftest modules all share the name `conftest`, so a worker defined there could not be found again. The
test imports this module and registers it with `ray.cloudpickle.register_pickle_by_value`, since the cluster's
workers cannot import the tests.
"""

import os
from pathlib import Path


class DiesOnceWorker:
    """Wraps a job's worker; the first time any process of it meets block `die_at`, it leaves `marker` and
    kills its own process (`os._exit`: no clean-up, as a crash or the OOM killer would)."""

    def __init__(self, marker: str, die_at: int, factory, *args):
        self.marker, self.die_at = marker, die_at
        self.inner = factory(*args)

    def block(self, start: int, stop: int):
        if start == self.die_at and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.inner.block(start, stop)
