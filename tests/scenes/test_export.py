"""`frob export`: each format loaded by its real reader and compared with the store, channel by channel.

Float and integer channels must come back bit-exact (inf on background included), RGB pixel-exact
(the renderer's 8-bit values), cameras within 1e-6. nerfstudio's own dataparser runs in the nerfstudio
environment (the `nerfstudio_python` fixture: FROB_NERFSTUDIO_PYTHON, which `make test` sets).
"""

import dataclasses
import glob
import json
import math
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from frobnoscope.scenes.colors import linear_to_render, linear_to_srgb_u8, render_to_linear
from frobnoscope.scenes.export import export, get_format, plan_export, run_export
from frobnoscope.scenes.export import hf as hf_format
from frobnoscope.scenes.export import webdataset as webdataset_format
from frobnoscope.scenes.export.encodings import LINEAR_RGB_FROM_PNG, rgb_to_u8
from frobnoscope.scenes.export.job import SPLITS, ExportError, ExportJob, frame_key
from frobnoscope.scenes.export.nerfstudio import DEPTH_UNIT_SCALE_FACTOR, scene_points_from_nerfstudio
from frobnoscope.scenes.generate import generate

FROB = str(Path(sys.executable).parent / "frob")
TINY = {"res": "32", "max_objects": "3"}
ALL_CHANNELS = ["rgb", "depth_z", "depth_ray", "position_world", "normal_world", "normal_cam", "object_id", "shape_id",
                "material_id", "albedo", "uv", "shading", "shadow", "specular", "edges"]


@pytest.fixture(scope="module")
def orbit(tmp_path_factory):
    """12 views of one scene with train/val/test splits (4 frames per chunk, so reads cross chunks)."""
    return generate("orbit", n=12, seed=1, out=tmp_path_factory.mktemp("data") / "orbit", settings=TINY, chunk_frames=4)


@pytest.fixture(scope="module")
def orbit_without_val(tmp_path_factory):
    """3 views: test, train, train (view k is a val view when k % 8 == 4)."""
    return generate("orbit", n=3, seed=1, out=tmp_path_factory.mktemp("data") / "orbit3", settings=TINY, chunk_frames=4)


@pytest.fixture(scope="module")
def tabletop(tmp_path_factory):
    return generate("tabletop", n=6, seed=2, out=tmp_path_factory.mktemp("data") / "tabletop", settings=TINY, chunk_frames=4)


def store_arrays(store) -> dict[str, np.ndarray]:
    return {name: store.channel(name)[:] for name in store.channel_names()}


def assert_bit_exact(loaded, expected, what):
    loaded = np.asarray(loaded)
    assert loaded.dtype == expected.dtype and loaded.shape == expected.shape, what
    assert np.array_equal(loaded.view(np.uint8), np.ascontiguousarray(expected).view(np.uint8)), what


def split_indices(store, split) -> list[int]:
    return [k for k, frame in enumerate(store.manifest["frames"]) if frame["split"] == split]


def assert_rgb_exact(png_u8, rgb_linear, what):
    assert png_u8.dtype == np.uint8 and np.array_equal(png_u8, linear_to_render(rgb_linear)), what
    assert np.array_equal(render_to_linear(png_u8), rgb_linear), what  # back to the store's float32, bit for bit


# --- colour at the file boundary -------------------------------------------------------------


def test_every_rendered_level_round_trips_through_the_8bit_file_encoding():
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(rgb_to_u8(render_to_linear(levels)), levels)
    # the exact sRGB curve would not: it merges levels, which is why exports keep the renderer's bytes
    assert len(np.unique(linear_to_srgb_u8(render_to_linear(levels)))) < 256


def test_the_documented_rgb_formula_is_the_decoder():
    png = np.arange(256, dtype=np.uint8)
    assert np.array_equal(eval(LINEAR_RGB_FROM_PNG, {"np": np, "png": png}), render_to_linear(png))


def test_store_rgb_is_exactly_encodable(orbit):
    rgb = orbit.channel("rgb")[:]
    assert np.array_equal(render_to_linear(rgb_to_u8(rgb)), rgb)


# --- hf ----------------------------------------------------------------------------------------


def test_hf_export_loads_with_datasets_losslessly_across_shards(orbit, tmp_path, monkeypatch):
    job = plan_export(orbit.path, "hf", tmp_path / "hf")
    monkeypatch.setattr(hf_format, "SHARD_BYTES", 4 * job.bytes_per_frame())  # 4 frames per shard
    monkeypatch.setattr(hf_format, "ROWS_PER_GROUP", 3)
    out = run_export(job)
    expected, frames = store_arrays(orbit), orbit.manifest["frames"]
    counts = {split: len(split_indices(orbit, split)) for split in SPLITS}  # train 9, val 1, test 2
    for split, count in counts.items():
        shards = math.ceil(count / 4)
        paths = sorted((out / "data").glob(f"{split}-*.parquet"))
        assert [p.name for p in paths] == [f"{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
        rows = [min(4, count - 4 * i) for i in range(shards)]
        assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == rows
        assert [pq.ParquetFile(p).metadata.num_row_groups for p in paths] == [math.ceil(r / 3) for r in rows]
    assert counts["train"] > 8  # so train spans three shards
    data_files = {split: sorted(glob.glob(str(out / "data" / f"{split}-*.parquet"))) for split in SPLITS}
    loaded = datasets.load_dataset("parquet", data_files=data_files, cache_dir=tmp_path / "cache")
    assert isinstance(loaded["train"].features["rgb"], datasets.Image)
    assert isinstance(loaded["train"].features["depth_z"], datasets.Array2D)
    seen = []
    for split, rows in loaded.items():
        for row in rows.with_format("numpy", dtype=None):  # dtype=None: the stored dtypes, not datasets' casts
            k = int(row["frobnoscope_index"])
            seen.append(k)
            assert frames[k]["split"] == split == row["split"]
            assert_rgb_exact(row["rgb"], expected["rgb"][k], f"rgb {k}")
            for name in ALL_CHANNELS[1:]:
                assert_bit_exact(row[name], expected[name][k], f"{name} {k}")
            np.testing.assert_allclose(row["camera_to_world"], expected["camera_to_world"][k], atol=1e-6)
            np.testing.assert_allclose(row["intrinsics"], expected["intrinsics"][k], atol=1e-6)
        for row in rows:  # factors as typed python values
            factors = frames[row["frobnoscope_index"]]["factors"]
            assert {name: row[f"factor_{name}"] for name in factors} == factors
    assert sorted(seen) == list(range(12))
    assert np.isinf(expected["depth_z"]).any()  # the comparison above covered background inf


def test_hf_card_describes_features_and_loads_by_directory(orbit, tmp_path):
    out = export(orbit.path, "hf", tmp_path / "hf", channels=["depth_z"])
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0") and "configs:" in card and "## Conventions" in card
    assert "`depth_z`" in card and "`factor_objects`" in card
    assert f"`{LINEAR_RGB_FROM_PNG}`" in card and "** 2.2" not in card
    assert str(orbit.path.parent) not in card and f"the dataset `{orbit.path.name}`" in card
    assert "licensor" in card and "CC BY 4.0" in card
    loaded = datasets.load_dataset(str(out), cache_dir=tmp_path / "cache")
    assert set(loaded) == {"train", "val", "test"} and sum(len(s) for s in loaded.values()) == 12
    assert "rgb" not in loaded["train"].column_names and "depth_z" in loaded["train"].column_names


def test_hf_split_and_dataset_without_splits(orbit, tabletop, tmp_path):
    val = export(orbit.path, "hf", tmp_path / "val", split="val")
    assert [p.name for p in (val / "data").iterdir()] == ["val-00000-of-00001.parquet"]
    unsplit = export(tabletop.path, "hf", tmp_path / "tabletop")
    rows = datasets.load_dataset("parquet", data_files=str(unsplit / "data" / "train-*.parquet"),
                                  cache_dir=tmp_path / "cache")["train"]
    assert rows["frobnoscope_index"] == list(range(6)) and rows["split"] == [None] * 6
    assert rows[0]["factor_n_objects"] == tabletop.manifest["frames"][0]["factors"]["n_objects"]


# --- webdataset --------------------------------------------------------------------------------


def test_webdataset_export_streams_losslessly_across_shards(orbit, tmp_path, monkeypatch):
    job = plan_export(orbit.path, "webdataset", tmp_path / "wds")
    monkeypatch.setattr(webdataset_format, "SHARD_BYTES", 2 * job.bytes_per_frame())  # 2 frames per shard
    out = run_export(job)
    expected, frames = store_arrays(orbit), orbit.manifest["frames"]
    counts = {split: len(split_indices(orbit, split)) for split in SPLITS}  # train 9, val 1, test 2
    expected_names = sorted(f"{split}-{i:05d}-of-{math.ceil(count / 2):05d}.tar"
                            for split, count in counts.items() for i in range(math.ceil(count / 2)))
    shards = sorted(str(p) for p in out.glob("*.tar"))
    assert [Path(s).name for s in shards] == expected_names and len(shards) == 5 + 1 + 1
    for shard in shards:
        with tarfile.open(shard) as tar:  # whole samples: all of a frame's files (channels, camera, factors) in one shard
            keys = [name.split(".")[0] for name in tar.getnames()]
            assert all(keys.count(key) == len(job.channels) + 2 for key in keys) and len(set(keys)) <= 2
    seen = []
    for sample in wds.WebDataset(shards, shardshuffle=False).decode("rgb8"):
        k = int(sample["__key__"].removeprefix("frame_"))
        seen.append(k)
        split = frames[k]["split"]
        position = split_indices(orbit, split).index(k)
        assert Path(sample["__url__"]).name == f"{split}-{position // 2:05d}-of-{math.ceil(counts[split] / 2):05d}.tar"
        assert_rgb_exact(sample["rgb.png"], expected["rgb"][k], f"rgb {k}")
        for name in ALL_CHANNELS[1:]:
            assert_bit_exact(sample[f"{name}.npy"], expected[name][k], f"{name} {k}")
        camera = sample["camera.json"]
        np.testing.assert_allclose(camera["camera_to_world"], expected["camera_to_world"][k], atol=1e-6)
        np.testing.assert_allclose(camera["intrinsics"], expected["intrinsics"][k], atol=1e-6)
        assert (camera["width"], camera["height"]) == (32, 32)
        assert sample["factors.json"] == frames[k]["factors"]
    assert sorted(seen) == list(range(12))


def test_webdataset_channel_subset_and_split(orbit, tmp_path):
    out = export(orbit.path, "webdataset", tmp_path / "wds", channels=["depth_z", "normal_world"], split="test")
    samples = list(wds.WebDataset([str(p) for p in out.glob("*.tar")], shardshuffle=False).decode())
    assert [s["__key__"] for s in samples] == ["frame_000000", "frame_000008"]
    assert {k for k in samples[0] if not k.startswith("__")} == {"depth_z.npy", "normal_world.npy", "camera.json", "factors.json"}


# --- nerfstudio --------------------------------------------------------------------------------


def test_nerfstudio_export_matches_the_store(orbit, tmp_path):
    out = export(orbit.path, "nerfstudio", tmp_path / "ns", channels=["rgb", "depth_z", "object_id", "normal_world"])
    expected, frames = store_arrays(orbit), orbit.manifest["frames"]
    transforms = json.loads((out / "transforms.json").read_text())
    intrinsics = expected["intrinsics"][0]
    assert transforms["camera_model"] == "PINHOLE" and (transforms["w"], transforms["h"]) == (32, 32)
    np.testing.assert_allclose([transforms[k] for k in ("fl_x", "fl_y", "cx", "cy")],
                               intrinsics[[0, 1, 0, 1], [0, 1, 2, 2]], atol=1e-6)
    assert len(transforms["frames"]) == 12
    for record in transforms["frames"]:
        k = record["frobnoscope_index"]
        np.testing.assert_allclose(record["transform_matrix"], expected["camera_to_world"][k], atol=1e-6)
        assert_rgb_exact(np.asarray(Image.open(out / record["file_path"])), expected["rgb"][k], f"rgb {k}")
        depth = np.load(out / record["depth_file_path"]) * DEPTH_UNIT_SCALE_FACTOR  # what nerfstudio does
        finite = np.isfinite(expected["depth_z"][k])
        np.testing.assert_allclose(depth[finite], expected["depth_z"][k][finite], rtol=1e-6)
        assert (depth[~finite] == 0).all()
        mask = np.asarray(Image.open(out / record["mask_path"]))
        assert np.array_equal(mask > 0, expected["object_id"][k] > 0) and set(np.unique(mask)) <= {0, 255}
        for name in ("depth_z", "object_id", "normal_world"):
            assert_bit_exact(np.load(out / record[f"{name}_file_path"]), expected[name][k], f"{name} {k}")
    assert [r["file_path"] for r in transforms["frames"]] == [f"images/{frame_key(k)}.png" for k in range(12)]
    assert frame_key(12) == "frame_000012"
    for split in SPLITS:  # the whole dataset, every split non-empty: nerfstudio gets our splits
        listed = [int(Path(p).stem.removeprefix("frame_")) for p in transforms[f"{split}_filenames"]]
        assert listed == [k for k, f in enumerate(frames) if f["split"] == split]
    frame_transform = json.loads((out / "frame_transform.json").read_text())
    assert frame_transform["scene_from_nerfstudio"] == np.eye(4).tolist()
    assert frame_transform["nerfstudio_dataparser"]["orientation_method"] == "none"


def test_nerfstudio_lists_splits_only_when_every_split_is_exported(orbit, orbit_without_val, tmp_path):
    """Once transforms.json has any *_filenames list, nerfstudio takes every split from the lists: an empty
    train list would leave it nothing to train on. One split, or an empty split, gets no lists at all."""
    one_split = export(orbit.path, "nerfstudio", tmp_path / "train", split="train")
    no_val = export(orbit_without_val.path, "nerfstudio", tmp_path / "noval")
    for out, frame_count in ((one_split, len(split_indices(orbit, "train"))), (no_val, 3)):
        transforms = json.loads((out / "transforms.json").read_text())
        assert len(transforms["frames"]) == frame_count
        assert not [key for key in transforms if key.endswith("_filenames")]
    notes = get_format("nerfstudio").notes(plan_export(orbit.path, "nerfstudio", tmp_path / "x", split="train"))
    assert "only the train split was exported" in notes and "--eval-mode" in notes
    whole = get_format("nerfstudio").notes(plan_export(orbit.path, "nerfstudio", tmp_path / "x"))
    assert "--eval-mode" not in whole


def test_points_map_back_from_a_nerfstudio_frame():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation *= np.sign(np.linalg.det(rotation))
    transform, scale = np.hstack([rotation, rng.normal(size=(3, 1))]), 0.37
    points = rng.normal(size=(10, 3))
    in_nerfstudio = scale * (points @ rotation.T + transform[:, 3])  # what nerfstudio's dataparser applies
    np.testing.assert_allclose(scene_points_from_nerfstudio(in_nerfstudio, transform.tolist(), scale), points, atol=1e-12)


NERFSTUDIO_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
    from nerfstudio.data.utils.data_utils import get_depth_image_from_path
    whole, train_only = Path(sys.argv[1]), Path(sys.argv[2])
    kept = NerfstudioDataParserConfig(data=whole, orientation_method="none", center_method="none",
                                      auto_scale_poses=False, scale_factor=1.0)
    result = {"kept": {}}
    for split in ("train", "val", "test"):
        outputs = kept.setup().get_dataparser_outputs(split=split)
        cameras = outputs.cameras
        depth_files = outputs.metadata["depth_filenames"]
        scale = outputs.metadata["depth_unit_scale_factor"] * outputs.dataparser_scale
        result["kept"][split] = {
            "images": [str(p) for p in outputs.image_filenames], "masks": [str(p) for p in outputs.mask_filenames],
            "camera_to_worlds": cameras.camera_to_worlds.tolist(), "fx": cameras.fx.flatten().tolist(),
            "fy": cameras.fy.flatten().tolist(), "cx": cameras.cx.flatten().tolist(), "cy": cameras.cy.flatten().tolist(),
            "width": cameras.width.flatten().tolist(), "height": cameras.height.flatten().tolist(),
            "dataparser_transform": outputs.dataparser_transform.tolist(), "dataparser_scale": outputs.dataparser_scale,
            "depths": [get_depth_image_from_path(Path(p), 32, 32, scale)[..., 0].tolist() for p in depth_files],
        }
    # nerfstudio's defaults: orientation "up", centring on the poses, auto-scale into [-1, 1]
    outputs = NerfstudioDataParserConfig(data=whole).setup().get_dataparser_outputs(split="train")
    result["default"] = {"images": [str(p) for p in outputs.image_filenames],
                         "positions": outputs.cameras.camera_to_worlds[:, :3, 3].tolist(),
                         "transform": outputs.dataparser_transform.tolist(), "scale": outputs.dataparser_scale}
    # an export of one split has no split lists: nerfstudio splits it by its eval_mode (fraction 0.9)
    config = NerfstudioDataParserConfig(data=train_only)
    result["train_only"] = {split: [str(p) for p in config.setup().get_dataparser_outputs(split=split).image_filenames]
                            for split in ("train", "val")}
    print(json.dumps(result))
""")


def frame_indices(paths) -> list[int]:
    return [int(Path(p).stem.removeprefix("frame_")) for p in paths]


def test_nerfstudio_dataparser_reads_the_export(nerfstudio_python, orbit, tmp_path):
    out = export(orbit.path, "nerfstudio", tmp_path / "ns")
    train_only = export(orbit.path, "nerfstudio", tmp_path / "ns-train", split="train")
    result = subprocess.run([nerfstudio_python, "-c", NERFSTUDIO_SCRIPT, str(out), str(train_only)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    expected = store_arrays(orbit)
    for split, loaded in parsed["kept"].items():
        indices = frame_indices(loaded["images"])
        assert indices == split_indices(orbit, split)
        assert [Path(p).name for p in loaded["masks"]] == [f"{frame_key(k)}.png" for k in indices]
        np.testing.assert_allclose(loaded["dataparser_transform"], np.eye(4)[:3], atol=0)
        assert loaded["dataparser_scale"] == 1.0
        np.testing.assert_allclose(loaded["camera_to_worlds"], expected["camera_to_world"][indices, :3], atol=1e-6)
        for key, (row, col) in {"fx": (0, 0), "fy": (1, 1), "cx": (0, 2), "cy": (1, 2)}.items():
            np.testing.assert_allclose(loaded[key], expected["intrinsics"][indices, row, col], atol=1e-6)
        assert loaded["width"] == loaded["height"] == [32] * len(indices)
        for k, depth in zip(indices, loaded["depths"]):
            depth, depth_z = np.asarray(depth), expected["depth_z"][k]
            finite = np.isfinite(depth_z)
            np.testing.assert_allclose(depth[finite], depth_z[finite], rtol=1e-6)
            assert (depth[~finite] == 0).all()

    # with nerfstudio's default settings the frame moves, and the documented inverse brings the cameras back
    default = parsed["default"]
    indices = frame_indices(default["images"])
    assert indices == split_indices(orbit, "train")
    assert not np.allclose(default["transform"], np.eye(4)[:3]) and default["scale"] != 1.0  # a real round trip
    positions = scene_points_from_nerfstudio(np.asarray(default["positions"]), default["transform"], default["scale"])
    np.testing.assert_allclose(positions, expected["camera_to_world"][indices, :3, 3], atol=1e-5)

    # one split exported: nerfstudio trains on those frames (an empty train_filenames would have left it none)
    train_frames = split_indices(orbit, "train")
    trained, evaluated = (frame_indices(parsed["train_only"][split]) for split in ("train", "val"))
    assert trained and set(trained) | set(evaluated) == set(train_frames)
    assert len(trained) == math.ceil(0.9 * len(train_frames))


# --- nerf-synthetic ----------------------------------------------------------------------------


def load_blender(basedir: Path):
    """What the original NeRF's load_blender.py reads: per split, images from file_path + '.png' (RGBA), poses
    from transform_matrix, focal = .5 * W / tan(.5 * camera_angle_x)."""
    splits = {}
    for split in SPLITS:
        meta = json.loads((basedir / f"transforms_{split}.json").read_text())
        images = np.stack([np.asarray(Image.open(os.path.join(basedir, f["file_path"] + ".png"))) for f in meta["frames"]])
        poses = np.array([f["transform_matrix"] for f in meta["frames"]])
        focal = 0.5 * images.shape[2] / np.tan(0.5 * float(meta["camera_angle_x"]))
        splits[split] = (images, poses, focal, meta["frames"])
    return splits


def test_nerf_synthetic_export_reads_as_the_original_loader_does(orbit, tmp_path):
    out = export(orbit.path, "nerf-synthetic", tmp_path / "blender", channels=["depth_ray"])
    expected, frames = store_arrays(orbit), orbit.manifest["frames"]
    for split, (images, poses, focal, records) in load_blender(out).items():
        indices = [r["frobnoscope_index"] for r in records]
        assert indices == [k for k, f in enumerate(frames) if f["split"] == split]
        assert [r["file_path"] for r in records] == [f"./{split}/r_{i}" for i in range(len(indices))]
        assert images.shape == (len(indices), 32, 32, 4) and images.dtype == np.uint8
        np.testing.assert_allclose(poses, expected["camera_to_world"][indices], atol=1e-6)
        assert math.isclose(focal, expected["intrinsics"][0, 0, 0], rel_tol=1e-9)
        for image, k, record in zip(images, indices, records):
            assert_rgb_exact(image[..., :3], expected["rgb"][k], f"rgb {k}")
            assert np.array_equal(image[..., 3], np.where(expected["object_id"][k] > 0, 255, 0))
            assert_bit_exact(np.load(out / record["depth_ray_file_path"]), expected["depth_ray"][k], f"depth_ray {k}")
            assert_bit_exact(np.load(out / record["object_id_file_path"]), expected["object_id"][k], f"object_id {k}")


def test_nerf_synthetic_refuses_cameras_it_cannot_describe_before_writing(orbit, tmp_path, monkeypatch):
    intrinsics = orbit.channel("intrinsics")[:]
    non_square = intrinsics.copy()
    non_square[5, 1, 1] *= 1.1  # fy != fx
    zoomed = intrinsics.copy()
    zoomed[5, :2, :2] *= 1.1  # square pixels, centred, but another focal length than frame 0
    for array, message in [
        (non_square, r"frame 5 has fx=\S+ fy=\S+ cx=16 cy=16 at 32x32; nerf-synthetic needs square pixels and a centred "
                     r"principal point: use format nerfstudio"),
        (zoomed, r"frame 5 has focal length \S+ and frame 0 \S+; nerf-synthetic has one camera_angle_x for all frames: "
                 r"use format nerfstudio"),
    ]:
        monkeypatch.setattr(ExportJob, "intrinsics", property(lambda job, array=array: array))
        with pytest.raises(ExportError, match=message):
            plan_export(orbit.path, "nerf-synthetic", tmp_path / "blender")  # refused while planning
    assert list(tmp_path.iterdir()) == []


# --- errors and atomic output ------------------------------------------------------------------


def test_errors_name_the_problem_and_write_nothing(orbit, orbit_without_val, tabletop, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    cases = [
        (dict(data=orbit, fmt="parquet-ish", out=tmp_path / "a"), "unknown export format 'parquet-ish'; choose one of nerfstudio"),
        (dict(data=orbit, fmt="hf", out=tmp_path / "a", channels=["depth"]), "has no channel 'depth'; channels: rgb, depth_z"),
        (dict(data=orbit, fmt="hf", out=tmp_path / "a", channels=["intrinsics"]), "every export writes the cameras"),
        (dict(data=orbit, fmt="webdataset", out=existing), "already exists; export never overwrites"),
        (dict(data=orbit, fmt="webdataset", out=tmp_path / "a", split="holdout"), "unknown split 'holdout'"),
        (dict(data=tabletop, fmt="hf", out=tmp_path / "a", split="val"), "has no splits; leave out the split"),
        (dict(data=tabletop, fmt="nerf-synthetic", out=tmp_path / "a"), "needs train/val/test splits"),
        (dict(data=orbit, fmt="nerf-synthetic", out=tmp_path / "a", split="train"),
         r"nerf-synthetic always writes train, val and test \(its loader opens all three\); leave out the split"),
        (dict(data=orbit_without_val, fmt="nerf-synthetic", out=tmp_path / "a"), "has no val frames"),
    ]
    for case, message in cases:
        with pytest.raises(ExportError, match=message):
            export(case["data"].path, case["fmt"], case["out"], channels=case.get("channels"), split=case.get("split"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert [p.name for p in existing.iterdir()] == ["keep.txt"] and (existing / "keep.txt").read_text() == "mine"


def test_a_failed_export_leaves_no_output(orbit, tmp_path, monkeypatch):
    fmt = get_format("webdataset")
    written = []

    def fail_halfway(job, directory, advance):
        def advance_then_fail():
            written.extend(directory.iterdir())
            raise KeyboardInterrupt  # as if the user pressed ctrl-c mid-export

        fmt.write(job, directory, advance_then_fail)

    monkeypatch.setattr(webdataset_format, "FORMAT", dataclasses.replace(fmt, write=fail_halfway))
    with pytest.raises(KeyboardInterrupt):
        export(orbit.path, "webdataset", tmp_path / "new" / "deeper" / "out")
    assert written and list(tmp_path.iterdir()) == []  # the parents it made are gone too


def test_an_output_that_appears_meanwhile_is_left_alone(orbit, tmp_path):
    out = tmp_path / "made" / "out"
    job = plan_export(orbit.path, "webdataset", out, channels=["depth_z"], split="val")

    def someone_else_makes_out(done, total):
        if done == total:
            out.mkdir()  # empty: a plain rename(2) would silently replace it

    with pytest.raises(ExportError, match="appeared while exporting; it was left as it is"):
        run_export(job, someone_else_makes_out)
    assert list(out.iterdir()) == [] and [p.name for p in out.parent.iterdir()] == ["out"]


def test_the_export_follows_the_umask(orbit, tmp_path):
    previous = os.umask(0o027)
    try:
        out = export(orbit.path, "webdataset", tmp_path / "wds", channels=["depth_z"], split="val")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert [stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()] == [0o640, 0o640]  # the shard and manifest.json


def test_missing_library_names_the_extra(orbit, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ExportError, match=r"needs the Python package 'datasets'; install it with: pip install 'frobnoscope\[export\]'"):
        export(orbit.path, "hf", tmp_path / "hf")
    assert list(tmp_path.iterdir()) == []


# --- the command line --------------------------------------------------------------------------


def frob(*args):
    return subprocess.run([FROB, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_exports_and_prints_the_nerfstudio_flags(orbit, tmp_path):
    result = frob("export", orbit.path, "--format", "nerfstudio", "--out", tmp_path / "ns", "--channels", "rgb,depth_z")
    assert result.returncode == 0, result.stderr
    assert "wrote 12 frames (rgb, depth_z)" in result.stdout
    assert "nerfstudio-data --orientation-method none --center-method none --auto-scale-poses False --scale-factor 1.0" in result.stdout
    manifest = json.loads((tmp_path / "ns" / "manifest.json").read_text())
    assert manifest["export_format"] == "nerfstudio" and manifest["channels"] == ["rgb", "depth_z"]
    assert manifest["source"]["params"] == orbit.manifest["params"] and manifest["frames"] == list(range(12))


def test_cli_help_lists_every_format_from_the_registry():
    result = subprocess.run([FROB, "export", "--help"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    for name in ("nerfstudio", "nerf-synthetic", "hf", "webdataset"):
        assert f"{name} - {get_format(name).summary}" in result.stdout


def test_cli_errors_are_one_line_with_exit_code_2(orbit, tmp_path):
    for args, message in [
        (["--format", "tiff"], "unknown export format 'tiff'"),
        (["--format", "hf", "--channels", "rgb,nope"], "has no channel 'nope'"),
        (["--format", "nerf-synthetic", "--split", "val"], "leave out the split"),
    ]:
        result = frob("export", orbit.path, "--out", tmp_path / "x", *args)
        assert result.returncode == 2 and message in result.stderr
        assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x").exists()
