"""The one exception type users see: its message is a single line naming the problem and the fix."""


class FrobError(Exception):
    """Base for every error the CLI reports as one line with a non-zero exit code."""


class SpecError(FrobError):
    """A scene spec (or family config) is invalid."""


class RendererUnavailable(FrobError):
    """No headless OpenGL platform could be set up."""


class StoreError(FrobError):
    """A dataset directory is missing, damaged, or was made with different parameters."""
