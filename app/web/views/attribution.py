"""Attribution page: one attribution run's maps over the frames, with the true cause outlined, and how each method
scores on that cause against the random baseline.

A run is <model>/attribution/<hook>/latent<ID> (`frob attribute`, run_format); the URL keeps run, method, frame
and cause. A cause is a region of each frame's ground truth (`targets.Region`: foreground, background, object=N,
shadow=L, ...), the same mask scoring uses (`image_scores`). For a map a and cause mask M (`measures`):
  energy |a| = sum_M |a| / sum |a|,  pointing = [argmax |a| within tolerance of M],  area = |M| / (H W)
An evenly spread map scores energy = area; the random rows score uniform noise maps (seed: the run's). Scores come
from RUN/scores.csv when it holds the cause, else are computed here with the library's scoring (and cached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from frobnoscope.app.web import data, images, state
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import side_by_side, url_number, url_select
from frobnoscope.interp.attribution.image_scores import score_image_run
from frobnoscope.interp.attribution.measures import RANDOM, energy_in_region
from frobnoscope.interp.attribution.run_format import NERF_SAMPLES, open_maps, read_run_manifest
from frobnoscope.interp.attribution.scores import SCORES
from frobnoscope.interp.attribution.targets import parse_region, parse_target

SCORE_COLUMNS = ["method", "frames", "energy_abs", "energy_pos", "pointing", "area", "tolerance"]






def dataset_of(ws, manifest: dict):
    return data.dataset(str(ws.relocate(manifest["dataset"]["path"])))


def cause_options(manifest: dict, stored: pd.DataFrame, store) -> list[str]:
    """Causes scored in scores.csv first, then the target's own, the foreground and background, each object present
    in the run's frames and each light's shadow."""
    ids = np.unique(np.asarray(store.channel("object_id")[:manifest["frames"]]))
    candidates = [*stored.get("cause", []), manifest.get("default_cause"), "foreground", "background",
                  *(f"object={i}" for i in ids if i > 0), *(f"shadow={light}" for light in range(store.manifest["n_lights"]))]
    return list(dict.fromkeys(c for c in candidates if c))


def cause_mask(store, cause: str, frame: int) -> np.ndarray:
    """(H, W) bool: the cause region of `frame`, masked as scoring masks it (`Region.mask` of the ground truth)."""
    region = parse_region(cause)
    gt = {channel: np.asarray(store.channel(channel)[frame:frame + 1]) for channel in region.channels()}
    height, width = store.manifest["height"], store.manifest["width"]
    return region.mask(gt, (1, height, width))[0]


def outlined(picture: np.ndarray, values: np.ndarray, mask: np.ndarray, factor: int, caption: str,
             method: str) -> list[tuple[np.ndarray, str]]:
    """The frame, the map (diverging colours if it has negative values) and |map| over the frame, each enlarged
    `factor` times with the boundary of `mask` (H, W) drawn in cyan."""
    signed = bool((values < 0).any())
    coloured = images.colourise(values, "RdBu_r" if signed else "inferno", symmetric=signed)
    frame = images.enlarge(picture, factor)
    scale = f"{method} map ({values.min():.3g} to {values.max():.3g})"
    shown = [(frame, caption), (images.enlarge(coloured, factor), scale),
             (images.overlay(frame, np.abs(values)), f"|{method}| over the frame")]
    boundary = images.enlarge(mask, factor)
    return [(images.outline(image, boundary), text) for image, text in shown]


@st.cache_resource(show_spinner="Scoring the maps against the cause...")
def computed_scores(directory: str, dataset_directory: str, cause: str, stamp: float) -> list[dict]:
    """`image_scores.score_image_run` of one cause, with the run's seed and the default tolerance (`stamp`: the
    manifest's modification time)."""
    manifest = read_run_manifest(directory)
    manifest = {**manifest, "dataset": {**manifest["dataset"], "path": dataset_directory}}
    seed = manifest["config"].get("settings", {}).get("seed", 0)
    return score_image_run(manifest, open_maps(directory), [cause], None, seed, 64)


def scores_of(ws, directory: Path, manifest: dict, cause: str) -> tuple[pd.DataFrame, str]:
    """(rows of `cause`, one per method and random last; where they come from)."""
    stored = read_stored(directory)
    if len(stored) and cause in set(stored["cause"]):
        return stored[stored["cause"] == cause][SCORE_COLUMNS].reset_index(drop=True), f"{SCORES}"
    dataset_directory = str(ws.relocate(manifest["dataset"]["path"]))
    rows = computed_scores(str(directory), dataset_directory, cause, (directory / "manifest.json").stat().st_mtime)
    return pd.DataFrame(rows)[SCORE_COLUMNS], "computed now (not in scores.csv)"


def read_stored(directory: Path) -> pd.DataFrame:
    path = directory / SCORES
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["cause", *SCORE_COLUMNS])


def scores_chart(table: pd.DataFrame, cause: str) -> go.Figure:
    colours = ["#888888" if method == RANDOM else "#1f77b4" for method in table["method"]]
    figure = go.Figure([go.Bar(x=table["method"], y=table["energy_abs"], marker_color=colours,
                               text=[f"{v:.3f}" for v in table["energy_abs"]], name="energy |a|")])
    figure.add_hline(y=float(table["area"].iloc[0]), line_dash="dash", annotation_text="area (an even map)")
    figure.update_layout(title=f"share of |a| on {cause} (grey: random maps)", yaxis_title="energy |a|", height=320,
                         margin={"t": 40, "b": 10})
    return figure


def feature_link(ws, run: str, manifest: dict) -> None:
    spec = parse_target(manifest["target"])
    features = Path(run.split("/")[0]) / "features" / (spec.hook or "")
    if spec.kind == "feature" and (ws.root / features / "features.csv").is_file():
        kind = "latent" if manifest["config"].get("sae") else "channel"
        st.markdown(f"Target `{manifest['target']}`: [{kind} {spec.index} on the feature page]"
                    f"({state.href('feature', run=str(features), kind=kind, id=spec.index)})")
    else:
        st.markdown(f"Target `{manifest['target']}`")


def show(ws) -> None:
    st.title("Attribution")
    runs = [ws.relative(path) for path in ws.attribution_runs()]
    if not runs:
        data.missing("An attribution run (<model>/attribution/<hook>/latent<ID>)", ws.rerun_command())
        return
    run = url_select("Run", runs, "run", "attribution")
    directory = ws.path(run)
    manifest = read_run_manifest(directory)
    if not manifest.get("complete"):
        data.missing(f"The finished maps of {run}", manifest.get("command") or ws.rerun_command())
        return
    store = dataset_of(ws, manifest)
    feature_link(ws, run, manifest)
    left, middle, right = st.columns(3)
    with left:
        method = url_select("Method", list(manifest["methods"]), "method", "attribution")
    with middle:
        frame = url_number("Frame", "frame", "attribution", 0, 0, manifest["frames"] - 1)
    values = np.asarray(open_maps(directory)[method][frame], dtype=np.float64)
    picture = images.render(np.asarray(store.channel("rgb")[frame]))
    factor = images.display_factor(picture.shape)
    if manifest.get("inputs") == NERF_SAMPLES:
        st.info("A NeRF run: its causes are the surface each ray meets (see the NeRF page); maps shown unoutlined.")
        side_by_side([(images.enlarge(picture, factor), f"frame {frame}"),
                      (images.enlarge(images.colourise(values, "RdBu_r", symmetric=True), factor), f"{method} map")])
        return
    with right:
        cause = url_select("Cause (ground truth)", cause_options(manifest, read_stored(directory), store), "cause",
                           "attribution")
    mask = cause_mask(store, cause, frame)
    side_by_side(outlined(picture, values, mask, factor, f"frame {frame}, {cause} outlined", method))
    energy = energy_in_region(values[None], mask[None])[0][0]
    columns = st.columns(2)
    columns[0].metric(f"energy |a| on {cause}, this frame", f"{energy:.3f}")
    columns[1].metric(f"{cause} area, this frame", f"{mask.mean():.3f}")
    table, source = scores_of(ws, directory, manifest, cause)
    st.subheader(f"Scores on {cause}, all {manifest['frames']} frames ({source})")
    st.plotly_chart(scores_chart(table, cause))
    random = table.loc[table["method"] == RANDOM, "energy_abs"]
    st.dataframe(table.assign(vs_random=table["energy_abs"] / float(random.iloc[0]) if len(random) else np.nan),
                 hide_index=True)
    st.caption("energy |a|: share of |a| on the cause; pointing: the largest |a| within `tolerance` pixels of it; "
               "area: the cause's share of the pixels; vs_random: energy |a| / the random maps' energy |a|")


if __name__ == "__main__":
    run_page(show)
