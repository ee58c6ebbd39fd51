"""The attribution page on the ci study's workspace: its view lives in the URL, the outlined cause is the mask
scoring uses, the scores shown are the library's, and a workspace without attribution runs says how to make them."""

import shutil

import numpy as np
import pandas as pd
import pytest

from frobnoscope.app.web import images, state
from frobnoscope.app.web.views import attribution as page
from frobnoscope.interp.attribution.image_scores import image_causes, score_image_run
from frobnoscope.interp.attribution.run_format import open_maps, read_run_manifest
from frobnoscope.interp.attribution.scores import score_run
from frobnoscope.scenes.store import DatasetStore

from .conftest import assert_no_errors, open_page

RUN = "conv/attribution/decoder.4/latent15"


def run_parts(workspace, run=RUN):
    manifest = read_run_manifest(workspace / run)
    return manifest, DatasetStore.open(workspace / "data" / "tabletop")


def captions(at) -> list[str]:
    return [caption for element in at.image for caption in element.captions]


def metric(at, start: str) -> float:
    return float(next(m.value for m in at.metric if m.label.startswith(start)))


def test_page_shows_a_run_its_maps_scores_and_feature_link(study_workspace):
    at = open_page(study_workspace, "attribution", run=RUN)
    assert_no_errors(at)
    assert [s.label for s in at.selectbox] == ["Run", "Method", "Cause (ground truth)"]
    assert at.selectbox(key="attribution.run").options == ["conv/attribution/decoder.4/latent11", RUN]
    assert captions(at)[0] == "frame 0, foreground outlined" and "saliency map" in captions(at)[1]
    link = state.href("feature", run="conv/features/decoder.4", kind="latent", id=15)
    assert any(f"({link})" in m.value for m in at.markdown)
    assert list(at.dataframe[0].value["method"]) == ["saliency", "random"]


def test_url_parameters_round_trip(study_workspace):
    at = open_page(study_workspace, "attribution", run=RUN, method="saliency", frame=1, cause="background")
    assert_no_errors(at)
    assert at.selectbox(key="attribution.run").value == RUN
    assert at.selectbox(key="attribution.cause").value == "background"
    assert at.number_input(key="attribution.frame").value == 1
    at.number_input(key="attribution.frame").set_value(0).run()
    at.selectbox(key="attribution.cause").set_value("object=1").run()
    assert_no_errors(at)
    assert {name: at.query_params[name] for name in ("run", "method", "frame", "cause")} == {
        "run": RUN, "method": "saliency", "frame": "0", "cause": "object=1"}
    assert captions(at)[0] == "frame 0, object=1 outlined"


@pytest.mark.parametrize("cause", ["foreground", "background", "object=2"])
def test_outlined_mask_is_the_mask_scoring_uses(study_workspace, cause):
    manifest, store = run_parts(study_workspace)
    region = image_causes(manifest["target"], [cause])[0]
    n, height, width = manifest["frames"], manifest["height"], manifest["width"]
    truth = region.mask({c: np.asarray(store.channel(c)[:n]) for c in region.channels()}, (n, height, width))
    maps = np.asarray(open_maps(study_workspace / RUN)["saliency"][:n])
    for frame in range(n):
        np.testing.assert_array_equal(page.cause_mask(store, cause, frame), truth[frame])
        picture = images.render(np.asarray(store.channel("rgb")[frame]))
        shown = page.outlined(picture, maps[frame], truth[frame], 4, "", "saliency")[0][0]
        np.testing.assert_array_equal(shown, images.outline(images.enlarge(picture, 4), images.enlarge(truth[frame], 4)))
        at = open_page(study_workspace, "attribution", run=RUN, frame=frame, cause=cause)
        assert metric(at, f"{cause} area, this frame") == pytest.approx(truth[frame].mean(), abs=5e-4)


def test_scores_shown_are_the_library_scores(study_workspace):
    manifest, _ = run_parts(study_workspace)
    maps = open_maps(study_workspace / RUN)
    for cause in ("foreground", "background"):  # foreground: from scores.csv; background: computed by the page
        at = open_page(study_workspace, "attribution", run=RUN, cause=cause)
        assert_no_errors(at)
        shown = at.dataframe[0].value
        expected = pd.DataFrame(score_image_run(manifest, maps, [cause], None, 0, 64))
        assert list(shown["method"]) == list(expected["method"])
        for column in ("frames", "energy_abs", "energy_pos", "pointing", "area", "tolerance"):
            np.testing.assert_allclose(shown[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-9)
        random = expected.loc[expected["method"] == "random", "energy_abs"].iloc[0]
        np.testing.assert_allclose(shown["vs_random"], expected["energy_abs"] / random)


def test_stored_scores_are_those_of_the_chosen_cause(study_workspace, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(study_workspace, copy, ignore=shutil.ignore_patterns("orbit", "models"))
    rows = pd.DataFrame(score_run(copy / RUN, ["background", "object=1"]))  # scores.csv: two causes, seed 0
    for cause in ("background", "object=1"):
        at = open_page(copy, "attribution", run=RUN, cause=cause)
        assert_no_errors(at)
        assert at.subheader[0].value.endswith("(scores.csv)")
        expected = rows[rows["cause"] == cause]
        np.testing.assert_allclose(at.dataframe[0].value["energy_abs"], expected["energy_abs"], rtol=1e-9)
        np.testing.assert_allclose(at.dataframe[0].value["area"], expected["area"], rtol=1e-9)


def test_workspace_without_attribution_says_how_to_make_it(study_workspace, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(study_workspace, copy)
    shutil.rmtree(copy / "conv" / "attribution")
    at = open_page(copy, "attribution")
    assert_no_errors(at)
    assert any("not in this workspace yet" in info.value for info in at.info)
    assert any(code.value.startswith("frob study run ci --out") for code in at.code)
