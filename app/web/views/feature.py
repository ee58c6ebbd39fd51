"""Feature page: one SAE latent or raw channel (`?run=<features run>&kind=latent|channel&id=N`).

Shown: its numbers and the researcher's name for it; top-activating examples and examples from lower quantiles
(`features.examples`) as crops of at least a quarter of the frame (`plots.features.crop_box`) with the activation
overlaid at the hook's grid, each above the same crop's ground truth; the evidence (r with every factor, IoU with
every label, gt_r2, and the residual map: activation minus what ground truth predicts, `features.evidence`); the
activation histogram (log counts); a live intervention (`features.intervene`); neighbours and absorption partners;
attribution maps when the study made them.
"""

from __future__ import annotations

import streamlit as st

from frobnoscope.app.web import data, feature_views, state
from frobnoscope.app.web.labels import LabelBook, feature_key
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import url_number, url_select
from frobnoscope.engine.errors import FrobError


def choose_feature(ws):
    runs = [ws.relative(path) for path in ws.features_runs()]
    if not runs:
        data.missing("No features run", ws.rerun_command())
        return None
    run = state.param("run", runs[0])
    if run not in runs:
        raise FrobError(f"{run} is not a features run of this workspace; runs: {', '.join(runs)}")
    cols = st.columns([3, 1, 1])
    run = url_select("features run", runs, "run", "feature", where=cols[0])
    source = data.feature_source(str(ws.path(run)))
    kinds = source.kinds()
    kind = url_select("kind", kinds, "kind", "feature", where=cols[1], default=kinds[-1])
    feature = url_number("feature", "id", "feature", 0, 0, source.count(kind) - 1, where=cols[2])
    return run, source, kind, feature


def name_box(ws, key: str) -> str:
    """The name and note form; returns the feature's name (after saving, the saved one)."""
    book = LabelBook(ws.root)
    current = book.current().get(key, {})
    with st.form("label", border=False):
        cols = st.columns([1, 2, 0.4])
        name = cols[0].text_input("name", value=current.get("name", ""), placeholder="give it a name")
        note = cols[1].text_input("note", value=current.get("note", ""), placeholder="what you saw, how you tested it")
        if cols[2].form_submit_button("save", icon=":material/save:"):
            current = book.add(key, name, note)
            st.toast(f"saved {name or '(cleared)'}")
    if current.get("name") or current.get("note"):
        st.caption(f"named {current.get('time', '')}")
    return current.get("name", "")


def show(ws) -> None:
    chosen = choose_feature(ws)
    if chosen is None:
        return
    run, source, kind, feature = chosen
    table = data.feature_index(ws)
    key = feature_key(run, kind, feature)
    row = table[table["key"] == key]
    row = row.iloc[0] if len(row) else None
    title = st.empty()
    name = name_box(ws, key)
    title.title(f"{kind} {feature} at {source.hook}: {name or 'unnamed'}")
    if row is not None:
        cols = st.columns(6)
        cols[0].metric("frobnoloid score", f"{row['frobnoloid_score']:.2e}")
        cols[1].metric("importance", f"{row['importance']:.2e}", help="error increase when ablated (NaN: not measured)")
        interval = (f"95% interval [{row['gt_r2_low']:.2f}, {row['gt_r2_high']:.2f}] over held-out frames; "
                    if row.get("gt_r2_high") is not None and row["gt_r2_high"] == row["gt_r2_high"] else "")
        cols[2].metric("gt_r2", f"{row['gt_r2']:.2f}", help=f"held-out R^2 from all ground truth; {interval}the "
                       "frobnoloid score uses the interval's upper end")
        cols[3].metric("best match", row["best_factor"] or "none")
        cols[4].metric("density", f"{row['density']:.1%}")
        cols[5].metric("max activation", f"{row['max_activation']:.3g}")
    try:
        arrays = data.examples_of(source.directory)
    except FrobError as error:
        st.warning(str(error))
        return
    dataset_dir = ws.relocate(source.store.dataset_path)
    feature_views.examples(source, arrays, kind, feature, dataset_dir)
    feature_views.evidence(source, kind, feature, arrays)
    feature_views.intervention(ws, source, kind, feature, dataset_dir, arrays)
    feature_views.neighbours(run, kind, feature, arrays)
    feature_views.attribution_maps(ws, run, kind, feature)


if __name__ == "__main__":
    run_page(show)
