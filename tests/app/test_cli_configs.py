"""Commands whose settings are a config (`train ae`, `train nerf`, `scenes generate`): each flag takes its default and
help from the config field it sets, and a value the config refuses is a one-line error naming the flag (exit 2)."""

import sys

import pytest
from typer.main import get_command

from frobnoscope.app.cli.main import app, main
from frobnoscope.models.autoencoders.train import AutoencoderTrainConfig
from frobnoscope.models.nerf.train import NerfTrainConfig
from frobnoscope.scenes.generate_config import GenerateConfig

# command -> (its config, {option: the field path it sets})
COMMANDS = {
    "train ae": (AutoencoderTrainConfig, {name: name for name in (
        "arch", "steps", "batch_size", "learning_rate", "seed", "holdout_every", "checkpoint_every", "encoding")}),
    "train nerf": (NerfTrainConfig, {
        "steps": "steps", "encoding": "field.encoding", "rays_per_step": "rays_per_step",
        "coarse_samples": "sampling.coarse_samples", "fine_samples": "sampling.fine_samples",
        "hidden_width": "field.hidden_width", "learning_rate": "learning_rate", "seed": "seed",
        "eval_every": "eval_every", "checkpoint_every": "checkpoint_every", "threads": "threads"}),
    "scenes generate": (GenerateConfig, {name: name for name in ("family", "n", "seed", "chunk_frames")}),
}


def field_info(config_class, path: str):
    """The pydantic FieldInfo at a dotted path of a config class."""
    head, _, rest = path.partition(".")
    info = config_class.model_fields[head]
    return field_info(info.annotation, rest) if rest else info


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_take_their_default_and_help_from_the_config(command):
    config_class, fields = COMMANDS[command]
    click_command = get_command(app)
    for name in command.split():
        click_command = click_command.commands[name]
    options = {param.name: param for param in click_command.params}
    for option, path in fields.items():
        info = field_info(config_class, path)
        assert options[option].default == info.get_default(call_default_factory=True), (option, path)
        assert options[option].help == info.description and info.description, (option, path)


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["frob", *map(str, args)])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, messages", [
    (["train", "ae", "DATA", "--steps", "0", "--arch", "vq"],
     ["--arch: Input should be 'kl-small' or 'conv'", "--steps: Input should be greater than or equal to 1"]),
    (["train", "nerf", "DATA", "--encoding", "fourier", "--fine-samples", "-1", "--threads", "0"],
     ["--encoding: Input should be 'hash' or 'frequency'",
      "--fine-samples: Input should be greater than or equal to 0", "--threads: Input should be greater than"]),
    (["scenes", "generate", "--n", "2", "--res", "0", "--set", "max_objects=0", "--chunk-frames", "0"],
     ["--res: Input should be greater than 0", "--set max_objects: Input should be greater than or equal to 1",
      "--chunk-frames: Input should be greater than or equal to 1"]),
    (["scenes", "generate", "--n", "2", "--set", "colour=red"], ["--set: unknown setting 'colour' for tabletop"]),
    (["scenes", "generate", "--n", "2", "--workers", "0"], ["--workers: must be at least 1, got 0"]),
    (["scenes", "generate", "--n", "2", "--set", "res=0"], ["--res: Input should be greater than 0"]),  # --set, no --res
], ids=["train ae", "train nerf", "scenes generate", "unknown setting", "workers", "res set"])
def test_a_refused_value_is_one_line_naming_the_flag(args, messages, monkeypatch, capsys, tmp_path):
    code, stderr = run_main(monkeypatch, capsys, *args, "--out", tmp_path / "out")
    assert code == 2 and stderr.strip().count("\n") == 0, stderr
    assert all(message in stderr for message in messages), stderr
    assert "settings." not in stderr and "field." not in stderr and "sampling." not in stderr
    assert not (tmp_path / "out").exists()
