"""`CheckedArray`: reads of a damaged chunk are one-line errors naming the file, never wrong values. Plain zarr reads a
missing chunk as the fill value and decodes a blosc chunk cut short without noticing (both shown here)."""

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec

from frobnoscope.engine.checked_array import CheckedArray
from frobnoscope.engine.errors import RunError

FIX = "rerun the command that made it"


@pytest.fixture
def array(tmp_path):
    """(8, 4, 4) float16 in chunks of 4 frames: chunk 0 incompressible (blosc stores it as is), chunk 1 compressible."""
    group = zarr.open_group(str(tmp_path), mode="w")
    stored = group.create_array("x", shape=(8, 4, 4), chunks=(4, 4, 4), dtype="float16", fill_value=np.nan,
                                compressors=BloscCodec(cname="lz4", clevel=9, shuffle="shuffle"))
    data = np.concatenate([np.random.default_rng(0).standard_normal((4, 4, 4)), np.zeros((4, 4, 4))]).astype("float16")
    stored[:] = data
    return CheckedArray(zarr.open_group(str(tmp_path), mode="r")["x"], tmp_path, FIX), data, tmp_path / "x" / "c"


def test_whole_chunks_read_as_zarr_reads_them(array):
    checked, data, _ = array
    np.testing.assert_array_equal(checked[:], data)
    np.testing.assert_array_equal(checked[5], data[5])
    np.testing.assert_array_equal(checked[-1], data[7])
    np.testing.assert_array_equal(checked.get_orthogonal_selection(([1, 6],)), data[[1, 6]])
    np.testing.assert_array_equal(np.asarray(checked), data)
    assert checked.shape == (8, 4, 4) and checked.chunks == (4, 4, 4) and len(checked) == 8


def test_a_missing_chunk_is_an_error_not_the_fill_value(array):
    checked, data, chunks = array
    (chunks / "0" / "0" / "0").unlink()
    assert np.isnan(zarr.open_array(str(chunks.parent), mode="r")[2]).all()  # what zarr alone returns
    for read in (lambda: checked[2], lambda: checked[:], lambda: checked.get_orthogonal_selection(([1, 6],)),
                 lambda: np.asarray(checked)):
        with pytest.raises(RunError) as error:
            read()
        assert str(error.value) == f"{chunks / '0' / '0' / '0'} (frames 0-3 of x) is missing; {FIX}"
    np.testing.assert_array_equal(checked[4:], data[4:])  # the other chunk still reads


def test_a_chunk_cut_short_is_an_error_though_blosc_decodes_it(array):
    checked, data, chunks = array
    path = chunks / "0" / "0" / "0"
    path.write_bytes(path.read_bytes()[:60])
    unchecked = zarr.open_array(str(chunks.parent), mode="r")[0:4]  # no error: garbage past the end of the file
    assert not np.array_equal(unchecked, data[:4], equal_nan=True)
    with pytest.raises(RunError, match=r"\(frames 0-3 of x\) is cut short; rerun"):
        checked[0]


def test_a_chunk_that_does_not_decode_is_named(array):
    checked, _, chunks = array
    path = chunks / "1" / "0" / "0"
    encoded = bytearray(path.read_bytes())
    encoded[16:] = b"\xff" * (len(encoded) - 16)  # the header (and its size) kept, the compressed stream destroyed
    path.write_bytes(bytes(encoded))
    with pytest.raises(RunError, match=r"\(frames 4-7 of x\) does not decode \(cut short or overwritten\); rerun"):
        checked[3:6]
