"""NeRF page: a trained NeRF against the scene it was fitted to, view by view and ray by ray.

For a view of the NeRF's dataset (URL `view`: frame index) the page shows the true and the rendered image, and the
rendered termination depth (expected t = sum_k w_k m_k / sum_k w_k) beside the true `depth_ray` and their
difference (rendered - true; grey where either ray meets nothing). For one pixel (URL `row`, `col`) it plots the
field's density sigma_k and the compositing weights w_k = T_k (1 - exp(-sigma_k delta_k)) over the distance t along
the ray, with the true surface (depth_ray) as a vertical line (`interp.evaluation.nerf_ray`); and, when a method is
chosen (URL `attribution`, `target`), the attribution of the pixel's colour (or error) to its samples' positions
(`interp.attribution.nerf_ray`) with its share on the true surface against the share of samples there. Renders are
cached per view, at the dataset's resolution; the eval table comes from <nerf>/eval/views.csv (`frob eval-nerf`).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from frobnoscope.app.web import data, images
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import side_by_side, url_number, url_select
from frobnoscope.interp.attribution.nerf_methods import NERF_METHODS
from frobnoscope.interp.attribution.nerf_ray import RAY_TARGETS, attribute_ray, surface_share
from frobnoscope.interp.attribution.nerf_scores import DEFAULT_SURFACE_TOLERANCE
from frobnoscope.interp.evaluation.nerf_ray import depth_difference, ray_profile, termination_summary
from frobnoscope.scenes.spec import parse_spec

NO_ATTRIBUTION = "none"








def trained_nerfs(ws) -> list[str]:
    """NeRFs with an evaluation (<nerf>/eval), then any other `frob train nerf` run under models/."""
    runs = [p.parent.name for p in sorted((ws.root / "models").glob("*/manifest.json"))
            if json.loads(p.read_text()).get("kind") == "nerf"]
    judged = sorted(p.parent.parent.name for p in ws.root.glob("*/eval/iou.csv"))  # <nerf>/eval/iou.csv
    return list(dict.fromkeys([*judged, *runs]))


@st.cache_resource(show_spinner="Loading the NeRF...")
def nerf_adapter(run_dir: str):
    from frobnoscope.models.nerf.adapter import load_nerf

    return load_nerf(run_dir)


def camera_of(store, view: int):
    return parse_spec(store.manifest["frames"][view]["spec"]).camera


@st.cache_resource(show_spinner="Rendering the view...")
def render_view(run_dir: str, dataset_dir: str, view: int) -> dict[str, np.ndarray]:
    """`NerfAdapter.render_camera` of the view: rgb (H, W, 3), accumulation (H, W), depth (H, W)."""
    return nerf_adapter(run_dir).render_camera(camera_of(data.dataset(dataset_dir), view))


@st.cache_resource(show_spinner="Attributing along the ray...")
def ray_attribution(run_dir: str, dataset_dir: str, view: int, row: int, col: int, method: str, target: str):
    truth = np.asarray(data.dataset(dataset_dir).channel("rgb")[view])[row, col]
    return attribute_ray(nerf_adapter(run_dir), camera_of(data.dataset(dataset_dir), view), row, col, method,
                         target, truth=truth, frame=view)


def marked(picture: np.ndarray, row: int, col: int, factor: int) -> np.ndarray:
    """`picture` enlarged `factor` times with a magenta box around pixel (row, col), one pixel clear of it."""
    out = images.enlarge(picture, factor)
    box = np.zeros(out.shape[:2], dtype=bool)
    box[max((row - 1) * factor, 0):(row + 2) * factor, max((col - 1) * factor, 0):(col + 2) * factor] = True
    return images.outline(out, box, colour=(255, 0, 255))


def profile_chart(t, series: dict[str, np.ndarray], depth_ray: float, termination: float, kind: str) -> go.Figure:
    figure = go.Figure()
    for index, (name, values) in enumerate(series.items()):
        trace = go.Bar if kind == "bar" else go.Scatter
        figure.add_trace(trace(x=t, y=values, name=name, yaxis="y2" if index else "y",
                               **({} if kind == "bar" else {"mode": "lines+markers"})))
    if np.isfinite(depth_ray):
        figure.add_vline(x=float(depth_ray), line_color="green", annotation_text="true surface",
                         annotation_position="top left")
    if np.isfinite(termination):
        figure.add_vline(x=float(termination), line_dash="dot", annotation_text="termination",
                         annotation_position="top right")
    names = list(series)
    figure.update_layout(xaxis_title="t (scene units along the ray)", yaxis_title=names[0], height=340,
                         margin={"t": 30, "b": 10}, legend={"orientation": "h"},
                         **({"yaxis2": {"title": names[1], "overlaying": "y", "side": "right"}} if len(names) > 1 else {}))
    return figure


def show(ws) -> None:
    st.title("NeRF")
    nerfs = trained_nerfs(ws)
    if not nerfs:
        data.missing("A trained NeRF (models/<nerf>)", ws.rerun_command())
        return
    nerf = url_select("NeRF", nerfs, "nerf", "nerf")
    run_dir, eval_dir = ws.path(f"models/{nerf}"), ws.path(f"{nerf}/eval")
    if (eval_dir / "views.csv").is_file():
        with st.expander(f"Judged views ({nerf}/eval/views.csv)"):
            st.dataframe(pd.read_csv(eval_dir / "views.csv"), hide_index=True)
    else:
        data.missing(f"The evaluation of {nerf} ({nerf}/eval)", f"frob eval-nerf {run_dir} --out {eval_dir}")
    if not (run_dir / "manifest.json").is_file():
        data.missing(f"The trained NeRF models/{nerf}", ws.rerun_command())
        return
    manifest = json.loads((run_dir / "manifest.json").read_text())
    dataset_dir = str(ws.relocate(manifest["dataset"]["path"]))
    store = data.dataset(dataset_dir)
    frames = store.manifest["frames"]
    order = {"val": 0, "test": 1}
    views = sorted(range(len(frames)), key=lambda k: (order.get(frames[k]["split"], 2), k))
    view = url_select("View", views, "view", "nerf", format_func=lambda k: f"{frames[k]['split']} {k}")
    height, width = store.manifest["height"], store.manifest["width"]
    left, right = st.columns(2)
    with left:
        row = url_number("Pixel row", "row", "nerf", height // 2, 0, height - 1)
    with right:
        col = url_number("Pixel col", "col", "nerf", width // 2, 0, width - 1)
    rendered = render_view(str(run_dir), dataset_dir, view)
    truth, depth_ray = np.asarray(store.channel("rgb")[view]), np.asarray(store.channel("depth_ray")[view])
    factor = images.display_factor(truth.shape)
    error = np.mean((rendered["rgb"] - truth) ** 2, axis=-1)
    side_by_side([(marked(images.render(truth), row, col, factor), f"true view {view} ({frames[view]['split']})"),
              (marked(images.render(rendered["rgb"]), row, col, factor),
               f"rendered (PSNR {-10 * np.log10(max(float(error.mean()), 1e-12)):.1f} dB)"),
              (marked(images.colourise(error, "magma", low=0.0), row, col, factor), "squared error (mean over RGB)")])
    finite = depth_ray[np.isfinite(depth_ray)]  # the truth's range: rendered depths beyond it are clipped
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    difference = depth_difference(rendered["depth"], depth_ray)
    side_by_side([(marked(images.colourise(rendered["depth"], low=low, high=high), row, col, factor),
               f"rendered termination depth ({low:.2f} to {high:.2f})"),
              (marked(images.colourise(depth_ray, low=low, high=high), row, col, factor), "true depth_ray (same scale)"),
              (marked(images.colourise(difference, "RdBu_r", symmetric=True), row, col, factor),
               "rendered - true (red: behind the surface)")])
    summary = termination_summary(rendered["depth"], rendered["accumulation"], depth_ray)
    columns = st.columns(3)
    columns[0].metric("median |termination - depth_ray|", f"{summary['median_abs_error']:.3f}")
    columns[1].metric("mean opacity where a surface is hit", f"{summary['hit_opacity']:.3f}")
    columns[2].metric("mean opacity where nothing is hit", f"{summary['miss_opacity']:.3f}")
    st.subheader(f"The ray of pixel row {row}, col {col}")
    profile = ray_profile(nerf_adapter(str(run_dir)), camera_of(store, view), row, col)
    surface, opaque = float(depth_ray[row, col]), bool(np.isfinite(profile.termination))
    columns = st.columns(4)
    columns[0].metric("opacity (sum of weights)", f"{profile.opacity:.4f}")
    columns[1].metric("termination depth", f"{profile.termination:.4f}" if opaque else "never stops")
    columns[2].metric("true depth_ray", f"{surface:.4f}" if np.isfinite(surface) else "no surface")
    columns[3].metric("termination - depth_ray", f"{profile.termination - surface:+.4f}" if opaque and np.isfinite(surface) else "-")
    st.plotly_chart(profile_chart(profile.t, {"density": profile.density, "weight": profile.weights}, surface,
                                  profile.termination, "line"))
    left, right = st.columns(2)
    with left:
        method = url_select("Attribution along the ray", [NO_ATTRIBUTION, *NERF_METHODS], "attribution", "nerf")
    with right:
        target = url_select("of the pixel's", list(RAY_TARGETS), "target", "nerf", help="output: its rendered colour (mean of "
                        "RGB); error: its squared error against the true colour")
    if method == NO_ATTRIBUTION:
        return
    attribution = ray_attribution(str(run_dir), dataset_dir, view, row, col, method, target)
    st.plotly_chart(profile_chart(attribution.t, {f"{method} of the {target}": attribution.values}, surface,
                                  profile.termination, "bar"))
    share = surface_share(attribution, surface)
    columns = st.columns(4)
    columns[0].metric(f"|a| on the surface (±{DEFAULT_SURFACE_TOLERANCE})", f"{share['energy_abs']:.3f}")
    columns[1].metric("samples there (even spread)", f"{share['area']:.3f}")
    columns[2].metric("peak |a| on the surface", {1.0: "yes", 0.0: "no"}.get(share["pointing"], "-"))
    columns[3].metric("sum of a", f"{attribution.values.sum():.4g}",
                      help="integrated gradients: the target's change from all samples at the ray's entry point")


if __name__ == "__main__":
    run_page(show)
