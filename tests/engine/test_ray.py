"""Scale-out on Ray: jobs run on a real local Ray head (`ray start --head` on 127.0.0.1) give the same arrays as in
one process, and a worker that dies mid-block loses nothing; workers that share the output directory write its
chunks themselves (the driver none), and a run cut off resumes. Select with `pytest -m ray`."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import ray_workers
from typer.testing import CliRunner

from frobnoscope.app.cli.main import app
from frobnoscope.engine.blocks import WorkerSpec
from frobnoscope.engine.errors import FrobError
from frobnoscope.engine.executor import block_runner
from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.attribution.methods import MethodSettings
from frobnoscope.interp.attribution.run import attribute
from frobnoscope.interp.attribution.run_format import AttributeConfig, read_maps
from frobnoscope.scenes.channels import CHANNELS
from frobnoscope.scenes.errors import SpecError
from frobnoscope.scenes.generate import GenerateWorker, generate
from frobnoscope.scenes.store import DatasetStore

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]  # one Ray head for the module under -n
GENERATE = {"family": "tabletop", "n": 12, "seed": 3, "settings": {"res": "16"}, "chunk_frames": 4}


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory):
    """The single-process run every Ray run is compared with."""
    return generate(GENERATE["family"], n=GENERATE["n"], seed=GENERATE["seed"], settings=GENERATE["settings"],
                    chunk_frames=GENERATE["chunk_frames"], out=tmp_path_factory.mktemp("local") / "data")


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_generate_on_ray_writes_the_single_process_dataset(ray_address, local_dataset, tmp_path):
    out = tmp_path / "data"
    _invoke("scenes", "generate", "--family", GENERATE["family"], "--n", str(GENERATE["n"]), "--seed", str(GENERATE["seed"]),
            "--res", "16", "--chunk-frames", str(GENERATE["chunk_frames"]), "--workers", "2", "--ray", ray_address,
            "--out", str(out))
    on_ray = DatasetStore.open(out)
    assert on_ray.complete and not (out / "progress.jsonl").exists()
    assert [f["checksums"] for f in on_ray.manifest["frames"]] == [f["checksums"] for f in local_dataset.manifest["frames"]]
    for channel in CHANNELS:
        np.testing.assert_array_equal(on_ray.channel(channel.name)[:], local_dataset.channel(channel.name)[:])
    assert on_ray.damaged_frames() == {}


def test_capture_on_ray_writes_the_single_process_run(ray_address, local_dataset, tiny_model_spec, tiny_hooks,
                                                      tmp_path):
    model = tiny_model_spec
    config = CaptureConfig(model=model, hooks=tiny_hooks, batch_size=4)
    local = ActivationStore.open(capture(local_dataset.path, tmp_path / "local", config))
    _invoke("capture", str(local_dataset.path), "--model", model, "--hooks", tiny_hooks, "--batch-size", "4",
            "--workers", "2", "--ray", ray_address, "--out", str(tmp_path / "ray"))
    on_ray = ActivationStore.open(tmp_path / "ray")
    assert on_ray.hooks() == local.hooks() and on_ray.gt_channels() == local.gt_channels()
    for hook in local.hooks():
        np.testing.assert_array_equal(on_ray.acts(hook)[:], local.acts(hook)[:])
        for name in local.gt_channels():
            np.testing.assert_array_equal(on_ray.gt(hook, name)[:], local.gt(hook, name)[:])


def test_attribute_on_ray_writes_the_single_process_maps(ray_address, local_dataset, tiny_model_spec, tmp_path):
    config = AttributeConfig(model=tiny_model_spec, target="error:object=1",
                             methods=("integrated_gradients", "smoothgrad"),
                             batch_size=4, settings=MethodSettings(n_steps=4, smoothgrad_samples=3))
    local = attribute(local_dataset.path, tmp_path / "local", config)
    _invoke("attribute", str(local_dataset.path), "--model", tiny_model_spec, "--target", "error:object=1",
            "--method", "integrated_gradients,smoothgrad", "--batch-size", "4", "--n-steps", "4",
            "--smoothgrad-samples", "3", "--workers", "2", "--ray", ray_address, "--out", str(tmp_path / "ray"))
    for method in config.methods:
        maps = read_maps(tmp_path / "ray", method)[:]
        assert maps.shape == (GENERATE["n"], 16, 16) and np.abs(maps).sum() > 0
        np.testing.assert_array_equal(maps, read_maps(local, method)[:])


def test_a_block_whose_worker_dies_is_redone(ray_address, local_dataset, tmp_path):
    import ray

    ray.cloudpickle.register_pickle_by_value(ray_workers)  # the test's worker is not installed on the cluster
    marker = tmp_path / "died"
    family = (GENERATE["family"], GENERATE["seed"], {"res": 16}, None)
    spec = WorkerSpec(ray_workers.DiesOnceWorker, (str(marker), 4, GenerateWorker, *family))
    todo = [(0, 4), (4, 8), (8, 12)]
    with block_runner(spec, 2, ray_address) as run_blocks:
        results = dict(run_blocks(todo))
    assert marker.exists(), "the worker never died: the test proves nothing"
    assert sorted(results) == todo
    for (start, stop), frames in results.items():
        for k, frame in zip(range(start, stop), frames):
            for channel in CHANNELS:
                np.testing.assert_array_equal(frame[channel.name], local_dataset.channel(channel.name)[k])


def test_a_worker_that_cannot_start_fails_the_job_with_its_own_error(ray_address):
    spec = WorkerSpec(GenerateWorker, ("no-such-family", 0, {}, None))
    with pytest.raises(SpecError) as caught, block_runner(spec, 1, ray_address) as run_blocks:
        list(run_blocks([(0, 1)]))
    assert "unknown family 'no-such-family'" in str(caught.value) and "\n" not in str(caught.value)


def test_no_cluster_at_the_address_fails_fast_in_one_line(free_port):
    from frobnoscope.engine.ray_executor import RayUnavailable, check_address

    with pytest.raises(RayUnavailable, match="no Ray cluster answers at 127.0.0.1"):
        check_address(f"127.0.0.1:{free_port}")
    with pytest.raises(RayUnavailable, match="running cluster"):
        check_address("local")


def test_without_ray_installed_the_flag_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "frobnoscope.engine.ray_executor", raising=False)
    spec = WorkerSpec(GenerateWorker, ())
    with pytest.raises(FrobError, match=r"pip install 'frobnoscope\[distributed\]'"), block_runner(spec, 1, "127.0.0.1:1"):
        pass


class _CutOff(Exception):
    pass


def _journal_writers(out) -> list[str]:
    lines = (out / "progress.jsonl").read_text().splitlines() if (out / "progress.jsonl").exists() else []
    return [json.loads(line)["writer"] for line in lines]


def _count_driver_chunk_writes(monkeypatch) -> list[str]:
    """Chunks written by this process (the driver): Ray workers are other processes, so they are not counted."""
    written = []
    original = DatasetStore._write_chunk

    def counting(self, name, index, data):
        written.append(f"{name}/{index}")
        return original(self, name, index, data)

    monkeypatch.setattr(DatasetStore, "_write_chunk", counting)
    return written


def test_ray_workers_write_their_chunks_to_shared_storage_and_the_driver_none(ray_address, local_dataset, tmp_path,
                                                                            monkeypatch):
    out, writers = tmp_path / "data", set()
    driver_writes = _count_driver_chunk_writes(monkeypatch)
    generate(GENERATE["family"], n=GENERATE["n"], seed=GENERATE["seed"], settings=GENERATE["settings"],
             chunk_frames=GENERATE["chunk_frames"], out=out, workers=2, ray_address=ray_address,
             on_progress=lambda done, total: writers.update(_journal_writers(out)))
    assert driver_writes == []
    assert len(writers) >= 1 and all(w.rpartition(":")[2] != str(os.getpid()) for w in writers), writers
    assert not [p.name for p in out.rglob("*") if p.name.endswith((".tmp", ".partial"))]  # only whole chunks, by rename
    on_ray = DatasetStore.open(out)
    assert [f["checksums"] for f in on_ray.manifest["frames"]] == [f["checksums"] for f in local_dataset.manifest["frames"]]
    assert on_ray.damaged_frames() == {}
    _invoke("scenes", "verify", str(out))  # exit code 0: every frame matches its checksums


def test_ray_driver_writes_when_asked_or_when_workers_do_not_see_the_output(ray_address, local_dataset, tmp_path,
                                                                           monkeypatch):
    out = tmp_path / "data"
    driver_writes = _count_driver_chunk_writes(monkeypatch)
    generate(GENERATE["family"], n=GENERATE["n"], seed=GENERATE["seed"], settings=GENERATE["settings"],
             chunk_frames=GENERATE["chunk_frames"], out=out, workers=2, ray_address=ray_address, workers_write=False)
    assert len(driver_writes) == len(CHANNELS) * GENERATE["n"] // GENERATE["chunk_frames"]
    assert DatasetStore.open(out).damaged_frames() == {}
    # a worker on storage not shared with the driver (no marker there) returns its frames instead of writing
    spec = WorkerSpec(GenerateWorker, (GENERATE["family"], GENERATE["seed"], {"res": 16}, str(out), ".not-here.tmp"))
    with block_runner(spec, 1, ray_address) as run_blocks:
        ((bounds, frames),) = list(run_blocks([(4, 8)]))
    assert bounds == (4, 8) and isinstance(frames, list)
    np.testing.assert_array_equal(frames[0]["rgb"], local_dataset.channel("rgb")[4])


def test_a_ray_run_cut_off_resumes_from_the_blocks_its_workers_wrote(ray_address, local_dataset, tmp_path, monkeypatch):
    out = tmp_path / "data"
    kwargs = {"n": GENERATE["n"], "seed": GENERATE["seed"], "settings": GENERATE["settings"],
              "chunk_frames": GENERATE["chunk_frames"], "out": out, "workers": 1, "ray_address": ray_address}

    def cut_off(done, total):
        if done >= GENERATE["chunk_frames"]:
            raise _CutOff

    with pytest.raises(_CutOff):
        generate(GENERATE["family"], on_progress=cut_off, **kwargs)
    journalled = len(_journal_writers(out))
    assert 1 <= journalled < GENERATE["n"] // GENERATE["chunk_frames"]
    driver_writes = _count_driver_chunk_writes(monkeypatch)
    resumed = []
    generate(GENERATE["family"], on_progress=lambda done, total: resumed.append(done), **kwargs)
    assert driver_writes == []
    assert resumed[-1] == GENERATE["n"]
    on_ray = DatasetStore.open(out)
    assert on_ray.complete and on_ray.damaged_frames() == {}
    assert [f["checksums"] for f in on_ray.manifest["frames"]] == [f["checksums"] for f in local_dataset.manifest["frames"]]
