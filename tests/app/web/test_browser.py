"""One real-browser smoke test of `frob app`: Debian's chromium, driven by Playwright, names a feature and finds the
name again after a reload, and in WORKSPACE/labels.jsonl.

The app runs as a user starts it (`frob app WORKSPACE --port P`, a subprocess on a free loopback port) on a copy of
the ci study's workspace. Screenshots of each step go to $FROB_ARTIFACTS/test_browser (kept as CI artifacts) or to
pytest's tmp_path. The test skips only when chromium or the playwright package is missing, and fails instead where
CI requires the browser (FROB_REQUIRE_BROWSER=1, set in `.ci/run`; `make test` installs chromium when it can).
Playwright drives the system chromium (`executable_path`); it never downloads a browser of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REQUIRE_BROWSER = "FROB_REQUIRE_BROWSER"
ARTIFACTS = "FROB_ARTIFACTS"
HEALTH = "/_stcore/health"  # Streamlit's health check (200 "ok" once the server accepts sessions)
WAIT_MS = 90_000  # the first page imports torch and the interp stack: slow on a loaded 2-core machine
NAME = "browser-test frobnoloid"
ROW_HEIGHT = 35


def _skip_or_fail(message: str) -> NoReturn:
    """As tests/conftest.py does for FROB_REQUIRE_WEIGHTS and FROB_REQUIRE_NERFSTUDIO."""
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{REQUIRE_BROWSER}=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")  # session: checked before the session-scoped workspace is built
def sync_playwright():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _skip_or_fail(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test` does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    return sync_playwright


@pytest.fixture
def screenshots(tmp_path) -> Path:
    root = os.environ.get(ARTIFACTS)
    directory = Path(root) / "test_browser" if root else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app_url(study_workspace, tmp_path):
    """`frob app` on a copy of the ci workspace: yields (base URL, workspace); stopped at teardown."""
    workspace = tmp_path / "ws"
    shutil.copytree(study_workspace, workspace)
    port = free_port()
    frob = Path(sys.executable).parent / "frob"
    with open(tmp_path / "app.log", "w+") as log:
        process = subprocess.Popen([str(frob), "app", str(workspace), "--port", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, process, log)
            yield base, workspace
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # its own session (start_new_session): the app, nothing else
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def wait_healthy(base: str, process: subprocess.Popen, log, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"frob app exited with {process.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(base + HEALTH, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"frob app did not answer {HEALTH} within {limit:g} s")
        time.sleep(0.2)


def select_first_row(page) -> None:
    """Tick the first row of the index table: the grid is drawn on a canvas, so click where the first row's selection
    box is (left edge, below the header; Streamlit's rows and header are ROW_HEIGHT pixels high). The table starts
    in the first screenful of the page, so nothing is scrolled (scrolling a table taller than the window would move
    its first row out of view)."""
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    x, y = box["x"] + 18, box["y"] + ROW_HEIGHT * 1.5
    assert 0 <= y < page.viewport_size["height"], f"the index table's first row is out of view (y = {y})"
    page.mouse.click(x, y)


def finished(page) -> None:
    """Wait until the page's script has finished (Streamlit's running indicator, shown while it runs, is gone)."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached")


@pytest.mark.slow
def test_a_name_given_in_the_browser_survives_a_reload_and_the_feature_can_be_intervened_on(sync_playwright, app_url, screenshots):
    from playwright.sync_api import expect

    base, workspace = app_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(f"{base}/index")
            page.get_by_role("heading", name="Frobnoloid index").wait_for()
            page.locator('[data-testid="stDataFrame"]').first.wait_for()
            finished(page)
            page.wait_for_timeout(500)  # the grid draws on its canvas after the element appears
            page.screenshot(path=screenshots / "1-index.png", full_page=True)

            select_first_row(page)
            page.wait_for_url("**/feature?*")
            title = page.get_by_role("heading", level=1).filter(has_text=" at ")
            title.wait_for()
            finished(page)
            page.screenshot(path=screenshots / "2-feature.png", full_page=True)
            query = parse_qs(urlparse(page.url).query)
            run, kind, feature = query["run"][0], query["kind"][0], int(query["id"][0])
            assert f"{kind} {feature} at " in title.inner_text()

            name_box = page.get_by_label("name", exact=True)
            name_box.fill(NAME)
            name_box.press("Tab")
            page.get_by_role("button", name="save").click()
            page.get_by_text(f"saved {NAME}").wait_for()
            page.screenshot(path=screenshots / "3-saved.png", full_page=True)

            page.reload()
            renamed = page.get_by_role("heading", level=1).filter(has_text=f"{kind} {feature} at ")
            renamed.filter(has_text=NAME).wait_for()
            expect(page.get_by_label("name", exact=True)).to_have_value(NAME, timeout=WAIT_MS)
            finished(page)
            page.screenshot(path=screenshots / "4-reloaded.png", full_page=True)

            slider = page.get_by_role("slider")  # the intervention: 0 ablates the feature; one step up scales it
            slider.focus()
            slider.press("ArrowRight")
            page.get_by_text("output, feature x 0.25").wait_for()
            finished(page)
            assert page.evaluate("new URL(window.location.href).searchParams.get('scale')") == "0.25"
            page.screenshot(path=screenshots / "5-intervened.png", full_page=True)
        except Exception:
            with contextlib.suppress(Exception):  # what the page showed when it failed, if it still can
                page.screenshot(path=screenshots / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    entries = [json.loads(line) for line in (workspace / "labels.jsonl").read_text().splitlines()]
    assert entries[-1]["feature"] == f"{run}#{kind}:{feature}"
    assert entries[-1]["name"] == NAME


@pytest.mark.slow
def test_clicking_a_pixel_on_the_scenes_page_lists_its_ground_truth(sync_playwright, app_url, screenshots):
    base, _ = app_url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(f"{base}/scenes?dataset=tabletop&frame=2&channel=object_id&row=16&col=16")
            page.get_by_text("Pixel (row 16, col 16)").wait_for()
            finished(page)
            plot = page.locator(".js-plotly-plot .nsewdrag").first
            plot.wait_for()
            box = plot.bounding_box()
            page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + 0.8 * box["height"])
            clicked = page.get_by_text("Pixel (row ").filter(has_not_text="row 16, col 16")
            clicked.wait_for()
            finished(page)
            page.screenshot(path=screenshots / "scenes-clicked.png", full_page=True)
            shown = clicked.inner_text()
            query = page.evaluate("Object.fromEntries(new URL(window.location.href).searchParams)")
            assert shown == f"Pixel (row {query['row']}, col {query['col']})"
            assert int(query["row"]) > 16 > int(query["col"])  # lower left of the picture
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=screenshots / "scenes-failure.png", full_page=True)
            raise
        finally:
            browser.close()
