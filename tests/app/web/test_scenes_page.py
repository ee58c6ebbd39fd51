"""The Scenes page on the ci workspace: frame browser, URL state, pixel values, factor filter, overlays as numpy."""

import numpy as np
import pandas as pd

from frobnoscope.app.web.views import scenes
from frobnoscope.scenes.store import DatasetStore

from .conftest import assert_no_errors, open_page


def widget(elements, label):
    return next(w for w in elements if w.label == label)


def captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions] + [c.value for c in at.caption]


def test_the_page_shows_a_frame_with_its_channels_and_factors(study_workspace):
    at = open_page(study_workspace, "scenes", dataset="tabletop")
    assert_no_errors(at)
    assert widget(at.selectbox, "dataset").options == ["orbit", "tabletop"]
    assert widget(at.selectbox, "channel").value == "depth_z"
    assert {w.label for w in at.number_input} == {"row", "col"}
    assert "12 of 12 frames match" in captions(at)
    assert "frame 0: render" in captions(at) and "frame 0: depth_z" in captions(at)
    factors = at.dataframe[1].value
    assert "n_objects" in set(factors["factor"])
    objects = at.dataframe[2].value
    frame = DatasetStore.open(study_workspace / "data" / "tabletop").manifest["frames"][0]
    assert list(objects["name"]) == [o["name"] for o in frame["factors"]["objects"]]


def test_frame_and_channel_round_trip_through_the_url(study_workspace):
    at = open_page(study_workspace, "scenes", dataset="tabletop", frame=5, channel="normal_world",
                   view="over the render", opacity=0.25)
    assert_no_errors(at)
    assert widget(at.selectbox, "frame").value == 5
    assert widget(at.selectbox, "channel").value == "normal_world"
    assert widget(at.slider, "opacity").value == 0.25
    assert "frame 5: normal_world over the render (opacity 0.25)" in captions(at)
    widget(at.selectbox, "frame").set_value(7).run()
    assert at.query_params["frame"] == ["7"] or at.query_params["frame"] == "7"
    assert "frame 7: render" in captions(at)


def test_the_pixel_table_holds_every_channel_value_at_that_pixel(study_workspace):
    k, row, col = 3, 5, 21
    at = open_page(study_workspace, "scenes", dataset="tabletop", frame=k, row=row, col=col)
    assert_no_errors(at)
    table = at.dataframe[0].value.set_index("channel")
    store = DatasetStore.open(study_workspace / "data" / "tabletop")
    expected = np.concatenate([np.atleast_1d(store.channel(name)[k, row, col]).astype(np.float64)
                               for name in store.manifest["channels"]])
    np.testing.assert_array_equal(table["value"].to_numpy(), expected)
    assert table.loc["normal_world.y", "value"] == float(store.channel("normal_world")[k, row, col, 1])
    object_id = int(store.channel("object_id")[k, row, col])
    if object_id:
        assert table.loc["object_id", "note"] == store.manifest["frames"][k]["spec"]["objects"][object_id - 1]["name"]


def test_a_numeric_filter_browses_only_the_matching_frames(study_workspace):
    frames = DatasetStore.open(study_workspace / "data" / "tabletop").manifest["frames"]
    wanted = [f["index"] for f in frames if 1 <= f["factors"]["n_objects"] <= 2]
    assert 0 < len(wanted) < len(frames)
    at = open_page(study_workspace, "scenes", dataset="tabletop", by="n_objects", lo=1, hi=2, frame=wanted[-1])
    assert_no_errors(at)
    assert widget(at.selectbox, "frame").options == [str(k) for k in wanted]
    assert widget(at.selectbox, "frame").value == wanted[-1]
    assert widget(at.slider, "n_objects").value == (1, 2)
    assert f"{len(wanted)} of {len(frames)} frames match" in captions(at)


def test_matching_frames_by_a_range_or_by_object_attributes():
    frames = [{"index": i, "split": None, "factors": {"light": light, "objects": objects}}
              for i, (light, objects) in enumerate([(0.5, [{"shape": "box"}]), (1.5, [{"shape": "cone"}]),
                                                    (2.5, [{"shape": "box"}, {"shape": "torus"}])])]
    table = scenes.factor_table(frames)
    assert scenes.filterable(table) == ["light", "objects.shape"]
    assert scenes.matching_frames(table, "light", 1.0, 3.0) == [1, 2]
    assert scenes.matching_frames(table, "objects.shape", chosen=["torus"]) == [2]
    assert scenes.matching_frames(table, "objects.shape", chosen=["box", "cone"]) == [0, 1, 2]
    assert scenes.matching_frames(table, None) == [0, 1, 2]


def test_overlay_and_pixel_marker_as_numpy():
    render = np.full((8, 8, 3), 200, dtype=np.uint8)
    picture = np.zeros((8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(scenes.blend(render, picture, 0.0), render)
    np.testing.assert_array_equal(scenes.blend(render, picture, 0.25), np.full((8, 8, 3), 150))
    marked = scenes.marked(render, 2, 5)
    scale = marked.shape[0] // 8
    assert tuple(marked[2 * scale + scale // 2, 5 * scale + scale // 2]) == (200, 200, 200)  # the pixel itself
    assert tuple(marked[1 * scale, 5 * scale]) == (0, 255, 255)  # the ring around its 3 x 3 neighbourhood
    assert tuple(marked[6 * scale, 1 * scale]) == (200, 200, 200)


def test_pixel_table_names_components_and_ids():
    frame = {"normal_world": np.zeros((2, 2, 3), np.float32), "object_id": np.array([[0, 2], [1, 1]], np.uint16),
             "edges": np.array([[0, 5], [0, 0]], np.uint8)}
    table = scenes.pixel_table(frame, 0, 1, {"objects": [{"name": "ground"}, {"name": "box_0"}]})
    assert list(table["channel"]) == ["normal_world.x", "normal_world.y", "normal_world.z", "object_id", "edges"]
    assert list(table["note"])[-2:] == ["box_0", "silhouette, self-occlusion"]
    assert isinstance(table, pd.DataFrame)
