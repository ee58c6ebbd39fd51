"""`frob scenes generate --out s3://bucket/prefix`: a dataset on an object store, against a real S3 API served on
loopback (moto's server, in a thread of this process, at a free port; the endpoint and credentials reach every
process through AWS_ENDPOINT_URL and AWS_ACCESS_KEY_ID, as they would on a cluster).

The server records every PUT with the process that sent it: the client's port, found in /proc/net/tcp, leads to the
socket's inode and from there to the process holding it. That is how the Ray test proves the workers wrote every
chunk and this process (the driver) none, whatever code path a chunk took: a driver that wrote even one chunk, by
any means, sends a PUT from this process's pid. The Ray head (tests/engine/conftest.py's `ray_head`) is started
after the server, with its environment.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from frobnoscope.engine.lock import RunLocked, run_lock
from frobnoscope.engine.storage import location
from frobnoscope.scenes.channels import CHANNELS
from frobnoscope.scenes.generate import generate
from frobnoscope.scenes.repair import chunk_file
from frobnoscope.scenes.store import DatasetStore

GENERATE = {"family": "tabletop", "n": 8, "seed": 3, "settings": {"res": "16"}, "chunk_frames": 4}
ARGS = ["scenes", "generate", "--family", "tabletop", "--n", "8", "--seed", "3", "--res", "16", "--chunk-frames", "4"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
PLACEMENT = re.compile(r"frames (\d+)-(\d+) ran on Ray node \w+ \(host \S+, pid (\d+), ray worker: True\)")


def _socket_owner(client_port: int, server_port: int) -> int | None:
    """The pid of the process holding the loopback TCP socket 127.0.0.1:client_port -> server_port."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":"), fields[2].split(":")
        if int(local[1], 16) == client_port and int(remote[1], 16) == server_port and fields[9] != "0":
            inode = fields[9]  # (a closed connection in TIME_WAIT has inode 0)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
            except OSError:  # closed meanwhile
                continue
    return None


class RecordingMotoServer:
    """moto's ThreadedMotoServer whose WSGI app records each PUT as (bucket/key, sender pid) in `puts`."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.puts: list[tuple[str, int | None]] = []

    def start(self) -> None:
        self.server.start()
        wsgi = self.server._server.app  # the werkzeug server's app, wrapped once it exists

        def recording(environ, start_response):
            if environ["REQUEST_METHOD"] == "PUT":
                owner = _socket_owner(int(environ["REMOTE_PORT"]), self.port)
                self.puts.append((environ["PATH_INFO"].lstrip("/"), owner))
            return wsgi(environ, start_response)

        self.server._server.app = recording

    def puts_under(self, prefix: str) -> dict[str, set]:
        """{key under prefix: the pids that PUT it}."""
        found: dict[str, set] = {}
        for key, pid in self.puts:
            if key.startswith(prefix):
                found.setdefault(key[len(prefix):], set()).add(pid)
        return found


@pytest.fixture(scope="module")
def s3():
    """The loopback S3 server; this process (and any it starts) uses it through the AWS_* variables."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = RecordingMotoServer()
    server.start()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.port}", **CREDENTIALS}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        server.env = env
        yield server
    server.server.stop()


@pytest.fixture
def bucket(s3) -> str:
    name = f"frob-{uuid.uuid4().hex[:12]}"
    location(f"s3://{name}/probe").fs.mkdir(name)
    return name


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory) -> DatasetStore:
    """The same dataset made in one process on the local disk."""
    return generate(GENERATE["family"], n=GENERATE["n"], seed=GENERATE["seed"], settings=GENERATE["settings"],
                    chunk_frames=GENERATE["chunk_frames"], out=tmp_path_factory.mktemp("local") / "data")


def _assert_same_dataset(url: str, local: DatasetStore) -> None:
    on_s3 = DatasetStore.open(url)
    assert on_s3.complete and on_s3.path == url
    assert [f["checksums"] for f in on_s3.manifest["frames"]] == [f["checksums"] for f in local.manifest["frames"]]
    for name in on_s3.channel_names():
        np.testing.assert_array_equal(on_s3.channel(name)[:], local.channel(name)[:])
    assert on_s3.damaged_frames() == {}


def _chunk_keys(local: DatasetStore) -> set[str]:
    """The chunk objects of every channel of the dataset, relative to its prefix."""
    blocks = range(-(-local.manifest["n"] // local.manifest["chunk_frames"]))
    return {chunk_file(c.name, local.channel(c.name).ndim, block) for c in CHANNELS for block in blocks}


@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # with the other Ray tests on one xdist worker: one Ray head at a time
def test_a_ray_generate_to_s3_is_written_by_the_workers_and_equals_a_local_run(s3, bucket, local_dataset, frob_cli,
                                                                               caplog):
    url = f"s3://{bucket}/run"
    with _ray_head(s3.env) as address, caplog.at_level(logging.INFO, logger="frobnoscope.engine.ray_executor"):
        code, err = frob_cli(*ARGS, "--workers", "2", "--ray", address, "--out", url)
    assert code == 0, err
    ray_workers = {int(m[3]) for m in map(PLACEMENT.fullmatch, (r.getMessage() for r in caplog.records)) if m}
    assert ray_workers and os.getpid() not in ray_workers

    puts = s3.puts_under(f"{bucket}/run/")
    chunks = {key: pids for key, pids in puts.items() if key.split("/")[:2] in ([c.name, "c"] for c in CHANNELS)}
    assert set(chunks) == _chunk_keys(local_dataset), sorted(puts)
    written_by = set().union(*chunks.values())
    assert os.getpid() not in written_by, "the driver wrote chunks"
    assert written_by <= ray_workers, (written_by, ray_workers)  # each by a Ray worker that ran a block
    # the driver writes the manifest and the journal (one object per block), and nothing of them is left over
    assert puts["manifest.json"] == {os.getpid()}
    assert {key for key in puts if key.startswith("progress/")} == {"progress/000000000000.json",
                                                                   "progress/000000000004.json"}
    assert all(puts[key] == {os.getpid()} for key in puts if key.startswith("progress/"))
    assert not [name for name in location(url).names() if name.startswith((".", "progress"))]
    assert not location(f"s3://{bucket}/x").fs.exists(f"{bucket}/.run.lock")  # released
    _assert_same_dataset(url, local_dataset)


def _ray_head(env: dict):
    """tests/engine/conftest.py's `ray_head` (a conftest is not importable by name from another folder)."""
    path = Path(__file__).parents[1] / "engine" / "conftest.py"
    spec = importlib.util.spec_from_file_location("frob_tests_engine_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ray_head(env)


def test_generate_in_process_to_s3_equals_a_local_run_and_verify_and_info_read_it(bucket, local_dataset, frob_cli,
                                                                                  capsys):
    url = f"s3://{bucket}/data"
    code, err = frob_cli(*ARGS, "--out", url)
    assert code == 0, err
    _assert_same_dataset(url, local_dataset)
    assert frob_cli("scenes", "verify", url)[0] == 0
    code, err = frob_cli("scenes", "info", url)
    assert code == 0, err
    # a rerun of a finished dataset reads it and writes no chunk
    code, err = frob_cli(*ARGS, "--out", url)
    assert code == 0, err


def test_a_run_cut_off_resumes_from_its_journal_objects(s3, bucket, local_dataset, monkeypatch):
    url = f"s3://{bucket}/data"
    kwargs = {"n": GENERATE["n"], "seed": GENERATE["seed"], "settings": GENERATE["settings"],
              "chunk_frames": GENERATE["chunk_frames"], "out": url}

    class CutOff(Exception):
        pass

    def cut_off(done, total):
        if done >= GENERATE["chunk_frames"]:
            raise CutOff

    with pytest.raises(CutOff):
        generate(GENERATE["family"], on_progress=cut_off, **kwargs)
    assert location(url).journal_entries() == {0: None}
    assert not DatasetStore.open(url).complete
    rendered = []
    original = sys.modules["frobnoscope.scenes.generate"].render_frame
    monkeypatch.setattr("frobnoscope.scenes.generate.render_frame",
                        lambda family, k, *args: rendered.append(k) or original(family, k, *args))
    s3.puts.clear()
    generate(GENERATE["family"], **kwargs)
    assert rendered == [4, 5, 6, 7]  # only the block not journalled
    assert not {key for key in s3.puts_under(f"{bucket}/data/") if key.startswith("rgb/c/0/")}  # block 0 kept
    _assert_same_dataset(url, local_dataset)
    assert "progress" not in location(url).names()


def test_the_lock_keeps_a_second_writer_out_and_takes_over_from_a_dead_holder(bucket):
    url = f"s3://{bucket}/run"
    fs, lock = location(url).fs, f"{bucket}/.run.lock"
    with run_lock(url):
        assert json.loads(fs.cat_file(lock))["pid"] == os.getpid()
        with pytest.raises(RunLocked, match=rf"{url} is being written by process {os.getpid()} on "), run_lock(url):
            pytest.fail("the lock was taken twice")
    assert not fs.exists(lock)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    fs.pipe_file(lock, json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}).encode())
    notes = []
    with run_lock(url, on_note=notes.append):
        assert json.loads(fs.cat_file(lock))["pid"] == os.getpid()
    assert len(notes) == 1 and "taking over the lock" in notes[0] and not fs.exists(lock)
    fs.pipe_file(lock, json.dumps({"pid": 1, "host": "elsewhere", "command": "frob scenes generate"}).encode())
    with pytest.raises(RunLocked, match=rf"on elsewhere .*delete s3://{lock} and rerun") as refused, run_lock(url):
        pytest.fail("took the lock of a holder on another host")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("out, expected", [
    ("s3://{missing}/data", "the bucket does not exist"),
    ("s3://{bucket}", "names a bucket but no prefix"),
    ("nosuchstore://{bucket}/data", "is not a URL of a store fsspec knows"),
])
def test_a_bad_url_is_one_line(bucket, frob_cli, out, expected):
    code, err = frob_cli(*ARGS, "--out", out.format(bucket=bucket, missing=f"{bucket}-missing"))
    assert code == 2 and expected in err and err.count("\n") == 1, err
    code, err = frob_cli("scenes", "verify", out.format(bucket=bucket, missing=f"{bucket}-missing"))
    assert code == 2 and err.count("\n") == 1, err


def test_an_unreachable_endpoint_is_one_line(s3, frob_cli, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, err = frob_cli(*ARGS, "--out", "s3://any-bucket/data")
    assert code == 2 and f"cannot reach AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in err and err.count("\n") == 1, err
