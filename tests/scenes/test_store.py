"""`frob scenes generate / verify / show`, end to end: determinism, resumption, damage, errors."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from frobnoscope.engine.journal import read_journal_entries
from frobnoscope.scenes.channels import CHANNELS
from frobnoscope.scenes.families import make_family
from frobnoscope.scenes.generate import generate, render_frame
from frobnoscope.scenes.store import DatasetStore

FROB = [str(Path(sys.executable).parent / "frob")]
TINY = {"res": "24", "max_objects": "3"}


def frob(*args, check=True):
    result = subprocess.run(FROB + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def arrays(store: DatasetStore) -> dict[str, np.ndarray]:
    return {name: store.channel(name)[:] for name in store.channel_names()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "tabletop"
    return generate("tabletop", n=10, seed=3, out=out, settings=TINY, chunk_frames=4)


def test_store_layout_and_manifest(dataset):
    manifest = dataset.manifest
    assert manifest["complete"] and manifest["n"] == 10 and manifest["params"]["family"] == "tabletop"
    assert manifest["params"]["seed"] == 3 and manifest["package_version"] != ""
    for channel in CHANNELS:
        array = dataset.channel(channel.name)
        assert array.shape[:3] == (10, 24, 24) and str(array.dtype) == channel.dtype
        assert array.chunks[0] == 4 and array.metadata.zarr_format == 3
    frame = manifest["frames"][7]
    assert set(frame) == {"index", "split", "factors", "spec", "checksums"}
    assert frame["factors"]["n_objects"] == len(frame["spec"]["objects"]) - 1
    np.testing.assert_allclose(dataset.channel("camera_to_world")[7], frame["spec"]["camera"]["camera_to_world"])
    assert set(frame["checksums"]) == {c.name for c in CHANNELS}
    assert dataset.read_frame(7, ["shading"])["shading"].shape == (24, 24, 1)
    assert not (dataset.path / "progress.jsonl").exists()


def test_same_command_twice_gives_identical_arrays_and_frames_match_alone(dataset, tmp_path, renderer):
    again = generate("tabletop", n=10, seed=3, out=tmp_path / "again", settings=TINY, chunk_frames=4)
    first, second = arrays(dataset), arrays(again)
    for name in first:
        assert np.array_equal(first[name], second[name], equal_nan=True), name
    for k in (6, 9):  # a middle chunk, and the tail chunk (stored padded, as zarr stores edge chunks)
        alone = render_frame(make_family("tabletop", 3, TINY), k, renderer, {})
        for name, data in alone.items():
            assert np.array_equal(data.astype(first[name].dtype), first[name][k]), (k, name)


def test_two_workers_write_the_same_dataset(dataset, tmp_path):
    parallel = generate("tabletop", n=10, seed=3, out=tmp_path / "parallel", workers=2, settings=TINY, chunk_frames=4)
    assert [f["checksums"] for f in parallel.manifest["frames"]] == [f["checksums"] for f in dataset.manifest["frames"]]


def test_killed_job_resumes_to_an_identical_dataset(dataset, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    args = ["scenes", "generate", "--family", "tabletop", "--n", "10", "--seed", "3", "--res", "24",
            "--set", "max_objects=3", "--chunk-frames", "1", "--out", out]
    process = subprocess.Popen(FROB + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "progress.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (journal.exists() and journal.read_text().count("\n") >= 3):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not json.loads((out / "manifest.json").read_text())["complete"]
    with open(journal, "a") as f:
        f.write('{"start": 9, "checks')  # a journal line cut off by the kill
    assert frob("scenes", "verify", out, check=False).returncode == 2  # unfinished: verify refuses
    journalled = sorted(read_journal_entries(journal, "checksums"))  # blocks of one frame; the cut line is not one
    assert len(journalled) >= 3
    written = {k: [(path, path.stat().st_mtime_ns) for path in sorted((out / "rgb" / "c" / str(k)).rglob("*"))
                   if path.is_file()] for k in journalled}
    rendered, reports = [], []

    def counting_render(family, k, renderer, scenes):
        rendered.append(k)
        return render_frame(family, k, renderer, scenes)

    monkeypatch.setattr("frobnoscope.scenes.generate.render_frame", counting_render)
    generate("tabletop", n=10, seed=3, out=out, settings=TINY, chunk_frames=1,
             on_progress=lambda done, total: reports.append(done))
    # the work is the unfinished frames alone: rendered once each, reported one by one after the journalled ones
    assert sorted(rendered) == [k for k in range(10) if k not in journalled]
    unfinished = 10 - len(journalled)
    assert reports[-unfinished - 1:] == list(range(len(journalled), 11))
    for k, files in written.items():  # the journalled frames' chunks were not written again
        assert files and all(path.stat().st_mtime_ns == mtime for path, mtime in files), k
    resumed = DatasetStore.open(out)
    assert resumed.complete
    assert [f["checksums"] for f in resumed.manifest["frames"]] == [f["checksums"] for f in dataset.manifest["frames"]]
    assert "ok: all 10 frames" in frob("scenes", "verify", out).stdout


def test_verify_names_the_damaged_frame(tmp_path):
    out = tmp_path / "damaged"
    generate("tabletop", n=6, seed=1, out=out, settings=TINY, chunk_frames=1)
    depth_chunk = out / "depth_z" / "c" / "4" / "0" / "0"
    depth_chunk.write_bytes(b"garbage")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["frames"][2]["checksums"]["albedo"] = "0" * 32
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = frob("scenes", "verify", out, check=False)
    assert result.returncode == 1
    assert "frame 2 (albedo)" in result.stderr and "frame 4 (depth_z)" in result.stderr
    assert "frame 3" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--family", "nope", "--n", "2"], "--family: Input should be 'tabletop', 'shapes3d' or 'orbit'"),
        (["--family", "tabletop", "--n", "2", "--set", "colour=red"], "unknown setting 'colour'"),
        (["--family", "shapes3d", "--n", "5"], "full grid of 1296 frames"),
        (["--family", "tabletop"], "--n: family tabletop needs the number of frames"),
    ],
)
def test_generate_errors_are_one_line(tmp_path, args, message):
    result = frob("scenes", "generate", *args, "--out", tmp_path / "x", check=False)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


def test_existing_dir_with_other_parameters_is_refused_and_kept(dataset):
    before = (dataset.path / "manifest.json").read_bytes()
    result = frob("scenes", "generate", "--family", "tabletop", "--n", "10", "--seed", "4", "--res", "24",
                  "--set", "max_objects=3", "--chunk-frames", "4", "--out", dataset.path, check=False)
    assert result.returncode == 2 and "different parameters (seed)" in result.stderr
    assert (dataset.path / "manifest.json").read_bytes() == before


def test_unwritable_path_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = frob("scenes", "generate", "--n", "2", "--out", blocker / "sub", check=False)
    assert result.returncode == 2 and "cannot write to" in result.stderr


def test_show_writes_a_contact_sheet_for_a_family_and_a_spec(tmp_path, showcase_spec):
    frob("scenes", "show", "orbit", "--seed", "2", "--res", "32", "--out", tmp_path / "orbit.png")
    spec = tmp_path / "scene.json"
    spec.write_text(showcase_spec(res=32).model_dump_json())
    frob("scenes", "show", spec, "--out", tmp_path / "spec.png")
    from PIL import Image

    for name in ("orbit.png", "spec.png"):
        image = Image.open(tmp_path / name)
        assert image.size[0] > 600 and image.size[1] > 400
    missing = frob("scenes", "show", "nothing-here", check=False)
    assert missing.returncode == 2 and "neither a spec file nor a family" in missing.stderr
