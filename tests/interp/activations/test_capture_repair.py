"""A capture run damaged by anything before the writer lock repairs itself: rerunning the `frob capture` command that
made it redoes exactly the damaged blocks (or starts over when an array itself is gone) and ends with the arrays a
clean run writes. Without the check a rerun crashed (`KeyError` on a missing array) or, worse, finished with NaN
activations where a journalled chunk had been deleted (zarr reads a missing chunk as its fill value)."""

import json
import shutil

import numpy as np
import pytest
import zarr

from frobnoscope.interp.activations import capture as capture_module
from frobnoscope.interp.activations.capture import CaptureConfig, capture
from frobnoscope.interp.activations.store import ZARR, ActivationStore


@pytest.fixture(scope="module")
def clean(interp_dataset, tiny_model_spec, tiny_hooks, tmp_path_factory) -> ActivationStore:
    """16 frames in blocks of 4: blocks start at 0, 4, 8, 12."""
    out = tmp_path_factory.mktemp("capture") / "run"
    capture(interp_dataset.path, out, CaptureConfig(model=tiny_model_spec, hooks=tiny_hooks, batch_size=4))
    return ActivationStore.open(out)


@pytest.fixture
def redone(monkeypatch) -> list[int]:
    starts = []
    block = capture_module.CaptureWorker.block

    def recording(self, start, stop):
        starts.append(start)
        return block(self, start, stop)

    monkeypatch.setattr(capture_module.CaptureWorker, "block", recording)
    return starts


def half_finished(clean, out):
    """A copy of `clean` as a capture killed after blocks 0 and 4."""
    shutil.copytree(clean.path, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "progress.jsonl").write_text('{"start": 0, "stop": 4}\n{"start": 4, "stop": 8}\n')
    for chunk in [*(out / ZARR).glob("*/**/c/2/**/*"), *(out / ZARR).glob("*/**/c/3/**/*")]:
        if chunk.is_file() and "factors" not in chunk.parts:
            chunk.unlink()


def chunk(out, array, index):
    path = out / ZARR / array / "c" / str(index)
    return path if path.is_file() else next(p for p in path.rglob("*") if p.is_file())


DAMAGE = {  # what is damaged -> (how, blocks the rerun must redo: 8 and 12 were never written)
    "the group wiped by a second job, the journal kept": (
        lambda out: zarr.open_group(str(out / ZARR), mode="w"), [0, 4, 8, 12]),
    "an array's metadata": (lambda out: (out / ZARR / "encoder.4" / "acts" / "zarr.json").unlink(), [0, 4, 8, 12]),
    "a factor's chunk": (lambda out: chunk(out, "factors/n_objects", 0).unlink(), [0, 4, 8, 12]),
    "a journalled chunk deleted": (lambda out: chunk(out, "encoder.14/gt/depth_z", 1).unlink(), [4, 8, 12]),
    "a journalled chunk cut short": (lambda out: chunk(out, "encoder.4/acts", 0).write_bytes(b"\x02\x01"), [0, 8, 12]),
    "stray partial files": (lambda out: [(out / name).write_text("x") for name in
                                         (f"{ZARR}/encoder.4/acts/zarr.json.ab.partial", ".manifest.json.x.tmp")],
                            [8, 12]),
}


def rerun_and_compare(frob_cli, data, model, hooks, out, clean):
    code, err = frob_cli("capture", data, "--model", model, "--hooks", hooks, "--batch-size", "4", "--out", out)
    assert code == 0, err
    repaired = ActivationStore.open(out)
    for hook in clean.hooks():
        np.testing.assert_array_equal(repaired.acts(hook)[:], clean.acts(hook)[:])
        for name in clean.gt_channels():
            np.testing.assert_array_equal(repaired.gt(hook, name)[:], clean.gt(hook, name)[:])
    assert repaired.factors().keys() == clean.factors().keys()
    for name, values in clean.factors().items():
        np.testing.assert_array_equal(repaired.factors()[name], values)
    assert not (out / "progress.jsonl").exists()
    assert not [p for pattern in ("*.partial", ".*.tmp") for p in out.rglob(pattern)]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_unfinished_capture_repairs_on_rerun(clean, interp_dataset, tiny_model_spec, tiny_hooks, tmp_path,
                                                       frob_cli, redone, damage):
    out = tmp_path / "run"
    half_finished(clean, out)
    make, must_redo = DAMAGE[damage]
    make(out)
    rerun_and_compare(frob_cli, interp_dataset.path, tiny_model_spec, tiny_hooks, out, clean)
    assert sorted(redone) == must_redo


def test_a_damaged_finished_capture_repairs_on_rerun(clean, interp_dataset, tiny_model_spec, tiny_hooks, tmp_path,
                                                     frob_cli, redone):
    out = tmp_path / "run"
    shutil.copytree(clean.path, out)
    chunk(out, "encoder.14/acts", 3).unlink()
    rerun_and_compare(frob_cli, interp_dataset.path, tiny_model_spec, tiny_hooks, out, clean)
    assert redone == [12]
