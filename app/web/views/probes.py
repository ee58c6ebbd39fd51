"""Probes: how well a linear read-out of each hook point recovers each ground-truth factor (`frob probe`).

The heatmap shows, per hook (rows, in execution order) and factor (columns), the primary metric of probes.csv (held-out
R^2, or balanced accuracy for categorical factors): its score, or its selectivity = score - shuffled-target score
(R^2 below 0 counted as 0), for the trained model beside the same model with random weights (control_score,
control_selectivity). Choosing a cell (hook, factor) shows that probe's numbers and its prediction on a held-out
frame (the probes' test split) next to the truth: a pixel-level probe's map, prediction = activations @ weights +
intercept per cell (a categorical one: the class of the largest logit), truth = the ground truth pooled onto the
hook's grid (`interp.probes.predict`); a frame-level probe predicts one number per frame (a table, not a map).
URL: model, show, hook, factor, frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from frobnoscope.app.web import data, images, state
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import model_stage, url_select
from frobnoscope.app.web.workspace import OutsideWorkspace
from frobnoscope.engine.runs import load_manifest
from frobnoscope.interp.activations.store import ActivationStore
from frobnoscope.interp.probes import predict
from frobnoscope.interp.probes.run import PRIMARY_METRICS, PROBES_FORMAT, load_fitted

SHOWN = {"selectivity": "selectivity (score - shuffled)", "score": "score (held-out R² or balanced accuracy)"}
CONTROL = {"selectivity": "control_selectivity", "score": "control_score"}


def score_grid(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Hooks (rows, in the table's order) x factors (columns): `column` of each probe's primary-metric row."""
    primary = table[table["metric"].isin(PRIMARY_METRICS)]
    grid = primary.pivot(index="hook", columns="factor", values=column)
    return grid.loc[list(dict.fromkeys(primary["hook"])), list(dict.fromkeys(primary["factor"]))]


def heatmap(grid: pd.DataFrame, title: str):
    figure = px.imshow(grid, zmin=-0.2, zmax=1, color_continuous_scale="viridis", aspect="auto", title=title,
                       height=260 + 36 * len(grid))
    figure.update_xaxes(tickangle=-90, title=None, dtick=1, tickfont={"size": 10})
    figure.update_yaxes(title=None)
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, coloraxis_colorbar={"title": None})
    return figure


@st.cache_resource(show_spinner="Opening the capture...")
def capture(directory: str) -> ActivationStore:
    return ActivationStore.open(directory)




def show(ws) -> None:
    st.title("Probes")
    chosen = model_stage(ws, "probes", "probes", "probes.csv", "A captured image model", "probe run")
    if chosen is None:
        return
    _, directory = chosen
    table = pd.read_csv(directory / "probes.csv")
    shown = st.radio("show", list(SHOWN), format_func=SHOWN.get, horizontal=True,
                     index=list(SHOWN).index(state.param("show", "selectivity")) if state.param("show") in SHOWN else 0)
    state.keep(show=shown)
    panels = [(shown, f"trained: {shown}")]
    if CONTROL[shown] in table.columns:
        panels.append((CONTROL[shown], f"random weights: {shown}"))
    for values, title in panels:
        st.plotly_chart(heatmap(score_grid(table, values), title), key=f"heatmap_{values}")
    if len(panels) == 1:
        st.caption("No random-weights control was probed (frob probe --control).")
    st.caption("R² below -0.2 shows as -0.2. Per-frame factors (level frame) are read from token-averaged activations.")
    if (directory / "disentanglement.csv").is_file():
        with st.expander("Disentanglement of the token-averaged activations (MIG, SAP, DCI)"):
            st.dataframe(pd.read_csv(directory / "disentanglement.csv"), hide_index=True, key="disentanglement")
    show_cell(ws, directory, table)


def show_cell(ws, directory, table: pd.DataFrame) -> None:
    st.subheader("One probe")
    primary = table[table["metric"].isin(PRIMARY_METRICS)]
    left, right = st.columns(2)
    with left:
        hook = url_select("hook", list(dict.fromkeys(primary["hook"])), "hook", "probes")
    with right:
        factor = url_select("factor", list(dict.fromkeys(primary["factor"])), "factor", "probes")
    rows = table[(table["hook"] == hook) & (table["factor"] == factor)]
    numbers = [name for name in ("score", "baseline", "shuffled", "selectivity", "control_score", "control_selectivity")
               if name in rows.columns]
    notes = ["note"] if "note" in rows.columns and rows["note"].fillna("").astype(str).str.len().any() else []
    st.dataframe(rows[["metric", "level", "kind", *numbers, "n_train", "n_test", *notes]], hide_index=True,
                 key="cell_rows")
    manifest = load_manifest(directory, expected_format=PROBES_FORMAT, what="a probe directory",
                             make_with=ws.rerun_command())
    try:
        run = ws.relocate(manifest["run"])
    except (KeyError, OutsideWorkspace):
        run = None
    if run is None or not (run / "manifest.json").is_file():
        data.missing(f"The capture the probes read ({manifest.get('run')})", ws.rerun_command())
        return
    store = capture(str(run))
    hook, probe = load_fitted(directory, factor, hook)
    heldout = [int(k) for k in predict.heldout_frames(len(store))]
    if probe.level == "frame":
        st.info(f"{factor} is a per-frame factor: its probe reads the token-averaged activations and predicts one "
                "number per frame, so it has no map. Its predictions on the held-out frames:")
        truth = store.factors()[factor]
        st.dataframe(pd.DataFrame({"frame": heldout, "truth": truth[heldout], "predicted": [
            predict.predict_frame_value(store.frame_activations(hook, k), probe) for k in heldout]}),
            hide_index=True, key="frame_predictions")
        return
    k = url_select("held-out frame", heldout, "frame", "probes", cast=int)
    show_maps(ws, store, hook, factor, probe, k)


def show_maps(ws, store: ActivationStore, hook: str, factor: str, probe, k: int) -> None:
    truth = predict.truth_grid(store, hook, factor, k)
    predicted = predict.predict_grid(store.frame_activations(hook, k), probe)
    categorical = probe.classes is not None
    if categorical:
        pictures = images.labels(truth), images.labels(predicted)
        scale = "ids in distinct colours (0, background: black)"
    else:
        finite = truth[np.isfinite(truth)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pictures = images.colourise(truth, low=low, high=high), images.colourise(predicted, low=low, high=high)
        scale = f"viridis over the truth's range [{low:.3g}, {high:.3g}], grey: no surface; predictions beyond it clipped"
    score = predict.grid_score(predicted, truth, categorical)
    rgb = data.dataset(str(ws.relocate(store.manifest["dataset"]["path"]))).channel("rgb")[k]
    columns = st.columns(3)
    columns[0].image(images.enlarged(images.render(rgb)), caption=f"frame {k}")
    columns[1].image(images.enlarged(pictures[0]), caption=f"truth: {factor} pooled on {hook}'s "
                                                                   f"{truth.shape[0]}x{truth.shape[1]} grid")
    columns[2].image(images.enlarged(pictures[1]), caption=f"probe prediction at {hook}")
    st.caption(f"Colours: {scale}.")
    st.metric("accuracy on this frame" if categorical else "R² on this frame", f"{score:.3f}")


if __name__ == "__main__":
    run_page(show)
