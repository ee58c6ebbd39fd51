"""The errors users see. Every message is a single line naming the problem and the fix; the CLI prints it and
exits with code 2. Each package keeps its own subclasses (`scenes.errors`, `models.errors`, `interp.errors`)."""


class FrobError(Exception):
    """Base for every error the CLI reports as one line with a non-zero exit code."""


class RunError(FrobError):
    """A run directory is missing, damaged, of another format, or was made with other settings."""


class WeightsError(FrobError):
    """A tensor file (weights, checkpoint) is missing, truncated, unsafe to load, or does not fit the model."""


def first_sentence(error: BaseException) -> str:
    """The first sentence of another library's exception message, to quote inside a one-line error."""
    text = str(error).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(error).__name__
