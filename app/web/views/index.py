"""Frobnoloid index: one table over the SAE latents and raw channels of every model and hook in the workspace.

Columns: frobnoloid score = max(importance, 0) x (1 - clip(gt_r2, 0, 1)); importance (increase of the model's error
against its optimal output when the feature is ablated; NaN = not measured, only the top candidates are); gt_r2
(held-out R^2 of the feature from all ground truth); the best ground-truth match with its r or IoU; firing density;
max activation; the researcher's name for it. Filters, sort and page live in the URL. Selecting a row (or its link)
opens the feature page.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from frobnoscope.app.web import data, state
from frobnoscope.app.web.feature_table import (
    DENSITY_BANDS,
    SORTABLE,
    Filters,
    page,
    page_count,
    random_frobnoloid,
    select,
)
from frobnoscope.app.web.page import run_page

SHOWN = ("open", "model", "hook", "kind", "feature", "frobnoloid_score", "importance", "gt_r2", "best_factor",
         "correlation", "iou", "density", "max_activation", "name")


def _list(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def filters_from_url(table) -> Filters:
    with st.sidebar:
        st.subheader("Filter")
        options = {column: sorted(table[column].unique()) for column in ("model", "hook", "kind")}
        chosen = {column: st.multiselect(column, options[column], default=[v for v in _list(state.param(column, ""))
                                                                            if v in options[column]], key=f"f_{column}")
                  for column in options}
        unmatched = st.checkbox("matches no factor", value=state.param("unmatched", "0") == "1")
        factors = [""] + sorted(f for f in table["best_factor"].unique() if f)
        current = state.param("factor", "")
        factor = st.selectbox("matched factor", factors, index=factors.index(current) if current in factors else 0,
                              format_func=lambda f: f or "any")
        bands = list(DENSITY_BANDS)
        density = st.selectbox("firing density", bands, index=bands.index(state.param("density", "any"))
                               if state.param("density", "any") in bands else 0)
        search = st.text_input("search names and notes", value=state.param("q", ""))
        sort = st.selectbox("sort by", SORTABLE, index=SORTABLE.index(state.param("sort", "frobnoloid_score"))
                            if state.param("sort", "frobnoloid_score") in SORTABLE else 0)
        descending = st.toggle("descending", value=state.param("desc", "1") == "1")
    filters = Filters(chosen["model"], chosen["hook"], chosen["kind"], unmatched, factor, density, search, sort, descending)
    state.keep(model=",".join(filters.models) or None, hook=",".join(filters.hooks) or None,
               kind=",".join(filters.kinds) or None, unmatched="1" if unmatched else None, factor=factor or None,
               density=None if density == "any" else density, q=search or None, sort=sort, desc="1" if descending else "0")
    return filters


def feature_link(row) -> dict:
    return {"run": row["run"], "kind": row["kind"], "id": int(row["feature"])}


def show(ws) -> None:
    st.title("Frobnoloid index")
    table = data.feature_index(ws)
    if table.empty:
        data.missing("No features run", ws.rerun_command())
        return
    filters = filters_from_url(table)
    rows = select(table, filters)
    pages = page_count(rows)
    top = st.columns([2, 1, 1, 1])
    top[0].caption(f"{len(rows):,} of {len(table):,} features match the filters; {pages} pages of 50")
    number = top[1].number_input("page", 1, pages, min(state.param("page", 1, int), pages), key="page_number")
    state.keep(page=number if number > 1 else None)
    if top[2].button("random frobnoloid", icon=":material/casino:"):
        pick = random_frobnoloid(rows, np.random.default_rng())
        if pick is None:
            st.warning("no feature among these has a positive frobnoloid score")
        else:
            st.switch_page("views/feature.py", query_params=feature_link(pick))
    top[3].download_button("export CSV", rows.drop(columns=["key"]).to_csv(index=False), "frobnoloids.csv",
                           "text/csv", icon=":material/download:")
    shown = page(rows, number).copy()
    shown["open"] = [state.href("feature", **feature_link(row)) for _, row in shown.iterrows()]
    picked = st.dataframe(
        shown[list(SHOWN)], hide_index=True, on_select="rerun", selection_mode="single-row", key="index_table",
        height=min(36 + 35 * len(shown), 1800),
        column_config={"open": st.column_config.LinkColumn("open", display_text="open"),
                       "frobnoloid_score": st.column_config.NumberColumn("frobnoloid", format="%.3g"),
                       "importance": st.column_config.NumberColumn(format="%.3g"),
                       "gt_r2": st.column_config.NumberColumn(format="%.2f"),
                       "correlation": st.column_config.NumberColumn("r", format="%.2f"),
                       "iou": st.column_config.NumberColumn("IoU", format="%.3f"),
                       "density": st.column_config.NumberColumn(format="%.4f"),
                       "max_activation": st.column_config.NumberColumn("max", format="%.3g")})
    selected = picked.selection.rows if picked is not None and hasattr(picked, "selection") else []
    if selected:
        st.switch_page("views/feature.py", query_params=feature_link(shown.iloc[selected[0]]))


if __name__ == "__main__":
    run_page(show)
