"""A Ray run records where each block ran (`ray_executor.BlockPlacement`, logged per block), and those records show
every block ran in a Ray worker process on a node of the cluster, never in this process: `--ray` silently ignored
(blocks run in-process or on a local pool) leaves no record, or a record that names this process, and fails."""

from __future__ import annotations

import logging
import os
import re

import pytest
from typer.testing import CliRunner

from frobnoscope.app.cli.main import app

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]
LOGGER = "frobnoscope.engine.ray_executor"
RECORD = re.compile(r"frames (\d+)-(\d+) ran on Ray node (\w+) \(host (\S+), pid (\d+), ray worker: (True|False)\)")


def cluster_node_ids(address: str) -> set[str]:
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    try:
        return {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    finally:
        ray.shutdown()


def test_a_ray_generate_records_that_each_block_ran_on_a_ray_worker_of_the_cluster(ray_address, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        result = CliRunner().invoke(app, ["scenes", "generate", "--family", "tabletop", "--n", "8", "--seed", "3",
                                          "--res", "16", "--chunk-frames", "4", "--workers", "2",
                                          "--ray", ray_address, "--out", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    records = [RECORD.fullmatch(r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert records and all(records), [r.getMessage() for r in caplog.records if r.name == LOGGER]
    blocks = sorted((int(m[1]), int(m[2])) for m in records)
    assert blocks == [(0, 3), (4, 7)]  # every block, once
    nodes = cluster_node_ids(ray_address)
    for match in records:
        node, pid, ray_worker = match[3], int(match[5]), match[6] == "True"
        assert node in nodes, (node, nodes)
        assert ray_worker and pid != os.getpid(), match[0]
