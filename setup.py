"""Package discovery for setuptools (the rest of the metadata is in pyproject.toml).

Each top-level folder is one subpackage of `frobnoscope` (`scenes/` is `frobnoscope.scenes`); every folder below
them that has an `__init__.py` is found here, so a new subpackage cannot drop out of a regular install.
"""

from pathlib import Path

from setuptools import setup

TOP_LEVEL = ("engine", "scenes", "models", "interp", "app")
ROOT = Path(__file__).parent

packages = sorted(
    "frobnoscope." + ".".join(init.parent.relative_to(ROOT).parts)
    for top in TOP_LEVEL for init in (ROOT / top).rglob("__init__.py") if "__pycache__" not in init.parts
)
setup(packages=packages, package_dir={f"frobnoscope.{top}": top for top in TOP_LEVEL})
