"""The Model vs optimum page on the ci workspace: one frame, error by factor, worst frames, a missing evaluation."""

import shutil

import numpy as np
import pandas as pd
import zarr

from frobnoscope.app.web import images
from frobnoscope.app.web.views import model as model_page
from frobnoscope.scenes.store import DatasetStore

from .conftest import assert_no_errors, open_page


def widget(elements, label):
    return next(w for w in elements if w.label == label)


def captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions] + [c.value for c in at.caption]


def test_the_page_shows_a_frame_beside_its_optimum(study_workspace):
    at = open_page(study_workspace, "model", model="conv", frame=2)
    assert_no_errors(at)
    frames = pd.read_csv(study_workspace / "conv" / "eval" / "frames.csv").set_index("index")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["frames"] == str(len(frames))
    assert metrics["mean PSNR (dB)"] == f"{frames['psnr'].mean():.2f}"
    shown = captions(at)
    assert {"input", "model output", "optimal output (the input: an autoencoder's optimum)"} <= set(shown)
    error = zarr.open_group(str(study_workspace / "conv" / "eval" / "maps"), mode="r")["squared_error"][2]
    assert any(c.startswith("squared error") and f"max {float(error.max()):.3g}" in c for c in shown)
    assert any(c.startswith(f"frame 2: PSNR {frames.loc[2, 'psnr']:.2f} dB") for c in shown)
    assert len(at.get("plotly_chart")) == 7 + 1  # one chart per breakdown factor, PSNR against a frame factor


def test_the_frame_pictures_are_that_frames_input_output_and_error(study_workspace):
    store = DatasetStore.open(study_workspace / "data" / "tabletop")
    maps = zarr.open_group(str(study_workspace / "conv" / "eval" / "maps"), mode="r")
    pictures = dict(model_page.frame_pictures(store, maps, 5))
    assert list(pictures)[:2] == ["input", "model output"]
    np.testing.assert_array_equal(pictures["input"], images.render(store.channel("rgb")[5]))
    np.testing.assert_array_equal(pictures["model output"], images.render(maps["output"][5]))
    np.testing.assert_array_equal(pictures["optimal output (the input: an autoencoder's optimum)"], pictures["input"])
    error = maps["squared_error"][5]
    shown = next(picture for caption, picture in pictures.items() if caption.startswith("squared error"))
    np.testing.assert_array_equal(shown[error.argmax() // error.shape[1], error.argmax() % error.shape[1]],
                                  images.colourise(np.array([[1.0]]), "magma", low=0.0, high=1.0)[0, 0])


def test_the_frame_round_trips_through_the_url(study_workspace):
    at = open_page(study_workspace, "model", model="conv", frame=4, metric="mse")
    assert_no_errors(at)
    assert widget(at.number_input, "frame").value == 4
    assert widget(at.selectbox, "metric").value == "mse"
    widget(at.number_input, "frame").set_value(6).run()
    assert at.query_params["frame"] in ("6", ["6"])
    assert any(c.startswith("frame 6: PSNR") for c in captions(at))


def test_the_worst_frames_are_the_lowest_psnr_rows_with_links(study_workspace):
    at = open_page(study_workspace, "model", model="conv")
    assert_no_errors(at)
    worst = at.dataframe[-1].value
    frames = pd.read_csv(study_workspace / "conv" / "eval" / "frames.csv")
    expected = frames.nsmallest(model_page.WORST, "psnr")
    assert list(worst["index"]) == list(expected["index"])
    assert list(worst["psnr"]) == list(expected["psnr"])
    k = int(expected["index"].iloc[0])
    assert worst["open"].iloc[0] == f"./model?model=conv&frame={k}"
    assert worst["scene"].iloc[0] == f"./scenes?dataset=tabletop&frame={k}"


def test_a_breakdown_chart_plots_the_csv(study_workspace):
    breakdown = pd.read_csv(study_workspace / "conv" / "eval" / "breakdown.csv")
    edges = breakdown[breakdown["factor"] == "edges"]
    figure = model_page.breakdown_figure(edges, "mse_vs_overall", 1.0, "edges")
    assert list(figure.data[0].x) == list(edges["bin"])
    assert list(figure.data[0].y) == list(edges["mse_vs_overall"])


def test_a_missing_evaluation_says_how_to_make_it(study_workspace, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(study_workspace, workspace)
    shutil.rmtree(workspace / "conv" / "eval")
    at = open_page(workspace, "model", model="conv")
    assert_no_errors(at)
    assert "The evaluation of conv (conv/eval) is not in this workspace yet" in at.info[0].value
    assert at.code[0].value == f"frob study run ci --out {workspace.resolve()}"
