"""Fixtures of the interp tests: a small tabletop dataset (the tiny model is `tiny_model_spec`, tests/conftest.py),
and the `frob` options' defaults (`cli_defaults`); `frob_cli` is in tests/conftest.py."""


import pytest


@pytest.fixture(scope="session")
def interp_dataset(tmp_path_factory):
    """16 tabletop frames at 32x32, chunks of 4."""
    from frobnoscope.scenes.generate import generate

    return generate("tabletop", n=16, seed=7, out=tmp_path_factory.mktemp("interp-data") / "tabletop",
                    settings={"res": "32"}, chunk_frames=4)


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
