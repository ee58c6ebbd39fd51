"""The NeRF page on the ci study's orbit NeRF: its view lives in the URL, the ray profile and termination maps agree
with the library's renderer and judge, the ray attribution is one ray of a `frob attribute` run, and a workspace
without the NeRF's evaluation says how to make it."""

import shutil

import numpy as np
import pandas as pd
import pytest

from frobnoscope.interp.attribution.nerf_job import NerfAttributeWorker
from frobnoscope.interp.attribution.nerf_ray import attribute_ray, surface_share
from frobnoscope.interp.attribution.run_format import along_ray
from frobnoscope.interp.evaluation.nerf_ray import depth_difference, ray_profile, termination_summary
from frobnoscope.models.nerf.adapter import load_nerf
from frobnoscope.scenes.spec import parse_spec
from frobnoscope.scenes.store import DatasetStore

from .conftest import assert_no_errors, open_page

VIEW = 4  # the ci orbit's val frame (16 x 16)


@pytest.fixture(scope="module")
def nerf(study_workspace):
    """(adapter, dataset, camera of VIEW, the adapter's render of VIEW)."""
    adapter = load_nerf(study_workspace / "models" / "orbit")
    store = DatasetStore.open(study_workspace / "data" / "orbit")
    camera = parse_spec(store.manifest["frames"][VIEW]["spec"]).camera
    return adapter, store, camera, adapter.render_camera(camera)


def metric(at, start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(start))


def test_page_shows_views_depths_and_a_ray(study_workspace):
    at = open_page(study_workspace, "nerf")
    assert_no_errors(at)
    assert [s.label for s in at.selectbox][:2] == ["NeRF", "View"]
    assert at.selectbox(key="nerf.nerf").options == ["orbit"]
    assert at.selectbox(key="nerf.view").value == VIEW  # held-out views first
    assert [n.label for n in at.number_input] == ["Pixel row", "Pixel col"]
    captions = [c for element in at.image for c in element.captions]
    assert captions[0] == f"true view {VIEW} (val)" and captions[1].startswith("rendered (PSNR")
    assert "true depth_ray (same scale)" in captions
    assert list(at.dataframe[0].value["view"])[:1] == [f"val {VIEW}"]  # eval/views.csv


def test_url_parameters_round_trip(study_workspace):
    at = open_page(study_workspace, "nerf", view=0, row=3, col=11, attribution="saliency", target="error")
    assert_no_errors(at)
    assert at.selectbox(key="nerf.view").value == 0
    assert (at.number_input(key="nerf.row").value, at.number_input(key="nerf.col").value) == (3, 11)
    assert at.selectbox(key="nerf.attribution").value == "saliency"
    assert at.selectbox(key="nerf.target").value == "error"
    at.number_input(key="nerf.row").set_value(5).run()
    at.selectbox(key="nerf.view").set_value(8).run()
    assert_no_errors(at)
    assert {name: at.query_params[name] for name in ("view", "row", "col", "attribution", "target")} == {
        "view": "8", "row": "5", "col": "11", "attribution": "saliency", "target": "error"}
    assert at.subheader[0].value == "The ray of pixel row 5, col 11"


def test_ray_profile_composites_to_the_render_at_every_pixel(nerf):
    adapter, _, camera, rendered = nerf
    for row in range(camera.height):
        for col in range(camera.width):
            profile = ray_profile(adapter, camera, row, col)
            assert (profile.weights >= 0).all() and len(profile.t) == adapter.samples_per_ray
            assert profile.opacity == pytest.approx(rendered["accumulation"][row, col], abs=1e-5)
            if rendered["accumulation"][row, col] > 1e-3:
                assert profile.termination == pytest.approx(rendered["depth"][row, col], abs=1e-4)


@pytest.mark.parametrize("row, col", [(9, 5), (4, 12)])
def test_page_ray_metrics_are_the_renders(study_workspace, nerf, row, col):
    _, store, _, rendered = nerf
    at = open_page(study_workspace, "nerf", view=VIEW, row=row, col=col)
    assert_no_errors(at)
    assert float(metric(at, "opacity (sum")) == pytest.approx(rendered["accumulation"][row, col], abs=1e-4)
    assert float(metric(at, "termination depth")) == pytest.approx(rendered["depth"][row, col], abs=1e-4)
    surface = np.asarray(store.channel("depth_ray")[VIEW])[row, col]
    assert metric(at, "true depth_ray") == (f"{surface:.4f}" if np.isfinite(surface) else "no surface")


def test_termination_summary_is_the_judges(study_workspace, nerf):
    _, store, _, rendered = nerf
    depth_ray = np.asarray(store.channel("depth_ray")[VIEW])
    difference = depth_difference(rendered["depth"], depth_ray)
    hit = np.isfinite(depth_ray) & np.isfinite(rendered["depth"])
    np.testing.assert_allclose(difference[hit], (rendered["depth"] - depth_ray)[hit])
    assert np.isnan(difference[~hit]).all()
    judged = pd.read_csv(study_workspace / "orbit" / "eval" / "views.csv").set_index("view").loc[f"val {VIEW}"]
    summary = termination_summary(rendered["depth"], rendered["accumulation"], depth_ray)
    assert summary["median_abs_error"] == pytest.approx(judged["depth_median_abs_error"], rel=1e-5)
    assert summary["hit_opacity"] == pytest.approx(judged["hit_accumulation_mean"], rel=1e-5)
    assert summary["miss_opacity"] == pytest.approx(judged["miss_accumulation_mean"], rel=1e-5)


def test_ray_attribution_is_one_ray_of_an_attribution_run(study_workspace, nerf):
    adapter, store, camera, _ = nerf
    row, col = 9, 5
    config = {"model": f"nerf:{study_workspace / 'models' / 'orbit'}", "target": f"output:{col},{row}",
              "methods": ["saliency", "integrated_gradients"], "batch_size": 1}
    worker = NerfAttributeWorker(str(store.path), config, 1)
    try:
        block = worker.block(VIEW, VIEW + 1)
    finally:
        worker.close()
    for method in config["methods"]:
        mine = attribute_ray(adapter, camera, row, col, method, "output", frame=VIEW)
        np.testing.assert_allclose(mine.t, block["sample_t"][0, row, col], rtol=1e-6)
        np.testing.assert_allclose(mine.values, block[along_ray(method)][0, row, col], rtol=1e-4, atol=1e-9)
    at = open_page(study_workspace, "nerf", view=VIEW, row=row, col=col, attribution="saliency")
    assert_no_errors(at)
    expected = attribute_ray(adapter, camera, row, col, "saliency", "output", frame=VIEW)
    share = surface_share(expected, float(np.asarray(store.channel("depth_ray")[VIEW])[row, col]))
    assert float(metric(at, "|a| on the surface")) == pytest.approx(share["energy_abs"], abs=5e-4)
    assert float(metric(at, "sum of a")) == pytest.approx(expected.values.sum(), rel=1e-3)


def test_workspace_without_the_nerf_eval_says_how_to_make_it(study_workspace, tmp_path):
    copy = tmp_path / "ws"
    shutil.copytree(study_workspace, copy, ignore=shutil.ignore_patterns("conv"))
    shutil.rmtree(copy / "orbit" / "eval")
    at = open_page(copy, "nerf")
    assert_no_errors(at)
    assert any("evaluation of orbit" in info.value for info in at.info)
    assert any(code.value.startswith("frob eval-nerf") for code in at.code)
    assert metric(at, "opacity (sum")  # the renders need only the trained NeRF
    shutil.rmtree(copy / "models" / "orbit")
    at = open_page(copy, "nerf")
    assert_no_errors(at)
    assert any("A trained NeRF" in info.value for info in at.info)
