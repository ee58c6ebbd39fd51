"""The sections of the feature page (`views/feature.py`), one function each, plus the pure picture-making they share
(`example_pictures`, `residual_maps`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from frobnoscope.app.web import data, images, state
from frobnoscope.interp.features import evidence as feature_evidence
from frobnoscope.interp.features.examples import BINS
from frobnoscope.interp.plots.features import crop_box

GROUND_TRUTH_UNDER_CROPS = ("depth_z", "normal_cam", "object_id", "albedo", "shadow", "specular")


@st.cache_resource(show_spinner=False, max_entries=512)
def example_pictures(_source, directory: str, dataset_dir, kind: str, feature: int, frame: int, row: int, col: int,
                     top: float):
    """(overlay crop, [ground-truth crops], their channel names) of one example of the features run in `directory`
    (`_source` opened on it; not hashed): the render with the feature's activation over it, cut to `crop_box`
    around grid cell (row, col), and the same crop of each GROUND_TRUTH_UNDER_CROPS channel. Cached: a feature page
    shown again does not re-encode its example frames through the SAE."""
    rgb = data.frame_channel(dataset_dir, "rgb", frame)
    activation = _source.frame_map(kind, feature, frame)
    box = crop_box(row, col, activation.shape, rgb.shape[:2])
    shown = images.overlay(images.render(rgb), activation, high=top)
    channels = [name for name in GROUND_TRUTH_UNDER_CROPS if name in data.dataset(str(dataset_dir)).channel_names()]
    truth = [images.crop(images.channel_picture(name, data.frame_channel(dataset_dir, name, frame)), box)
             for name in channels]
    return images.crop(shown, box), truth, channels


def mosaic(pictures: list[np.ndarray], columns: int = 3, gap: int = 2) -> np.ndarray:
    """Equal-sized (h, w, 3) pictures in rows of `columns`, white gaps between them."""
    h, w, _ = pictures[0].shape
    rows = -(-len(pictures) // columns)
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, picture in enumerate(pictures):
        top, left = (i // columns) * (h + gap), (i % columns) * (w + gap)
        out[top:top + h, left:left + w] = picture
    return out


def _example_grid(source, arrays, kind, feature, dataset_dir, prefix: str, per_row: int) -> None:
    frames = arrays[f"{kind}.{prefix}_frame"][feature].reshape(-1)
    rows = arrays[f"{kind}.{prefix}_row"][feature].reshape(-1)
    cols = arrays[f"{kind}.{prefix}_col"][feature].reshape(-1)
    values = arrays[f"{kind}.{prefix}_value"][feature].reshape(-1)
    shown = [i for i in range(len(frames)) if frames[i] >= 0]
    if not shown:
        st.caption("none: the feature fires on too few frames")
        return
    top = float(arrays[f"{kind}.max"][feature])
    for start in range(0, len(shown), per_row):
        columns = st.columns(per_row)
        for column, i in zip(columns, shown[start:start + per_row]):
            crop, truth, names = example_pictures(source, str(source.directory), dataset_dir, kind, feature,
                                                  int(frames[i]), int(rows[i]), int(cols[i]), top)
            column.image(crop, caption=f"frame {frames[i]}: {values[i]:.3g}", width="stretch")
            column.image(mosaic(truth), caption=" | ".join(names[:3]) + " / " + " | ".join(names[3:]),
                         width="stretch")


def examples(source, arrays, kind: str, feature: int, dataset_dir) -> None:
    st.header("Examples")
    st.caption("crops around the cell where the feature peaks in each frame, activation overlaid at the hook's grid "
               f"({source.store.shape(source.hook)[0]} x {source.store.shape(source.hook)[1]}); under each, the same "
               f"crop's {', '.join(GROUND_TRUTH_UNDER_CROPS)}")
    st.subheader("Strongest frames")
    _example_grid(source, arrays, kind, feature, dataset_dir, "top", 4)
    bands = arrays[f"{kind}.band_frame"].shape[1]
    st.subheader("Lower quantiles")
    st.caption(f"firing frames ranked by peak activation, cut into {bands + 1} bands; one row per band below the top "
               "(frames from the middle and the bottom of the ranking)")
    _example_grid(source, arrays, kind, feature, dataset_dir, "band", arrays[f"{kind}.band_frame"].shape[2])
    counts = arrays[f"{kind}.hist"][feature]
    top = float(arrays[f"{kind}.max"][feature])
    centres = (np.arange(BINS) + 0.5) * top / BINS
    figure = go.Figure(go.Bar(x=centres, y=counts, width=top / BINS))
    figure.update_layout(title="activation histogram (tokens > 0)", yaxis_type="log", height=260,
                         xaxis_title="activation", yaxis_title="tokens", margin={"t": 40, "b": 10})
    st.plotly_chart(figure, width="stretch")


def residual_maps(source, kind: str, feature: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(activation (h, w), what ground truth predicts (h, w)) on a labelled frame (`evidence.GroundTruthFit`)."""
    values = source.activations(kind)[:, feature]
    predicted = data.ground_truth_fit(str(source.directory)).predict(values)
    h, w, _ = source.store.shape(source.hook)
    tokens = source.index[:, 0] == frame
    grid = source.index[tokens]
    activation, prediction = np.full((h, w), np.nan), np.full((h, w), np.nan)
    activation[grid[:, 1], grid[:, 2]] = values[tokens]
    prediction[grid[:, 1], grid[:, 2]] = predicted[tokens]
    return activation, prediction


def _bars(names: list[str], values: list[float], title: str, x_title: str) -> go.Figure:
    figure = go.Figure(go.Bar(x=values, y=names, orientation="h"))
    figure.update_layout(title=title, height=max(220, 18 * len(names) + 60), xaxis_title=x_title,
                         yaxis={"autorange": "reversed"}, margin={"t": 40, "b": 10})
    return figure


def evidence(source, kind: str, feature: int, arrays) -> None:
    st.header("Evidence against ground truth")
    values = source.activations(kind)[:, feature]
    left, right = st.columns(2)
    correlations = feature_evidence.factor_correlations(values, source.truth)
    ranked = sorted(correlations.items(), key=lambda item: -abs(item[1]))[:24]
    left.plotly_chart(_bars([n for n, _ in ranked], [r for _, r in ranked], "correlation with each factor (|r| "
                            "ranked; matched at |r| >= 0.5)", "Pearson r"), width="stretch")
    ious = feature_evidence.label_ious(values, source.truth)
    right.plotly_chart(_bars([f"{c}={v}" for c, v, _ in ious], [i for _, _, i in ious], "IoU of the top 0.5% mask "
                             "with each label (matched at >= 0.04)", "IoU"), width="stretch")
    frames = [int(f) for f in source.frames]
    wanted = state.param("rframe", frames[0], int)
    frame = st.selectbox("residual map on labelled frame", frames, index=frames.index(wanted) if wanted in frames else 0)
    state.keep(rframe=frame)
    activation, prediction = residual_maps(source, kind, feature, frame)
    cols = st.columns(4)
    dataset_dir = data.workspace().relocate(source.store.dataset_path)
    cols[0].image(images.render(data.frame_channel(dataset_dir, "rgb", frame)), caption=f"frame {frame}",
                  width="stretch")
    high = float(np.nanmax(np.abs(np.concatenate([activation.ravel(), prediction.ravel()]))))
    cols[1].image(images.enlarged(images.colourise(activation, low=-high, high=high, cmap="RdBu_r")),
                  caption="activation", width="stretch")
    cols[2].image(images.enlarged(images.colourise(prediction, low=-high, high=high, cmap="RdBu_r")),
                  caption="predicted from ground truth", width="stretch")
    cols[3].image(images.enlarged(images.colourise(activation - prediction, low=-high, high=high,
                                                           cmap="RdBu_r")),
                  caption="residual: where it departs from anything named", width="stretch")


def neighbours(run: str, kind: str, feature: int, arrays) -> None:
    st.header("Neighbours")
    lists = [("corr", "activation correlation (r)")]
    if f"{kind}.cosine_index" in arrays:
        lists += [("cosine", "decoder cosine"), ("absorb", "absorption partners (gap; + child, - parent)")]
    for column, (prefix, title) in zip(st.columns(len(lists)), lists):
        index, value = arrays[f"{kind}.{prefix}_index"][feature], arrays[f"{kind}.{prefix}_value"][feature]
        rows = [{"feature": int(i), "value": float(v), "open": state.href("feature", run=run, kind=kind, id=int(i))}
                for i, v in zip(index, value) if i >= 0]
        column.caption(title)
        if rows:
            column.dataframe(pd.DataFrame(rows), hide_index=True, column_config={
                "open": st.column_config.LinkColumn("open", display_text="open"),
                "value": st.column_config.NumberColumn(format="%.3f")})
        else:
            column.caption("none")


def attribution_maps(ws, run: str, kind: str, feature: int) -> None:
    """The study's attribution maps of this latent (`<model>/attribution/<hook>/latent<ID>`), if it made them:
    each method's map on the run's first frame beside the frame, and a link to the attribution page."""
    from frobnoscope.interp.attribution.run_format import open_maps, read_run_manifest

    model, hook = run.split("/")[0], data.feature_source(str(ws.path(run))).hook
    directory = ws.root / model / "attribution" / hook / f"latent{feature}"
    if kind != "latent" or not (directory / "manifest.json").is_file():
        return
    manifest = read_run_manifest(directory)
    if not manifest.get("complete"):
        return
    st.header("Attribution")
    maps = open_maps(directory)
    frame = images.render(data.frame_channel(ws.relocate(manifest["dataset"]["path"]), "rgb", 0))
    shown = [(images.enlarged(frame), "frame 0 of the attribution run")]
    shown += [(images.enlarged(images.colourise(np.asarray(maps[method][0], dtype=np.float64), "RdBu_r",
                                                symmetric=True)), f"{method} (red +, blue -)")
              for method in manifest["methods"]]
    for column, (picture, caption) in zip(st.columns(len(shown)), shown):
        column.image(picture, caption=caption, width="stretch")
    st.page_link("views/attribution.py", label="all frames, the cause outlined, scores against the random baseline",
                 query_params={"run": ws.relative(directory)})


@st.fragment
def intervention(ws, source, kind: str, feature: int, dataset_dir, arrays) -> None:
    """Scale the feature on one frame (0 ablates it) and see the output, its change, and its error against the
    optimal output; reruns alone when its controls change."""
    from frobnoscope.interp.features.intervene import Intervention, intervene, scale_edit

    st.header("Intervene")
    frames = data.dataset(str(dataset_dir)).channel("rgb").shape[0]
    first = int(arrays[f"{kind}.top_frame"][feature][0])
    cols = st.columns([1, 3])
    frame = int(cols[0].number_input("frame", 0, frames - 1, min(max(state.param("iframe", max(first, 0), int), 0),
                                                                  frames - 1), key="intervene_frame"))
    scale = float(cols[1].slider("scale the feature by (0 ablates it, 1 leaves it)", -2.0, 4.0,
                                 state.param("scale", 0.0, float), 0.25, key="intervene_scale"))
    state.keep(iframe=frame, scale=scale)
    rgb = data.frame_channel(dataset_dir, "rgb", frame)
    means = source.channel_means() if kind == "channel" else None
    edit = scale_edit(kind, feature, scale, sae=source.sae if kind == "latent" else None,
                      channel_mean=float(means[feature]) if means is not None else 0.0)
    result = intervene(data.model(source.store.model_spec), rgb, source.hook, edit)
    metrics = st.columns(4)
    metrics[0].metric("MSE vs optimum, clean", f"{result.clean_mse:.3g}")
    metrics[1].metric("MSE vs optimum, edited", f"{result.edited_mse:.3g}",
                      delta=f"{result.edited_mse - result.clean_mse:+.3g}", delta_color="inverse")
    metrics[2].metric("PSNR clean", f"{Intervention.psnr(result.clean_mse):.2f} dB")
    metrics[3].metric("PSNR edited", f"{Intervention.psnr(result.edited_mse):.2f} dB",
                      delta=f"{Intervention.psnr(result.edited_mse) - Intervention.psnr(result.clean_mse):+.2f} dB")
    pictures = st.columns(5)
    pictures[0].image(images.render(rgb), caption="input", width="stretch")
    pictures[1].image(images.render(result.optimal), caption="optimal output", width="stretch")
    pictures[2].image(images.render(result.clean), caption="output", width="stretch")
    pictures[3].image(images.render(result.edited), caption=f"output, feature x {scale:g}", width="stretch")
    change = result.change
    pictures[4].image(images.colourise(change, "magma", low=0.0), caption=f"|change| (max {change.max():.3g})",
                      width="stretch")
