"""The app's tests run against a tiny workspace made by `frob study run ci` (once per xdist worker: every test here
is in the `web` group, so they share one), driven by Streamlit's AppTest (`open_page`)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from frobnoscope.app.study.builtin import study_path
from frobnoscope.app.study.plan import plan_study
from frobnoscope.app.study.runner import run_study
from frobnoscope.app.study.schema import load_study
from frobnoscope.app.web.data import WORKSPACE_ENV

WEB = Path(__import__("frobnoscope.app.web", fromlist=["_"]).__file__).parent
MAIN = WEB / "main.py"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/app/web" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group("web"))


@pytest.fixture(scope="session")
def study_workspace(tmp_path_factory) -> Path:
    """The ci study's workspace (read-only for tests: copy it before changing anything)."""
    workspace = tmp_path_factory.mktemp("app") / "ws"
    study = load_study(study_path("ci"))
    run_study(plan_study(study, workspace), workspace, study.name)
    return workspace


def open_page(workspace: Path, page: str | None = None, timeout: float = 60, **params) -> AppTest:
    """The app on `workspace`, at `page` (a script name under views/, e.g. "feature"; None: the default page) with
    these query parameters, after one run."""
    import os

    os.environ[WORKSPACE_ENV] = str(workspace)
    at = AppTest.from_file(str(MAIN), default_timeout=timeout)
    for name, value in params.items():
        at.query_params[name] = str(value)
    if page is not None:
        at.switch_page(f"views/{page}.py")
    return at.run()


def assert_no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
