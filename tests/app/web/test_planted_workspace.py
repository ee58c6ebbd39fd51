"""A planted-feature workspace: the ci study's capture with raw channels overwritten by planted features, labelled
by `frob features label`, then read through the app's index. A channel that copies depth_z is matched to it with
gt_r2 near 1 and is not a frobnoloid; an equally important channel that copies noise ranks first; every example in
the index points at the frame, row and column where the feature really peaks."""

import shutil

import numpy as np
import pandas as pd
import pytest
import zarr

from frobnoscope.app.web.feature_table import Filters, select
from frobnoscope.app.web.workspace import Workspace
from frobnoscope.interp.features.examples import read_examples, write_examples
from frobnoscope.interp.features.run import LabelConfig, label_run
from frobnoscope.interp.features.source import FeatureSource

HOOK = "decoder.4"
DEPTH, NOISE, SPIKE = 0, 1, 2
SPIKE_AT = (5, 3, 7)  # frame, row, col


@pytest.fixture(scope="module")
def planted(study_workspace, tmp_path_factory):
    root = tmp_path_factory.mktemp("planted") / "ws"
    shutil.copytree(study_workspace, root)
    capture = root / "conv" / "capture" / "trained"
    group = zarr.open_group(str(capture / "activations.zarr"), mode="r+")
    acts = np.asarray(group[HOOK]["acts"][:], dtype=np.float32)
    depth = np.asarray(group[HOOK]["gt"]["depth_z"][:], dtype=np.float32)
    acts[..., DEPTH] = np.where(np.isfinite(depth), depth, np.nanmax(depth) + 1)
    acts[..., NOISE] = np.random.default_rng(0).standard_normal(acts.shape[:3])
    acts[..., SPIKE] = 0
    acts[SPIKE_AT[0], SPIKE_AT[1], SPIKE_AT[2], SPIKE] = 5.0
    group[HOOK]["acts"][:] = acts.astype(group[HOOK]["acts"].dtype)
    out = root / "conv" / "features" / "planted"
    label_run(capture, LabelConfig(hook=HOOK, max_tokens=4096, importance_frames=2, candidates=2, figures=0), out)
    table = pd.read_csv(out / "features.csv")
    equal = float(table["importance"].max()) + 1.0  # plant equal importance: only ground truth can tell them apart
    for channel in (DEPTH, NOISE):
        row = table["feature"] == channel
        gt_r2 = float(table.loc[row, "gt_r2"].iloc[0])
        table.loc[row, "importance"] = equal
        table.loc[row, "frobnoloid_score"] = equal * (1 - min(max(gt_r2, 0.0), 1.0))
    table.to_csv(out / "features.csv", index=False)
    write_examples(out, FeatureSource(out, relocate=Workspace(root).relocate))
    return root, out, acts


def test_a_channel_copying_depth_is_matched_to_it_and_is_no_frobnoloid(planted):
    _, out, _ = planted
    table = pd.read_csv(out / "features.csv").set_index("feature")
    assert table.loc[DEPTH, "best_continuous"] in ("depth_z", "depth_ray")
    assert table.loc[DEPTH, "matched"]
    assert table.loc[DEPTH, "gt_r2"] > 0.9
    assert not table.loc[NOISE, "matched"]
    assert table.loc[NOISE, "gt_r2"] < 0.1


def test_the_important_noise_channel_ranks_first_in_the_index(planted, monkeypatch):
    from frobnoscope.app.web import data

    root, _, _ = planted
    monkeypatch.setenv(data.WORKSPACE_ENV, str(root))
    index = data.feature_index(Workspace(root))
    ranked = select(index[index["hook"] == HOOK], Filters(kinds=["channel"]))
    planted_run = ranked[ranked["run"] == "conv/features/planted"]
    assert int(planted_run.iloc[0]["feature"]) == NOISE
    unexplained = select(planted_run, Filters(unmatched=True))
    assert DEPTH not in set(unexplained["feature"].astype(int))


def test_every_example_points_at_the_frame_and_cell_where_the_feature_peaks(planted):
    _, out, acts = planted
    arrays = read_examples(out)
    frame, row, col = (arrays[f"channel.top_{axis}"] for axis in ("frame", "row", "col"))
    assert (frame[SPIKE, 0], row[SPIKE, 0], col[SPIKE, 0]) == SPIKE_AT
    assert (frame[SPIKE, 1:] == -1).all()  # it fires nowhere else
    values = arrays["channel.top_value"]
    stored = acts.astype(np.float16).astype(np.float32) if acts.dtype != np.float32 else acts
    for feature in (DEPTH, NOISE):
        for k in range(frame.shape[1]):
            if frame[feature, k] >= 0:
                peak = stored[frame[feature, k], :, :, feature]
                assert values[feature, k] == pytest.approx(float(peak.max()), rel=1e-3)
                assert peak[row[feature, k], col[feature, k]] == pytest.approx(float(peak.max()), rel=1e-3)
    per_frame_max = acts[..., NOISE].reshape(len(acts), -1).max(1)
    assert list(frame[NOISE][frame[NOISE] >= 0]) == list(np.argsort(-per_frame_max, kind="stable")[:frame.shape[1]])
