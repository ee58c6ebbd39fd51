"""A regular (non-editable) install ships every module and data file of the source tree, and each module imports.

The wheel is built from a copy of the repository (`pip wheel --no-deps --no-build-isolation`, so nothing is written
into the working tree), installed with `pip install --target DIR`, and imported by `python -S` whose sys.path is
[DIR, the venv's site-packages]: -S keeps site from reading the editable install's .pth finder, so `frobnoscope`
can only come from DIR. Every .py of the source tree (`source_modules`) must be in the wheel: a folder without an
`__init__.py`, or one setup.py stops finding, fails here.

Not imported: `frobnoscope.models.nerfstudio.method`, which imports nerfstudio (the `nerfstudio` extra, its own
environment: tests/models/nerfstudio). `nerfstudio.train` and `nerfstudio.time_to_psnr` import it only when run,
so they are imported here.
"""

import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from shutil import copytree

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDS_NERFSTUDIO = {"frobnoscope.models.nerfstudio.method"}
DATA_SUFFIXES = {".txt", ".yaml"}  # [tool.setuptools.package-data] in pyproject.toml
NOT_COPIED = {"tests", "docs", "site", "bench", "build", "demo-data", "bench-data"}  # top-level folders
IMPORT_ALL = """
import importlib, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    try:
        found[name] = importlib.import_module(name).__file__
    except BaseException as error:
        found[name] = f"ERROR {type(error).__name__}: {error}"
print(json.dumps(found))
"""


def not_copied(directory: str, names: list[str]) -> set[str]:
    """What the wheel is not built from: caches, dot folders (the venvs, .git), and at the top NOT_COPIED."""
    skipped = {name for name in names if name.startswith(".") or name == "__pycache__" or name.endswith(".egg-info")}
    return skipped | (NOT_COPIED & set(names) if Path(directory) == ROOT else set())


def pip(*args) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip {args[0]} failed: {result.stderr[-3000:]}"


def installed_modules(site: Path) -> set[str]:
    return {".".join(p.relative_to(site).with_suffix("").parts).removesuffix(".__init__")
            for p in (site / "frobnoscope").rglob("*.py")}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A fresh DIR with the wheel installed in it (DIR/frobnoscope/...)."""
    work = tmp_path_factory.mktemp("packaging")
    copytree(ROOT, work / "src", ignore=not_copied)
    pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", work / "dist", work / "src")
    wheel, = (work / "dist").glob("frobnoscope-*.whl")
    pip("install", "--no-deps", "--no-index", "--target", work / "site", wheel)
    return work / "site"


def test_the_wheel_ships_every_module_and_data_file_of_the_source_tree(site, source_modules):
    assert "frobnoscope.app.cli.main" in source_modules and "frobnoscope.engine.runs" in source_modules
    missing = sorted(set(source_modules) - installed_modules(site))
    assert missing == [], f"not in the wheel (does setup.py find their package?): {missing}"
    tops = {ROOT / path.relative_to(ROOT).parts[0] for path in source_modules.values()}
    data = {p.relative_to(ROOT) for top in tops for p in top.rglob("*") if p.suffix in DATA_SUFFIXES and p.is_file()}
    assert Path("models/nerfstudio/constraints.txt") in data
    missing_data = sorted(str(p) for p in data if not (site / "frobnoscope" / p).is_file())
    assert missing_data == [], f"package data not in the wheel ([tool.setuptools.package-data]): {missing_data}"


def test_every_installed_module_imports_from_the_install(site):
    names = sorted(installed_modules(site) - NEEDS_NERFSTUDIO)
    assert "frobnoscope.app.cli.main" in names and "frobnoscope.engine.runs" in names
    script = f"import sys; sys.path[:0] = {[str(site), sysconfig.get_paths()['purelib']]!r}\n{IMPORT_ALL}"
    result = subprocess.run([sys.executable, "-S", "-c", script, json.dumps(names)], capture_output=True, text=True,
                            cwd=site, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    failed = {name: where for name, where in found.items() if where.startswith("ERROR")}
    assert failed == {}, f"modules of the install that do not import: {failed}"
    outside = {name: where for name, where in found.items() if not where.startswith(str(site / "frobnoscope"))}
    assert outside == {}, f"imported from somewhere other than the install (the editable finder?): {outside}"
