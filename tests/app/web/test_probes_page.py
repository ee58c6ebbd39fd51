"""The Probes page on the ci workspace: heatmaps, the chosen cell in the URL, predicted maps recomputed by hand from
weights.npz and the captured activations, frame-level probes, a missing probes stage."""

import shutil

import numpy as np
import pandas as pd
import zarr

from frobnoscope.app.web.views import probes

from .conftest import assert_no_errors, open_page


def widget(elements, label):
    return next(w for w in elements if w.label == label)


def by_hand(workspace, hook: str, factor: str, k: int):
    """(activations of frame k at `hook`) @ weights + intercept, read straight from the files."""
    arrays = np.load(workspace / "conv" / "probes" / "weights.npz")
    acts = zarr.open_group(str(workspace / "conv" / "capture" / "trained" / "activations.zarr"), mode="r")[hook]
    x = np.asarray(acts["acts"][k], dtype=np.float64)
    out = x.reshape(-1, x.shape[-1]) @ arrays[f"{hook}|{factor}|weights"] + arrays[f"{hook}|{factor}|intercept"]
    return x, out, arrays, acts


def test_the_page_shows_trained_and_random_heatmaps_and_a_probe(study_workspace):
    at = open_page(study_workspace, "probes", model="conv")
    assert_no_errors(at)
    assert len(at.get("plotly_chart")) == 2
    assert widget(at.selectbox, "hook").options == ["encoder.3", "decoder.4"]
    assert widget(at.selectbox, "held-out frame").options == ["4", "9"]
    assert at.metric[0].label == "R² on this frame"


def test_the_heatmap_grid_is_the_csv(study_workspace):
    table = pd.read_csv(study_workspace / "conv" / "probes" / "probes.csv")
    grid = probes.score_grid(table, "control_selectivity")
    assert list(grid.index) == ["encoder.3", "decoder.4"]
    rows = table[(table["hook"] == "decoder.4") & (table["factor"] == "object_id")]
    assert list(rows["metric"]) == ["accuracy", "balanced_accuracy", "macro_f1"]  # the grid shows balanced accuracy
    row = rows[rows["metric"] == "balanced_accuracy"].iloc[0]
    assert grid.loc["decoder.4", "object_id"] == row["control_selectivity"]


def test_the_cell_round_trips_through_the_url(study_workspace):
    at = open_page(study_workspace, "probes", model="conv", hook="decoder.4", factor="depth_z", frame=9)
    assert_no_errors(at)
    assert widget(at.selectbox, "hook").value == "decoder.4"
    assert widget(at.selectbox, "factor").value == "depth_z"
    assert widget(at.selectbox, "held-out frame").value == 9
    assert list(at.dataframe[-1].value["metric"]) == ["r2"]
    widget(at.selectbox, "factor").set_value("albedo.g").run()
    assert at.query_params["factor"] in ("albedo.g", ["albedo.g"])
    assert at.query_params["hook"] in ("decoder.4", ["decoder.4"])


def test_the_predicted_map_is_the_probe_applied_by_hand(study_workspace):
    hook, factor, k = "decoder.4", "normal_cam.z", 9
    x, out, _, acts = by_hand(study_workspace, hook, factor, k)
    predicted = out[:, 0].reshape(x.shape[:2])
    truth = np.asarray(acts["gt"]["normal_cam"][k])[..., 2]
    keep = np.isfinite(truth)
    r2 = 1 - ((truth[keep] - predicted[keep]) ** 2).sum() / ((truth[keep] - truth[keep].mean()) ** 2).sum()
    at = open_page(study_workspace, "probes", model="conv", hook=hook, factor=factor, frame=k)
    assert_no_errors(at)
    assert at.metric[0].value == f"{r2:.3f}"
    from frobnoscope.interp.activations.store import ActivationStore
    from frobnoscope.interp.probes import predict
    from frobnoscope.interp.probes.run import load_fitted

    store = ActivationStore.open(study_workspace / "conv" / "capture" / "trained")
    _, probe = load_fitted(study_workspace / "conv" / "probes", factor, hook)
    np.testing.assert_allclose(predict.predict_grid(store.frame_activations(hook, k), probe), predicted, rtol=1e-10)
    np.testing.assert_array_equal(predict.truth_grid(store, hook, factor, k), truth)


def test_a_categorical_map_is_the_class_of_the_largest_logit(study_workspace):
    hook, factor, k = "encoder.3", "shape_id", 4
    x, logits, arrays, acts = by_hand(study_workspace, hook, factor, k)
    labels = arrays[f"{hook}|{factor}|classes"][logits.argmax(axis=1)].reshape(x.shape[:2])
    truth = np.asarray(acts["gt"]["shape_id"][k])
    at = open_page(study_workspace, "probes", model="conv", hook=hook, factor=factor, frame=k)
    assert_no_errors(at)
    assert at.metric[0].label == "accuracy on this frame"
    assert at.metric[0].value == f"{(labels == truth).mean():.3f}"


def test_a_frame_level_probe_says_it_has_no_map_and_lists_predictions(study_workspace):
    hook, factor = "encoder.3", "light_intensity"
    at = open_page(study_workspace, "probes", model="conv", hook=hook, factor=factor)
    assert_no_errors(at)
    assert "has no map" in at.info[0].value
    table = at.dataframe[-1].value
    assert list(table["frame"]) == [4, 9]
    for k, predicted in zip(table["frame"], table["predicted"]):
        x, _, arrays, _ = by_hand(study_workspace, hook, factor, k)
        mean = x.reshape(-1, x.shape[-1]).mean(axis=0)
        expected = (mean @ arrays[f"{hook}|{factor}|weights"] + arrays[f"{hook}|{factor}|intercept"])[0]
        assert np.isclose(predicted, expected, rtol=1e-9)


def test_missing_probes_say_how_to_make_them(study_workspace, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(study_workspace, workspace)
    shutil.rmtree(workspace / "conv" / "probes")
    at = open_page(workspace, "probes", model="conv")
    assert_no_errors(at)
    assert "The probe run of conv (conv/probes) is not in this workspace yet" in at.info[0].value
    assert at.code[0].value == f"frob study run ci --out {workspace.resolve()}"
