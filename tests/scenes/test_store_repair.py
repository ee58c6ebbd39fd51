"""A dataset damaged by anything before the writer lock repairs itself: rerunning the `frob scenes generate` command
that made it rewrites what is missing or inconsistent, renders only the blocks it must, and ends with the dataset a
clean run makes (the same checksums), which `frob scenes verify` accepts.

The reported case: two identical `frob scenes generate` started half a second apart, both died (`FileNotFoundError:
...zarr.json.<hex>.partial`, `KeyError: 'rgb'`), and every rerun crashed again with `KeyError: 'rgb'`. Here the two
jobs are interleaved in one process, and each kind of damage they (or a full disk, or a hand) can leave is made
alone on a copy of a half-finished dataset.
"""

import json
import shutil

import pytest

from frobnoscope.scenes import generate as generate_module
from frobnoscope.scenes.families import make_family
from frobnoscope.scenes.generate import GenerateWorker, _create, generate
from frobnoscope.scenes.generate_config import GenerateConfig
from frobnoscope.scenes.store import DatasetStore

SETTINGS = {"res": "24", "max_objects": "3"}
CONFIG = GenerateConfig(family="tabletop", n=10, seed=1, settings=SETTINGS, chunk_frames=4)  # blocks 0, 4, 8 (tail)
ARGS = ["scenes", "generate", "--family", "tabletop", "--n", "10", "--seed", "1", "--res", "24",
        "--set", "max_objects=3", "--chunk-frames", "4", "--out"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> DatasetStore:
    return generate(CONFIG, out=tmp_path_factory.mktemp("clean") / "data")


@pytest.fixture
def rendered(monkeypatch) -> list[int]:
    """Start frames of the blocks rendered from here on (the CLI runs one worker, in this process)."""
    starts = []
    block = GenerateWorker.block

    def recording(self, start, stop):
        starts.append(start)
        return block(self, start, stop)

    monkeypatch.setattr(generate_module.GenerateWorker, "block", recording)
    return starts


def checksums(path) -> list:
    return [frame["checksums"] for frame in json.loads((path / "manifest.json").read_text())["frames"]]


def rerun_and_check(frob_cli, out, clean) -> None:
    code, err = frob_cli(*ARGS, out)
    assert code == 0, err
    assert checksums(out) == checksums(clean.path)
    assert not (out / "progress.jsonl").exists()
    assert not [p for pattern in ("*.partial", ".*.tmp") for p in out.rglob(pattern)]
    code, err = frob_cli("scenes", "verify", out)
    assert code == 0, err


def half_finished(clean, out):
    """A copy of `clean` as a run killed after blocks 0 and 4: journalled, manifest unfinished, block 8 missing."""
    shutil.copytree(clean.path, out)
    manifest = json.loads((out / "manifest.json").read_text())
    journal = [{"start": start, "checksums": [f["checksums"] for f in manifest["frames"][start:start + 4]]}
               for start in (0, 4)]
    (out / "progress.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in journal))
    for frame in manifest["frames"]:
        del frame["checksums"]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    for chunk in out.glob("*/c/2/**/*"):
        if chunk.is_file():
            chunk.unlink()
    return manifest


def test_two_jobs_interleaved_on_one_directory_repair_on_rerun(clean, tmp_path, frob_cli, rendered):
    out = tmp_path / "cc"
    family = make_family(CONFIG.family, CONFIG.seed, CONFIG.settings)
    first = _create(out, family, CONFIG)  # job A creates the dataset and its workers write block 0
    worker = GenerateWorker(CONFIG.family, CONFIG.seed, CONFIG.settings, str(out))
    done = worker.block(0, 4)
    (out / "progress.jsonl").write_text(json.dumps({"start": 0, "checksums": done}) + "\n")
    _create(out, family, CONFIG)  # job B starts: zarr's mode="w" wipes A's arrays, chunks and journal
    with open(out / "progress.jsonl", "a") as journal:  # A journals block 4 into the file B left
        journal.write(json.dumps({"start": 4, "checksums": worker.block(4, 8)}) + "\n")
        journal.write(json.dumps({"start": 0, "checksums": done}) + "\n")  # A's block 0 again: its chunks are gone
    worker.close()
    # B dies creating its arrays (A's wipe removed the directory it was writing into): rgb has no metadata
    (out / "rgb" / "zarr.json").unlink()
    (out / "rgb" / "zarr.json.5f0c2a.partial").write_text('{"shape"')
    assert first.manifest["complete"] is False
    with pytest.raises(Exception, match="rgb"):
        DatasetStore.open(out).channel("rgb")
    rendered.clear()

    rerun_and_check(frob_cli, out, clean)
    assert sorted(rendered) == [0, 8]  # block 4 was whole and kept; block 0's chunks were wiped


DAMAGE = {
    # what is damaged -> (how, blocks the rerun must render: 8 was never written)
    "an array's metadata": (lambda out: (out / "rgb" / "zarr.json").unlink(), [8]),
    "the group's metadata": (lambda out: (out / "zarr.json").unlink(), [8]),
    "an array's metadata cut short": (lambda out: (out / "depth_z" / "zarr.json").write_text('{"zarr_fo'), [8]),
    "a whole array": (lambda out: shutil.rmtree(out / "albedo"), [0, 4, 8]),
    "a camera array": (lambda out: (out / "camera_to_world" / "c" / "0" / "0" / "0").write_bytes(b"junk"), [8]),
    "the manifest lacks a channel": (lambda out: _edit_manifest(out, lambda m: m["channels"].pop("albedo")), [8]),
    "the manifest lacks frames": (lambda out: _edit_manifest(out, lambda m: m["frames"].pop()), [8]),
    "stray partial files": (lambda out: [(out / name).write_text("x") for name in
                                         ("rgb/zarr.json.ab12.partial", "uv/c/0/.0.1234.tmp", ".manifest.json.x.tmp")],
                            [8]),
    "a journalled chunk deleted": (lambda out: (out / "shading" / "c" / "1" / "0" / "0" / "0").unlink(), [4, 8]),
    "a journalled chunk cut short": (lambda out: _truncate(out / "object_id" / "c" / "0" / "0" / "0"), [0, 8]),
    "a journalled chunk from another block": (lambda out: shutil.copy(out / "rgb/c/1/0/0/0", out / "rgb/c/0/0/0/0"),
                                              [0, 8]),
    "a journal line with wrong checksums": (lambda out: _edit_journal(out, 4, "edges", "0" * 32), [4, 8]),
    "a journal line for frames that are not a block": (lambda out: _append(out, {"start": 8, "checksums": [{}]}), [8]),
    "the manifest lost, arrays and journal left": (lambda out: (out / "manifest.json").unlink(), [0, 4, 8]),
}


def _edit_manifest(out, edit):
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:50])


def _append(out, entry):
    with open(out / "progress.jsonl", "a") as journal:
        journal.write(json.dumps(entry) + "\n")


def _edit_journal(out, start, channel, value):
    lines = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    for line in lines:
        if line["start"] == start:
            line["checksums"][1][channel] = value
    (out / "progress.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_unfinished_dataset_repairs_on_rerun(clean, tmp_path, frob_cli, rendered, damage):
    out = tmp_path / "data"
    half_finished(clean, out)
    make, must_render = DAMAGE[damage]
    make(out)
    rendered.clear()
    rerun_and_check(frob_cli, out, clean)
    assert sorted(rendered) == must_render


@pytest.mark.parametrize("damage", ["a chunk deleted", "a chunk cut short", "an array's metadata",
                                    "a manifest key deleted"])
def test_a_damaged_finished_dataset_repairs_on_rerun(clean, tmp_path, frob_cli, rendered, damage):
    out = tmp_path / "data"
    shutil.copytree(clean.path, out)
    chunk = out / "normal_cam" / "c" / "2" / "0" / "0" / "0"
    {"a chunk deleted": chunk.unlink, "a chunk cut short": lambda: _truncate(chunk),
     "an array's metadata": (out / "rgb" / "zarr.json").unlink,
     "a manifest key deleted": lambda: _edit_manifest(out, lambda m: m.pop("n"))}[damage]()
    code, err = frob_cli("scenes", "verify", out)
    assert code != 0 and "generate` command" in err, err
    rendered.clear()
    rerun_and_check(frob_cli, out, clean)
    assert sorted(rendered) == ([8] if "chunk" in damage else [])  # the rest is read back, not rendered


def test_a_whole_dataset_is_read_not_rendered_on_rerun(clean, tmp_path, frob_cli, rendered):
    out = tmp_path / "data"
    shutil.copytree(clean.path, out)
    before = (out / "manifest.json").read_bytes()
    rerun_and_check(frob_cli, out, clean)
    assert rendered == [] and (out / "manifest.json").read_bytes() == before


def test_damage_that_cannot_be_rendered_again_says_how_to_start_over(clean, tmp_path, frob_cli):
    out = tmp_path / "data"
    shutil.copytree(clean.path, out)
    _edit_manifest(out, lambda m: m["frames"][9]["spec"]["objects"].pop())  # made by another version, say
    (out / "rgb" / "c" / "2" / "0" / "0" / "0").unlink()
    before = (out / "manifest.json").read_text()
    code, err = frob_cli(*ARGS, out)
    errors = [line for line in err.splitlines() if "error" in line]  # the rest is the progress bar
    assert code == 2 and len(errors) == 1 and errors[0] == err.splitlines()[-1], err
    assert "damaged frames (8-9)" in err and "delete" in err and "start over" in err
    assert (out / "manifest.json").read_text() == before  # nothing rewritten
