"""The frobnoloid index and the feature page on the ci study's workspace (AppTest): filters and sort against a
pandas reference, permalinks round-trip, a name given on the feature page persists and shows in the index, the live
intervention's numbers are the library's, and a path outside the workspace is one error line, never read."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from frobnoscope.app.web.feature_table import PAGE_SIZE, Filters, page, page_count, random_frobnoloid, select

from .conftest import assert_no_errors, open_page

RUN = "conv/features/decoder.4"


@pytest.fixture
def workspace(study_workspace, tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(study_workspace, root)
    return root


def index_table(root):
    from frobnoscope.app.web import data
    from frobnoscope.app.web.workspace import Workspace

    return data.feature_index(Workspace(root))


def test_filters_and_sorting_equal_a_pandas_reference(study_workspace):
    table = index_table(study_workspace)
    assert {"latent", "channel"} <= set(table["kind"])
    chosen = select(table, Filters(kinds=["latent"], unmatched=True, density="1-10%", sort="gt_r2", descending=False))
    reference = table[(table["kind"] == "latent") & ~table["matched"] & (table["density"] >= 0.01)
                      & (table["density"] < 0.1)].sort_values("gt_r2", kind="stable")
    assert list(chosen["key"]) == list(reference["key"])
    ranked = select(table, Filters())
    scores = ranked["frobnoloid_score"].to_numpy()
    finite = scores[np.isfinite(scores)]
    assert (np.diff(finite) <= 0).all() and np.isfinite(scores[:len(finite)]).all()  # NaN (unmeasured) last
    assert len(page(ranked, page_count(ranked) + 5)) == len(ranked) - (page_count(ranked) - 1) * PAGE_SIZE
    pick = random_frobnoloid(ranked, np.random.default_rng(0))
    assert pick["frobnoloid_score"] > 0


def test_the_index_page_lists_every_feature_and_keeps_its_filters_in_the_url(study_workspace):
    at = open_page(study_workspace, "index", kind="latent", unmatched="1", sort="gt_r2", desc="0")
    assert_no_errors(at)
    table = index_table(study_workspace)
    expected = select(table, Filters(kinds=["latent"], unmatched=True, sort="gt_r2", descending=False))
    shown = at.dataframe[0].value
    assert list(shown["feature"]) == list(expected["feature"][:PAGE_SIZE])
    assert at.multiselect(key="f_kind").value == ["latent"]
    assert at.query_params["unmatched"] == ["1"] or at.query_params["unmatched"] == "1"
    assert f"{len(expected):,} of {len(table):,} features" in at.caption[0].value


def test_a_feature_permalink_opens_that_feature_and_a_name_persists(workspace):
    at = open_page(workspace, "feature", run=RUN, kind="latent", id=3)
    assert_no_errors(at)
    assert at.title[0].value.startswith("latent 3 at decoder.4")
    assert at.number_input[0].value == 3
    at.text_input[0].input("sky seam")
    at.text_input[1].input("fires where the table meets the background")
    at.button[0].click().run()  # the form's save button
    assert_no_errors(at)
    assert at.title[0].value == "latent 3 at decoder.4: sky seam"  # at once, not only after a reload
    again = open_page(workspace, "feature", run=RUN, kind="latent", id=3)
    assert again.title[0].value == "latent 3 at decoder.4: sky seam"
    assert again.text_input[1].value == "fires where the table meets the background"
    table = index_table(workspace)
    assert table.set_index("key").loc[f"{RUN}#latent:3", "name"] == "sky seam"


def test_the_intervention_shows_the_library_numbers(workspace):
    from frobnoscope.app.web.workspace import Workspace
    from frobnoscope.interp.features.intervene import intervene, scale_edit
    from frobnoscope.interp.features.source import FeatureSource
    from frobnoscope.models import load_model
    from frobnoscope.scenes.store import DatasetStore

    at = open_page(workspace, "feature", run=RUN, kind="latent", id=3, iframe=2, scale=0.5)
    assert_no_errors(at)
    ws = Workspace(workspace)
    source = FeatureSource(workspace / RUN, relocate=ws.relocate)
    rgb = np.asarray(DatasetStore.open(ws.relocate(source.store.dataset_path)).channel("rgb")[2])
    result = intervene(load_model(source.store.model_spec), rgb, source.hook, scale_edit("latent", 3, 0.5, sae=source.sae))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["MSE vs optimum, clean"] == f"{result.clean_mse:.3g}"
    assert metrics["MSE vs optimum, edited"] == f"{result.edited_mse:.3g}"


def test_a_run_outside_the_workspace_is_one_error_line(workspace):
    at = open_page(workspace, "feature", run="../../../etc", kind="latent", id=0)
    assert not at.exception
    assert len(at.error) == 1 and "not a features run of this workspace" in at.error[0].value


def test_every_page_renders_without_an_exception(study_workspace):
    for page_name in ("overview", "index", "feature"):
        assert_no_errors(open_page(study_workspace, page_name))


def test_the_overview_draws_each_saes_convergence_and_the_second_seeds_stability(study_workspace):
    at = open_page(study_workspace, "overview")
    assert_no_errors(at)
    charts = [json.loads(element.proto.spec) for element in at.get("plotly_chart")]
    titles = [chart["layout"]["title"]["text"] for chart in charts]
    assert {"held-out FVU", "held-out L0", "dead fraction", "matched cosine vs the first seed"} <= set(titles)
    fvu = charts[titles.index("held-out FVU")]
    assert {trace["name"] for trace in fvu["data"]} == {"decoder.4.s0", "decoder.4.s1"}
    curve = pd.read_csv(study_workspace / "conv" / "saes" / "decoder.4.s0" / "curves.csv")
    (trace,) = [trace for trace in fvu["data"] if trace["name"] == "decoder.4.s0"]
    plotted = trace["y"] if isinstance(trace["y"], list) else _decode(trace["y"])  # plotly may send typed arrays
    np.testing.assert_allclose(plotted, curve["heldout_fvu"])  # the chart is the run's curve


def _decode(typed: dict) -> np.ndarray:
    """A plotly typed array ({"dtype": "f8", "bdata": base64}) as numbers."""
    import base64

    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype=np.dtype(typed["dtype"]))


def test_the_residual_map_is_the_activation_minus_what_ground_truth_predicts(study_workspace, monkeypatch):
    from frobnoscope.app.web import data, feature_views
    from frobnoscope.app.web.workspace import Workspace
    from frobnoscope.interp.features.evidence import GroundTruthFit
    from frobnoscope.interp.features.source import FeatureSource

    monkeypatch.setenv(data.WORKSPACE_ENV, str(study_workspace))
    source = FeatureSource(study_workspace / RUN, relocate=Workspace(study_workspace).relocate)
    frame = int(source.frames[1])
    activation, prediction = feature_views.residual_maps(source, "latent", 3, frame)
    np.testing.assert_allclose(activation, source.frame_map("latent", 3, frame), rtol=1e-5, atol=1e-6)
    values = source.activations("latent")[:, 3]
    predicted = GroundTruthFit(source.truth).predict(values)
    on_frame = source.index[:, 0] == frame
    np.testing.assert_allclose(prediction[source.index[on_frame, 1], source.index[on_frame, 2]], predicted[on_frame])


def test_a_latent_the_study_attributed_shows_its_maps_and_others_do_not(study_workspace):
    attributed = sorted(p.name for p in (study_workspace / "conv" / "attribution" / "decoder.4").iterdir())
    latent = int(attributed[0].removeprefix("latent"))
    shown = open_page(study_workspace, "feature", run=RUN, kind="latent", id=latent)
    assert_no_errors(shown)
    assert "Attribution" in [h.value for h in shown.header]
    other = next(i for i in range(32) if f"latent{i}" not in attributed)
    assert "Attribution" not in [h.value for h in open_page(study_workspace, "feature", run=RUN, kind="latent",
                                                                id=other).header]
