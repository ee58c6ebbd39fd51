"""Scenes: browse the frames of any dataset in the workspace, with every ground-truth channel.

Shows one frame's render, any ground-truth channel as a picture (`images.channel_picture`) or blended over the render
(picture = (1 - opacity) * render + opacity * channel picture), the value of every channel at one pixel (row, col;
components named as the probes name them, e.g. normal_world.x), the frame's factors, its objects and its spec.
Frames can be filtered by one factor: a range of a numeric factor, or a set of values of a categorical one (for the
objects' attributes, e.g. objects.shape, a frame matches when any of its objects has a chosen value).
URL: dataset, by, lo, hi, is (values joined by "|"), frame, channel, view, opacity, row, col.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from frobnoscope.app.web import data, images, state
from frobnoscope.app.web.page import run_page
from frobnoscope.app.web.widgets import new_click, pixel_picker, url_select
from frobnoscope.interp.probes.linear import component_names
from frobnoscope.scenes.spec import SHAPE_KINDS

NO_FILTER = "(all frames)"
VIEWS = ("picture", "over the render")
DEFAULT_CHANNEL = "depth_z"
SEPARATOR = "|"
EDGE_BITS = ((1, "silhouette"), (2, "occlusion boundary"), (4, "self-occlusion"))


def factor_table(frames: list[dict]) -> pd.DataFrame:
    """One row per frame (indexed by frame number): split, every scalar factor, and objects.<key> (the sorted
    distinct values of a text attribute over the frame's objects, as a tuple)."""
    rows = []
    for frame in frames:
        row = {"split": frame.get("split")}
        objects = frame.get("factors", {}).get("objects", [])
        row.update({name: value for name, value in frame.get("factors", {}).items() if not isinstance(value, list)})
        for key in sorted({key for o in objects for key, value in o.items() if isinstance(value, str)} - {"name"}):
            row[f"objects.{key}"] = tuple(sorted({str(o[key]) for o in objects if key in o}))
        rows.append(row)
    return pd.DataFrame(rows, index=[frame["index"] for frame in frames])


def is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def choices(column: pd.Series) -> list[str]:
    """The values a categorical factor takes (tuples of objects.<key> counted value by value)."""
    values = column.explode() if column.map(lambda v: isinstance(v, tuple)).any() else column
    return sorted({str(v) for v in values.dropna()})


def filterable(table: pd.DataFrame) -> list[str]:
    """Factors that vary across frames (a constant one filters nothing)."""
    return [name for name in table.columns if len(choices(table[name])) > 1]


def matching_frames(table: pd.DataFrame, factor: str | None, low=None, high=None, chosen=()) -> list[int]:
    """Frames whose numeric `factor` lies in [low, high], or whose categorical one is (or, for tuples, holds) one of
    `chosen`; every frame without a factor."""
    if factor is None:
        return list(table.index)
    column = table[factor]
    if is_numeric(column):
        return list(table.index[(column >= low) & (column <= high)])
    wanted = set(chosen)
    hits = column.map(lambda v: bool(wanted & {str(x) for x in v}) if isinstance(v, tuple) else str(v) in wanted)
    return list(table.index[hits.astype(bool)])


def pixel_table(frame: dict[str, np.ndarray], row: int, col: int, spec: dict) -> pd.DataFrame:
    """Every channel's value at pixel (row, col) of one frame, one row per component (object_id: the object's name,
    spec.objects[id - 1])."""
    rows = []
    for channel, values in frame.items():
        value = np.atleast_1d(np.asarray(values[row, col], dtype=np.float64))
        for name, component in zip(component_names(channel, len(value)), value):
            rows.append({"channel": name, "value": float(component), "note": note(channel, component, spec)})
    return pd.DataFrame(rows)


def note(channel: str, value: float, spec: dict) -> str:
    """What an id means: the object's name, the shape's kind, the edge kinds set in the bitmask."""
    objects = spec.get("objects", [])
    if channel == "object_id" and 0 < value <= len(objects):
        return objects[int(value) - 1].get("name", "")
    if channel == "shape_id" and 0 < value <= len(SHAPE_KINDS):
        return SHAPE_KINDS[int(value) - 1]
    if channel == "edges" and value:
        return ", ".join(name for bit, name in EDGE_BITS if int(value) & bit)
    return ""


def blend(render: np.ndarray, picture: np.ndarray, opacity: float) -> np.ndarray:
    return ((1 - opacity) * render.astype(np.float64) + opacity * picture).round().astype(np.uint8)


def marked(picture: np.ndarray, row: int, col: int) -> np.ndarray:
    """`picture` enlarged (`images.enlarged`), with a ring around pixel (row, col)'s 3 x 3 neighbourhood."""
    mask = np.zeros(picture.shape[:2], dtype=bool)
    mask[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2] = True
    return images.outline(images.enlarged(picture, 384), images.enlarged(mask, 384))


@st.cache_resource(show_spinner=False, max_entries=16)
def frame_channels(directory: str, k: int) -> dict[str, np.ndarray]:
    """Every per-pixel channel of frame k (the camera arrays left out)."""
    store = data.dataset(directory)
    return store.read_frame(k, list(store.manifest["channels"]))



def clamped(name: str, default, low, high, cast=int):
    """The URL parameter `name` (or `default`), clipped to [low, high]."""
    return min(max(state.param(name, default, cast), low), high)


def choose_frames(table: pd.DataFrame) -> list[int]:
    by = url_select("filter frames by", [NO_FILTER, *filterable(table)], "by", "scenes")
    if by == NO_FILTER:
        state.keep(by=None, lo=None, hi=None, **{"is": None})
        return matching_frames(table, None)
    column = table[by]
    if is_numeric(column):
        cast = int if pd.api.types.is_integer_dtype(column) else float
        bottom, top = cast(column.min()), cast(column.max())
        low = clamped("lo", bottom, bottom, top, cast)
        low, high = st.slider(by, bottom, top, (low, clamped("hi", top, low, top, cast)))
        state.keep(by=by, lo=low, hi=high, **{"is": None})
        return matching_frames(table, by, low, high)
    values = choices(column)
    remembered = [v for v in (state.param("is", "") or "").split(SEPARATOR) if v in values]
    chosen = st.multiselect(by, values, default=remembered or values)
    state.keep(by=by, lo=None, hi=None, **{"is": SEPARATOR.join(chosen)})
    return matching_frames(table, by, chosen=chosen)


def show(ws) -> None:
    st.title("Scenes")
    datasets = ws.datasets()
    if not datasets:
        data.missing("A dataset", ws.rerun_command())
        return
    dataset = url_select("dataset", datasets, "dataset", "scenes")
    directory = str(ws.path(f"data/{dataset}"))
    store = data.dataset(directory)
    frames = store.manifest["frames"]
    table = factor_table(frames)
    left, right = st.columns([1, 2])
    with left:
        matching = choose_frames(table)
    if not matching:
        st.warning("No frame matches this filter.")
        state.keep(dataset=dataset)
        return
    k = url_select("frame", matching, "frame", "scenes", where=left, cast=int)
    left.caption(f"{len(matching)} of {len(frames)} frames match")
    state.keep(dataset=dataset, frame=k)
    show_frame(store, directory, k, right)
    show_factors(frames[k], table.loc[k])


def show_frame(store, directory: str, k: int, column) -> None:
    channels = frame_channels(directory, k)
    names = list(channels)
    height, width = channels["rgb"].shape[:2]
    with column:
        top = st.columns(4)
        channel = url_select("channel", names, "channel", "scenes", where=top[0], default=DEFAULT_CHANNEL)
        view = url_select("view", list(VIEWS), "view", "scenes", where=top[1])
        pick_key = f"scenes.pick.{k}.{channel}"
        clicked = new_click(pick_key)
        if clicked is not None:
            state.keep(row=clicked[0], col=clicked[1])
        row = top[2].number_input("row", 0, height - 1, clamped("row", height // 2, 0, height - 1))
        col = top[3].number_input("col", 0, width - 1, clamped("col", width // 2, 0, width - 1))
        opacity = None
        if view == VIEWS[1]:
            opacity = st.slider("opacity", 0.0, 1.0, clamped("opacity", 0.5, 0.0, 1.0, float), 0.05)
        state.keep(channel=channel, view=view, row=row, col=col, opacity=opacity)
        render = images.render(channels["rgb"])
        picture = images.channel_picture(channel, channels[channel])
        if opacity is not None:
            picture = blend(render, picture, opacity)
        pictures = st.columns(2)
        pictures[0].image(marked(render, row, col), caption=f"frame {k}: render")
        with pictures[1]:
            pixel_picker(picture, row, col, key=pick_key)
            st.caption(f"frame {k}: {channel}" + (f" over the render (opacity {opacity:.2f})" if opacity is not None
                                                  else ""))
            st.caption("click a pixel (or set row and col) to list every ground-truth value there")
        st.caption(f"{channel}: {store.manifest['channels'][channel]['meaning']}")
    pixels = pixel_table(channels, row, col, store.manifest["frames"][k].get("spec", {}))
    with column:
        st.markdown(f"**Pixel (row {row}, col {col})**")
        st.dataframe(pixels, hide_index=True, key="pixel_table", height=35 * (len(pixels) + 1) + 3)


def show_factors(frame: dict, factors: pd.Series) -> None:
    st.subheader(f"Frame {frame['index']}: factors")
    scalars = {name: str(value) for name, value in factors.items() if not isinstance(value, tuple)}
    st.dataframe(pd.DataFrame({"factor": list(scalars), "value": list(scalars.values())}), hide_index=True,
                 key="factor_table")
    st.markdown("**Objects**")
    st.dataframe(pd.DataFrame(frame.get("factors", {}).get("objects", [])), hide_index=True, key="objects_table")
    with st.expander("Spec (what the renderer drew)"):
        st.json(frame.get("spec", {}), expanded=False)


if __name__ == "__main__":
    run_page(show)
