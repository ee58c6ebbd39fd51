"""Fixtures of the interp tests: a small tabletop dataset (the tiny model is `tiny_model_spec`, tests/conftest.py),
and the `frob` command run in this process (`frob_cli`) with its options' defaults (`cli_defaults`)."""

import sys

import pytest


@pytest.fixture(scope="session")
def interp_dataset(tmp_path_factory):
    """16 tabletop frames at 32x32, chunks of 4."""
    from frobnoscope.scenes.generate import generate

    return generate("tabletop", n=16, seed=7, out=tmp_path_factory.mktemp("interp-data") / "tabletop",
                    settings={"res": "32"}, chunk_frames=4)


@pytest.fixture
def frob_cli(monkeypatch, capsys):
    """`frob_cli(*args)` -> (exit code, stderr) of `frob ARGS` run through the CLI's `main()`, as a shell runs it."""

    def run(*args) -> tuple[int, str]:
        from frobnoscope.app.cli.main import main

        monkeypatch.setattr(sys, "argv", ["frob", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        return exit_info.value.code, capsys.readouterr().err

    return run


@pytest.fixture(scope="session")
def cli_defaults():
    """`cli_defaults(SAERunConfig, "sae", "train")` -> {field: (the option's default, the field's default)} for every
    option of `frob sae train` named after an optional field of the config."""
    import typer

    from frobnoscope.app.cli.main import app

    def pairs(config_class, *path: str) -> dict:
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        fields = config_class.model_fields
        return {param.name: (param.default, fields[param.name].get_default(call_default_factory=True))
                for param in command.params if param.name in fields and not fields[param.name].is_required()}

    return pairs
