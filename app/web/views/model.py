"""Model vs optimum: where an image model's output falls short of the best possible output, from `frob eval`.

For one frame: the input, the model's output, the optimal output (an autoencoder's optimum is its input, as the
evaluation's manifest records) and the per-pixel squared error against it (mean over RGB, linear [0, 1]). For the
whole dataset: the error by ground-truth factor (breakdown.csv: per bin, MSE = mean squared error over the bin's
pixels, PSNR = 10 log10(1 / MSE) dB, MSE / overall MSE), each frame's PSNR against a per-frame factor, and the worst
frames (lowest PSNR in frames.csv), each linking here and to the Scenes page.
URL: model, frame, metric, vs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st
import zarr

from frobnoscope.app.web import data, images, state
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import model_stage, url_number
from frobnoscope.engine.runs import load_manifest
from frobnoscope.interp.evaluation.images import EVAL_FORMAT, MAPS

METRICS = {"psnr": "PSNR (dB, higher is better)", "mse": "MSE (lower is better)",
           "mse_vs_overall": "MSE / overall MSE (above 1: worse than average)"}
WORST = 10


def worst_frames(frames: pd.DataFrame, count: int = WORST) -> pd.DataFrame:
    """The `count` rows of frames.csv with the lowest PSNR, worst first (ties by frame index)."""
    return frames.sort_values(["psnr", "index"], kind="stable").head(count).reset_index(drop=True)


def overall(summary: dict, metric: str) -> float:
    """The whole dataset's value of a breakdown metric: PSNR of the mean MSE, the mean MSE, or 1."""
    return {"psnr": summary["psnr_of_mean_mse"], "mse": summary["mse"], "mse_vs_overall": 1.0}[metric]


def breakdown_figure(bins: pd.DataFrame, metric: str, line: float, title: str):
    """Bars of `metric` per bin of one factor, with the whole dataset's value as a dotted line."""
    figure = px.bar(bins, x="bin", y=metric, hover_data=["pixels", "pixel_share"], title=title, height=300,
                    labels={"bin": "", metric: metric})
    figure.add_hline(y=line, line_dash="dot", annotation_text="all pixels")
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


@st.cache_resource(show_spinner=False)
def eval_maps(directory: str) -> zarr.Group:
    """maps/ of an evaluation: output (N, H, W, 3) and squared_error (N, H, W), float32."""
    return zarr.open_group(directory, mode="r")


def frame_factors(frames: list[dict]) -> pd.DataFrame:
    """Numeric per-frame factors of the dataset, indexed by frame."""
    return pd.DataFrame([{name: value for name, value in frame.get("factors", {}).items()
                          if isinstance(value, (int, float)) and not isinstance(value, bool)} for frame in frames],
                        index=[frame["index"] for frame in frames])


def show(ws) -> None:
    st.title("Model vs optimum")
    chosen = model_stage(ws, "model", "eval", "frames.csv", "An evaluated image model", "evaluation")
    if chosen is None:
        return
    model, run = chosen
    manifest = load_manifest(run, expected_format=EVAL_FORMAT, what="an evaluation", make_with=ws.rerun_command())
    frames = pd.read_csv(run / "frames.csv")
    dataset_dir = ws.relocate(manifest["dataset"]["path"])
    store = data.dataset(str(dataset_dir))
    summary = manifest["summary"]
    cells = st.columns(4)
    cells[0].metric("frames", summary["frames"])
    cells[1].metric("mean PSNR (dB)", f"{summary['mean_psnr']:.2f}")
    cells[2].metric("PSNR of the mean MSE (dB)", f"{summary['psnr_of_mean_mse']:.2f}")
    cells[3].metric("mean SSIM", f"{summary['mean_ssim']:.3f}")
    show_frame(run, frames, store)
    show_breakdown(run, summary)
    show_frames(model, dataset_dir.name, frames, store)


def show_frame(run, frames: pd.DataFrame, store) -> None:
    st.subheader("One frame")
    last = len(frames) - 1
    k = url_number("frame", "frame", "model", 0, 0, last)
    row = frames.set_index("index").loc[k]
    st.caption(f"frame {k}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}, MSE {row['mse']:.4g} "
               f"(rank {int((frames['psnr'] < row['psnr']).sum()) + 1} of {len(frames)} from the worst)")
    for column, (caption, picture) in zip(st.columns(4), frame_pictures(store, eval_maps(str(run / MAPS)), k)):
        column.image(images.enlarged(picture), caption=caption)


def frame_pictures(store, maps: zarr.Group, k: int) -> list[tuple[str, np.ndarray]]:
    """(caption, uint8 picture) of frame k: input, output, optimal output (= the input) and squared error, the
    error colour-mapped from 0 to the frame's 99th percentile (values above it at the top colour)."""
    error = maps["squared_error"][k]
    top = float(np.quantile(error, 0.99))
    source = images.render(store.channel("rgb")[k])
    error_caption = (f"squared error (RGB mean), 0 (black) to {top:.3g} (white: the frame's 99th percentile and "
                     f"above; max {float(error.max()):.3g})")
    return [("input", source), ("model output", images.render(maps["output"][k])),
            ("optimal output (the input: an autoencoder's optimum)", source),
            (error_caption, images.colourise(error, "magma", low=0.0, high=top))]


def show_breakdown(run, summary: dict) -> None:
    st.subheader("Error by ground-truth factor")
    names = list(METRICS)
    metric = st.selectbox("metric", names, index=names.index(state.param("metric", "psnr")) if state.param(
        "metric") in names else 0, format_func=METRICS.get)
    state.keep(metric=metric)
    breakdown = pd.read_csv(run / "breakdown.csv")
    filled = breakdown[breakdown["pixels"] > 0]
    factors = list(dict.fromkeys(filled["factor"]))
    for start in range(0, len(factors), 4):
        for column, factor in zip(st.columns(4), factors[start:start + 4]):
            column.plotly_chart(breakdown_figure(filled[filled["factor"] == factor], metric,
                                                 overall(summary, metric), factor), key=f"breakdown_{factor}")
    with st.expander("breakdown.csv"):
        st.dataframe(breakdown, hide_index=True, key="breakdown_table")


def show_frames(model: str, dataset: str, frames: pd.DataFrame, store) -> None:
    st.subheader("Frames")
    factors = frame_factors(store.manifest["frames"])
    names = [name for name in factors.columns if factors[name].nunique() > 1]
    if names:
        asked = state.param("vs")
        factor = st.selectbox("PSNR against", names, index=names.index(asked) if asked in names else 0)
        state.keep(vs=factor)
        joined = frames.join(factors[[factor]], on="index")
        st.plotly_chart(px.scatter(joined, x=factor, y="psnr", hover_data=["index", "ssim"],
                                   labels={"psnr": "PSNR (dB)"}, height=320))
    worst = worst_frames(frames).dropna(axis="columns", how="all")
    worst["open"] = [state.href("model", model=model, frame=int(k)) for k in worst["index"]]
    worst["scene"] = [state.href("scenes", dataset=dataset, frame=int(k)) for k in worst["index"]]
    st.markdown(f"**The {len(worst)} worst frames** (lowest PSNR)")
    st.dataframe(worst, hide_index=True, key="worst_frames", column_config={
        "open": st.column_config.LinkColumn("open", display_text="this page"),
        "scene": st.column_config.LinkColumn("scene", display_text="Scenes")})


if __name__ == "__main__":
    run_page(show)
