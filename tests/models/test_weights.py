"""Weights load only through safetensors or torch.load(weights_only=True); bad files are one-line errors naming them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from frobnoscope.engine.tensor_files import load_state_dict, save_safetensors_atomic
from frobnoscope.models import load_model
from frobnoscope.models.errors import WeightsError

FROB = str(Path(sys.executable).parent / "frob")


class CodeOnLoad:
    """A pickle that runs code when loaded: it would create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_needs_code_is_refused_and_never_runs(save_tiny_taesd_pair, tmp_path):
    marker = tmp_path / "pwned"
    prefix = save_tiny_taesd_pair(tmp_path / "weights")
    state = torch.load(f"{prefix}_encoder.pth", weights_only=True)
    torch.save({**state, "payload": CodeOnLoad(marker)}, f"{prefix}_encoder.pth")
    with pytest.raises(WeightsError) as error:
        load_model(f"taesd:{prefix}")
    message = str(error.value)
    assert message.startswith(f"refusing to load {prefix}_encoder.pth: it is a pickle that needs arbitrary code")
    assert "(it calls " in message and "\n" not in message
    assert not marker.exists()


def test_missing_and_truncated_files_name_the_file(save_tiny_taesd_pair, tmp_path):
    prefix = save_tiny_taesd_pair(tmp_path)
    decoder = Path(f"{prefix}_decoder.pth")
    decoder.write_bytes(decoder.read_bytes()[: decoder.stat().st_size // 2])
    with pytest.raises(WeightsError, match=f"weight file {decoder} is not a readable torch file \\(truncated or damaged"):
        load_model(f"taesd:{prefix}")
    decoder.unlink()
    with pytest.raises(WeightsError, match=f"weight file {decoder} does not exist"):
        load_model(f"taesd:{prefix}")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="is empty"):
        load_state_dict(empty)


def test_safetensors_round_trip_and_truncation(tmp_path):
    path = tmp_path / "w.safetensors"
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)}
    save_safetensors_atomic(tensors, path)
    loaded = load_state_dict(path)
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temp file left behind
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match=f"weight file {path} is not a readable safetensors file"):
        load_state_dict(path)


def test_a_truncated_diffusers_model_is_a_one_line_error(tiny_autoencoder_kl, tmp_path):
    tiny_autoencoder_kl().save_pretrained(tmp_path)
    weights = tmp_path / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(WeightsError) as error:
        load_model(f"sd-vae:{tmp_path}")
    assert str(error.value).startswith(f"cannot load {tmp_path} with diffusers") and "\n" not in str(error.value)


def test_cli_reports_unsafe_weights_in_one_line_with_exit_code_2(save_tiny_taesd_pair, tmp_path):
    prefix = save_tiny_taesd_pair(tmp_path)
    torch.save({"payload": CodeOnLoad(tmp_path / "pwned")}, f"{prefix}_decoder.pth")
    result = subprocess.run([FROB, "models", "hooks", f"taesd:{prefix}"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "400"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "refusing to load" in result.stderr
    assert not (tmp_path / "pwned").exists()
