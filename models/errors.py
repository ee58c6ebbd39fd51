"""Errors of the model layer. Each is a `FrobError`: the CLI prints its one-line message and exits with code 2."""

from frobnoscope.scenes.errors import FrobError


class ModelError(FrobError):
    """A model spec, run directory or model configuration is invalid."""


class WeightsError(ModelError):
    """A weight file is missing, truncated, unsafe to load, or does not fit the architecture."""


class InputError(ModelError):
    """A batch of images does not fit the model (resolution, channel count, NaN values)."""


def first_sentence(error: BaseException) -> str:
    """The first sentence of another library's exception message, to quote inside a one-line error."""
    text = str(error).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(error).__name__
