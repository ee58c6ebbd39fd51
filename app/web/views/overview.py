"""Overview: the study, its stages and their state, and the headline numbers with links into each page.

Headlines, read from the runs the study wrote: each image model's mean PSNR and SSIM against its optimal output
(eval/frames.csv); each SAE's FVU, L0, dead fraction and error recovered when spliced in (report.json), and how
its training converged: held-out FVU, L0 and dead fraction per checkpoint (curves.csv) and, for a second seed,
the matched decoder cosine against the first (stability.csv); how many
features match ground truth, trained channels and latents beside random-weights channels (features/summary.csv);
each NeRF's PSNR per split and termination error (eval/views.csv, iou.csv via summary.md's sources).
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

from frobnoscope.app.web import data
from frobnoscope.app.web.page import run_page


def stage_table(ws) -> pd.DataFrame:
    return pd.DataFrame([{"stage": s.name, "state": "done" if s.done else "unfinished",
                          "seconds": s.seconds} for s in ws.stages()])


def convergence(reports: list, model: str) -> None:
    """Line charts of the SAEs' curves.csv (and stability.csv) along training, one line per SAE."""
    curves, stability = [], []
    for report in reports:
        for name, into in (("curves.csv", curves), ("stability.csv", stability)):
            if (report.parent / name).is_file():
                into.append(pd.read_csv(report.parent / name).assign(SAE=report.parent.name))
    if not curves:
        return
    table = pd.concat(curves, ignore_index=True)
    charts = [("heldout_fvu", "held-out FVU", {"log_y": True}), ("heldout_l0", "held-out L0", {}),
              ("dead_fraction", "dead fraction", {"range_y": (0, 1)})]
    columns = st.columns(len(charts) + bool(stability))
    for column, (name, title, axis) in zip(columns, charts):
        if name in table:
            column.plotly_chart(px.line(table, x="step", y=name, color="SAE", markers=True, title=title, height=280,
                                        **axis), key=f"curve_{model}_{name}")
    if stability:
        stable = pd.concat(stability, ignore_index=True)
        figure = px.line(stable, x="step", y="mean_matched_cosine", color="SAE", markers=True, range_y=(0, 1),
                         height=280, title="matched cosine vs the first seed")
        if "chance" in stable:  # two random dictionaries of the same shape, matched the same way
            figure.add_hline(y=float(stable["chance"].iloc[0]), line_dash="dash", annotation_text="chance")
        columns[-1].plotly_chart(figure, key=f"curve_{model}_stability")


def model_headlines(ws, model: str) -> None:
    base = ws.path(model)
    frames = base / "eval" / "frames.csv"
    cols = st.columns(4)
    if frames.is_file():
        table = pd.read_csv(frames)
        cols[0].metric("PSNR vs optimum", f"{table['psnr'].mean():.2f} dB", help=f"mean over {len(table)} frames")
        cols[1].metric("SSIM vs optimum", f"{table['ssim'].mean():.4f}")
    else:
        cols[0].caption(f"no evaluation yet ({ws.rerun_command()})")
    saes = sorted((base / "saes").glob("*/report.json"))
    if saes:
        rows = []
        for path in saes:
            report = json.loads(path.read_text())
            metrics = report.get("metrics", {})
            rows.append({"SAE": path.parent.name, "FVU": metrics.get("fvu"), "L0": metrics.get("l0"),
                         "dead": metrics.get("dead_fraction"),
                         "recovered": (report.get("splice") or {}).get("recovered")})
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"FVU": st.column_config.NumberColumn(format="%.3f"),
                                    "dead": st.column_config.NumberColumn(format="percent"),
                                    "recovered": st.column_config.NumberColumn("error recovered", format="percent")})
        convergence(saes, model)
    summaries = sorted((base / "features").glob("*/summary.csv"))
    if summaries:
        rows = []
        for path in summaries:
            for row in pd.read_csv(path).to_dict("records"):
                rows.append({"hook": path.parent.name, **row})
        st.dataframe(pd.DataFrame(rows), hide_index=True,
                     column_config={"matched_fraction": st.column_config.NumberColumn("matched share", format="percent"),
                                    "null_matched_fraction": st.column_config.NumberColumn("null share",
                                                                                           format="percent"),
                                    "matched_above_null": st.column_config.NumberColumn("above null",
                                                                                        format="%.1f")})
        st.caption("features matching ground truth (|r| >= 0.5 or IoU >= 0.04): trained weights beside the same "
                   "architecture with random weights; the null share is how many match other frames' ground truth "
                   "(the bars' false-positive rate), and 'above null' the matches beyond it")


def show(ws) -> None:
    st.title(f"Study {ws.study}")
    st.caption(f"workspace {ws.root}")
    stages = stage_table(ws)
    unfinished = stages[stages["state"] != "done"] if not stages.empty else stages
    if not unfinished.empty:
        st.warning(f"{len(unfinished)} stages are unfinished; finish them with `{ws.rerun_command()}`")
    links = st.columns(4)
    for i, (page, label) in enumerate([("views/index.py", "Frobnoloid index"), ("views/scenes.py", "Scenes"),
                                       ("views/model.py", "Model vs optimum"), ("views/probes.py", "Probes")]):
        links[i].page_link(page, label=label)
    for model in ws.image_models():
        st.header(model)
        model_headlines(ws, model)
    for nerf in ws.nerfs():
        st.header(f"{nerf} (NeRF)")
        views = ws.path(nerf) / "eval" / "views.csv"
        if views.is_file():
            table = pd.read_csv(views)
            if {"split", "psnr"} <= set(table.columns):
                cols = st.columns(4)
                for i, (split, group) in enumerate(table.groupby("split")):
                    cols[i % 4].metric(f"PSNR {split}", f"{group['psnr'].mean():.2f} dB")
        st.page_link("views/nerf.py", label="NeRF views and rays", query_params={"nerf": nerf})
    with st.expander(f"stages ({len(stages)})", expanded=not unfinished.empty):
        st.dataframe(stages, hide_index=True)
    if not ws.stages():
        data.missing("No stage", ws.rerun_command())


if __name__ == "__main__":
    run_page(show)
