"""`hf`: Hugging Face parquet shards and a dataset card, loaded by `datasets.load_dataset`.

    README.md                               dataset card: YAML header (licence, configs), features, conventions
    data/{split}-00000-of-00002.parquet     one row per frame; `train` for a dataset without splits

Columns (the `datasets` features live in each shard's schema metadata, so no card is needed to load):
    frobnoscope_index  int32      the frame's index in the source store
    split              string     train / val / test, null for a dataset without splits
    rgb                Image      PNG of the renderer's 8-bit pixels (see `encodings`)
    <channel>          Array2D/3D every other chosen channel with its own dtype, shape (H, W[, C]): lossless, inf kept
    camera_to_world    Array2D    (4, 4) float64, OpenGL convention
    intrinsics         Array2D    (3, 3) float64, pixels
    factor_<name>      typed      one column per factor (float64, int64, string, lists, list of object structs)

    from datasets import load_dataset
    ds = load_dataset("parquet", data_files={"train": "out/data/train-*.parquet"}).with_format("numpy", dtype=None)

(`dtype=None` keeps the stored dtypes: datasets' numpy format otherwise casts integers to int64 and floats,
the float64 cameras included, to float32.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from frobnoscope.scenes.export.encodings import png_bytes, rgb_to_u8
from frobnoscope.scenes.export.hf_card import FACTOR_PREFIX, dataset_card
from frobnoscope.scenes.export.job import ExportFormat, ExportFrame, ExportJob
from frobnoscope.scenes.export.output import require
from frobnoscope.scenes.export.shards import ShardedFiles

SHARD_BYTES = 512 << 20  # raw channel bytes per shard: about 512 MiB
ROWS_PER_GROUP = 16  # frames per parquet row group (and per write)
# Dictionary encoding only pays for the split name; tried on the pixel arrays it triples the write time.
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": ["split"]}
NAME = "hf"


def factors_type_of(job: ExportJob):
    """One arrow struct type for the factors of every exported frame (so every shard has the same schema)."""
    pa = require("pyarrow", NAME)
    return pa.array([job.store.manifest["frames"][k]["factors"] for k in job.indices]).type


def features(job: ExportJob, factors_type):
    """The `datasets.Features` of the export's rows; `factors_type` is `factors_type_of(job)`, computed once per export."""
    datasets = require("datasets", NAME)
    pa = require("pyarrow", NAME)
    columns = {"frobnoscope_index": datasets.Value("int32"), "split": datasets.Value("string")}
    for name in job.channels:
        if name == "rgb":
            columns[name] = datasets.Image()
        else:
            shape = job.channel_pixel_shape(name)
            array_type = datasets.Array2D if len(shape) == 2 else datasets.Array3D
            columns[name] = array_type(shape=shape, dtype=job.store.manifest["channels"][name]["dtype"])
    columns["camera_to_world"] = datasets.Array2D(shape=(4, 4), dtype="float64")
    columns["intrinsics"] = datasets.Array2D(shape=(3, 3), dtype="float64")
    factor_fields = [pa.field(FACTOR_PREFIX + f.name, f.type) for f in factors_type]
    columns.update(datasets.Features.from_arrow_schema(pa.schema(factor_fields)))
    return datasets.Features(columns)


def _array_column(values: np.ndarray, extension_type):
    """(rows, *shape) numpy -> a `datasets` ArrayND column (nested arrow lists), without Python objects."""
    pa = require("pyarrow", NAME)
    nested = pa.array(np.ascontiguousarray(values).reshape(-1))
    for size in reversed(values.shape[1:]):
        count = len(nested) // size
        nested = pa.ListArray.from_arrays(pa.array(np.arange(0, (count + 1) * size, size, dtype=np.int32)), nested)
    return pa.ExtensionArray.from_storage(extension_type, nested)


def _table(frames: list[ExportFrame], job: ExportJob, schema, factors_type):
    pa = require("pyarrow", NAME)
    columns = {"frobnoscope_index": pa.array([f.index for f in frames], pa.int32()),
               "split": pa.array([f.split for f in frames], pa.string())}
    for name in job.channels:
        if name == "rgb":
            images = [{"bytes": png_bytes(rgb_to_u8(f.channels[name])), "path": None} for f in frames]
            columns[name] = pa.array(images, schema.field(name).type)
        else:
            columns[name] = _array_column(np.stack([f.channels[name] for f in frames]), schema.field(name).type)
    for name in ("camera_to_world", "intrinsics"):
        columns[name] = _array_column(np.stack([getattr(f, name) for f in frames]), schema.field(name).type)
    factors = pa.array([f.factors for f in frames], factors_type)
    for i, field in enumerate(factors_type):
        columns[FACTOR_PREFIX + field.name] = factors.field(i)
    return pa.Table.from_pydict(columns, schema=schema)


class _Shard:
    """One parquet file, written a row group at a time."""

    def __init__(self, path: Path, job: ExportJob, schema, factors_type):
        parquet = require("pyarrow.parquet", NAME)
        self.writer = parquet.ParquetWriter(path, schema, **PARQUET_OPTIONS)
        self.job, self.schema, self.factors_type = job, schema, factors_type
        self.pending: list[ExportFrame] = []

    def add(self, frame: ExportFrame) -> None:
        self.pending.append(frame)
        if len(self.pending) == ROWS_PER_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(_table(self.pending, self.job, self.schema, self.factors_type))
            self.pending = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def write(job: ExportJob, directory: Path, advance: Callable[[], None]) -> None:

    factors_type = factors_type_of(job)
    row_features = features(job, factors_type)
    schema = row_features.arrow_schema
    (directory / "data").mkdir()
    shards = ShardedFiles(job, directory / "data", ".parquet", SHARD_BYTES,
                          open_shard=lambda path: _Shard(path, job, schema, factors_type), close_shard=_Shard.close)
    try:
        for frame in job.frames():
            shards.writer_for(frame.index).add(frame)
            advance()
    finally:
        shards.close()
    (directory / "README.md").write_text(dataset_card(job, row_features, shards))


FORMAT = ExportFormat(
    name=NAME, summary="Hugging Face parquet shards + dataset card; RGB as Image, channels as lossless arrays",
    write=write, libraries=("pyarrow", "datasets"),
)
