"""The nerfstudio environment for the tests that need it (nerfstudio needs numpy<2: its own environment).

FROB_NERFSTUDIO_PYTHON names its Python; `make test` builds .venv-nerfstudio (`make nerfstudio-env`) and sets it.
Without it a test is skipped, or fails where FROB_REQUIRE_NERFSTUDIO=1 (as in CI, `.ci/run`).
"""

import os

import pytest

PYTHON_VARIABLE = "FROB_NERFSTUDIO_PYTHON"
REQUIRE_VARIABLE = "FROB_REQUIRE_NERFSTUDIO"


def nerfstudio_python() -> str:
    """The nerfstudio environment's Python; skips the test without one, or fails it where one is required."""
    python = os.environ.get(PYTHON_VARIABLE)
    if not python:
        message = (f"{PYTHON_VARIABLE} is not set; `make nerfstudio-env` builds .venv-nerfstudio, then "
                   f"{PYTHON_VARIABLE}=.venv-nerfstudio/bin/python")
        if os.environ.get(REQUIRE_VARIABLE) == "1":
            pytest.fail(f"{REQUIRE_VARIABLE}=1 but {message}")
        pytest.skip(message)
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        pytest.fail(f"{PYTHON_VARIABLE}={python} is not an executable Python; run `make nerfstudio-env`")
    return python
