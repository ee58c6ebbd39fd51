"""The exploration app (`frob app`) against the issue's targets, on a workspace with 16,384 features.

The workspace is `bench/app_study.yaml` run into bench-data/app-workspace (`frob study run`, resumable: made once,
12 minutes on a shared 2-core machine, then reused): TAEF2 on 48 tabletop frames at 128x128, one SAE of 16,384
latents at decoder.5, so the index lists 16,384 latents + 64 raw channels. Measured, each with a baseline from the
same run:

- start: launching `frob app WS --port P` until /_stcore/health (Streamlit's health check) answers and until the
  first page (the default, /overview) has finished its script in a real browser (chromium through Playwright; the
  browser is started beforehand and not counted): its title is shown and Streamlit's "running" widget is gone.
  Baseline: the same for a bare one-line Streamlit app (the framework's own floor). Without chromium at
  /usr/bin/chromium or the playwright package, these rows say "not measured" (`make bench-app` installs chromium
  where it can).
- index and feature pages: `streamlit.testing.v1.AppTest` runs of the page scripts (pages are found by their URL
  path, /index and /feature, through `st.navigation`'s registry), the first run after the app's modules are
  imported (its caches cold) and the median of later runs (cached). Baselines: reading features.csv with pandas
  alone, and an AppTest run of a one-line page (AppTest's own floor).
- intervention: `features.intervene.intervene` on a 128x128 frame with TAEF2 (one latent scaled by 2; the clean and
  the edited forward pass), median of repeats; baseline: one plain forward pass. And through the feature page:
  an AppTest rerun after moving the scale slider.

    python bench/bench_app.py [--workspace bench-data/app-workspace] [--repeats 5] [--profile]

--profile prints where the index page's and the feature page's cached renders spend their time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import logging
import os
import platform
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "bench" / "app_study.yaml"
FROB = str(Path(sys.executable).parent / "frob")
HEALTH = "/_stcore/health"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDTH = 16384
TARGETS = {"start": 5.0, "index": 1.0, "feature": 1.0, "intervention": 2.0}
console = Console(width=200)


def ensure_workspace(workspace: Path) -> None:
    """Run (or resume; a finished workspace is only checked) the bench study."""
    started = time.perf_counter()
    subprocess.run([FROB, "study", "run", str(STUDY), "--out", str(workspace), "--workers", "2"], check=True,
                   stdout=subprocess.DEVNULL)
    console.print(f"workspace {workspace}: ready after {time.perf_counter() - started:.1f} s")


def features_dir(workspace: Path) -> Path:
    return workspace / "taef2" / "features" / "decoder.5"


# --- start-up, in a real browser ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(base: str, process: subprocess.Popen, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base + HEALTH, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    raise SystemExit(f"no answer from {base}{HEALTH} in {limit} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the app we started and nothing else
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def time_start(browser, command: list[str], heading: str) -> tuple[float, float]:
    """(seconds to the health check, seconds until the first page's script has finished in the browser); `command`
    ends with its port option's name."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([*command, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process)
        healthy = time.perf_counter() - started
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(base + "/")
        page.get_by_role("heading", name=heading).first.wait_for()
        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached")
        shown = time.perf_counter() - started
        page.close()
        return healthy, shown
    finally:
        stop(process)


def measure_start(workspace: Path, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    bare = Path(tempfile.mkdtemp()) / "bare.py"
    bare.write_text("import streamlit as st\n\nst.title('bare')\n")
    bare_command = [sys.executable, "-m", "streamlit", "run", str(bare), "--server.address", "127.0.0.1",
                    "--server.headless", "true", "--browser.gatherUsageStats", "false",
                    "--server.fileWatcherType", "none", "--global.developmentMode", "false", "--server.port"]
    study = json.loads((workspace / "manifest.json").read_text()).get("study", "?")
    runs = {"app": [], "bare": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(repeats):
                runs["app"].append(time_start(browser, [FROB, "app", str(workspace), "--port"], f"Study {study}"))
                runs["bare"].append(time_start(browser, bare_command, "bare"))
        finally:
            browser.close()
    return {name: (statistics.median(h for h, _ in values), statistics.median(s for _, s in values), values)
            for name, values in runs.items()}


def time_import(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return time.perf_counter() - started


def measure_imports(repeats: int) -> dict:
    """Where start-up goes: importing frob's CLI (before `frob app` starts streamlit) and the first page's modules,
    each in a fresh interpreter, against importing streamlit alone."""
    modules = {"cli": "frobnoscope.app.cli.main", "page": "frobnoscope.app.web.data", "streamlit": "streamlit"}
    runs = [{name: time_import(module) for name, module in modules.items()} for _ in range(repeats)]
    return {name: statistics.median(run[name] for run in runs) for name in modules}


# --- page renders, through AppTest -----------------------------------------------------------------------------

def app_test(workspace: Path):
    from streamlit.testing.v1 import AppTest

    import frobnoscope.app.web
    from frobnoscope.app.web.data import WORKSPACE_ENV

    os.environ[WORKSPACE_ENV] = str(workspace)
    main = Path(frobnoscope.app.web.__file__).parent / "main.py"
    return main, AppTest.from_file(str(main), default_timeout=600)


def switch(at, main: Path, url_path: str) -> None:
    """Switch `at` to the page registered under `url_path` (after a first run, which registers the pages)."""
    scripts = [info.get("script_path") for info in at._registered_pages.values()
               if info.get("url_pathname") == url_path]
    if not scripts:
        known = [info.get("url_pathname") for info in at._registered_pages.values()]
        raise SystemExit(f"no page at /{url_path}; pages: {known}")
    at.switch_page(os.path.relpath(scripts[0], main.parent))


def timed_run(at) -> float:
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    if at.exception or at.error:
        raise SystemExit(f"the page failed: {[e.value for e in at.exception] + [e.value for e in at.error]}")
    return seconds


def chosen_feature(workspace: Path) -> tuple[str, str, int]:
    """The top-ranked latent (what the index lists first): (run, kind, id)."""
    import pandas as pd

    table = pd.read_csv(features_dir(workspace) / "features.csv")
    latents = table[table["kind"] == "latent"]
    if len(latents) != WIDTH:
        raise SystemExit(f"{features_dir(workspace)} has {len(latents)} latents, not {WIDTH}")
    return str(features_dir(workspace).relative_to(workspace)), "latent", int(latents["feature"].iloc[0])


def profile(label: str, at) -> None:
    """cProfile of one run of `at`'s page: AppTest runs the script on a thread of its own, so the profiler is
    switched on inside the threads started during the run."""
    profiler = cProfile.Profile()
    original = threading.Thread.run

    def profiled_run(thread):
        profiler.enable()
        try:
            original(thread)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run
    try:
        at.run()
    finally:
        threading.Thread.run = original
    console.print(f"[bold]profile: {label}[/bold] (script thread, cumulative, top 45)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(45)


def measure_pages(workspace: Path, repeats: int, show_profile: bool) -> dict:
    import pandas as pd
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit.deprecation_util").disabled = True  # one warning per image would bury the table

    out = {}
    started = time.perf_counter()
    pd.read_csv(features_dir(workspace) / "features.csv", keep_default_na=False, na_values=["nan", "NaN", ""])
    out["read_csv"] = time.perf_counter() - started
    floor = AppTest.from_string("import streamlit as st\nst.title('floor')\n")
    floor.run()
    out["floor"] = statistics.median(timed_run(floor) for _ in range(repeats))

    main, at = app_test(workspace)
    out["overview_first"] = timed_run(at)  # imports the app's modules; registers the pages
    switch(at, main, "index")
    out["index_first"] = timed_run(at)
    out["index"] = statistics.median(timed_run(at) for _ in range(repeats))
    if show_profile:
        profile("index page, cached", at)

    run, kind, feature = chosen_feature(workspace)
    main, at = app_test(workspace)
    at.run()
    at.query_params.update(run=run, kind=kind, id=str(feature))
    switch(at, main, "feature")
    out["feature_first"] = timed_run(at)
    out["feature_runs"] = [timed_run(at) for _ in range(repeats)]
    out["feature"] = statistics.median(out["feature_runs"])
    if show_profile:
        profile("feature page, cached", at)
    slider = next(s for s in at.slider if s.label.startswith("scale the feature"))
    moves = []
    for value in [2.0, 0.0] * ((repeats + 1) // 2):
        slider.set_value(value)
        moves.append(timed_run(at))
        slider = next(s for s in at.slider if s.label.startswith("scale the feature"))
    out["feature_slider"] = statistics.median(moves)
    out["feature_id"] = f"{run}#{kind}:{feature}"
    return out


# --- the intervention itself ------------------------------------------------------------------------------------

def measure_intervention(workspace: Path, repeats: int) -> dict:
    import numpy as np
    import torch

    from frobnoscope.interp.features.intervene import intervene, scale_edit
    from frobnoscope.interp.features.source import FeatureSource
    from frobnoscope.models import load_model
    from frobnoscope.scenes.store import DatasetStore

    _, kind, feature = chosen_feature(workspace)
    source = FeatureSource(features_dir(workspace))
    adapter = load_model(source.store.model_spec)
    rgb = np.asarray(DatasetStore.open(source.store.dataset_path).channel("rgb")[0])
    batch = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    edit = scale_edit(kind, feature, 2.0, sae=source.sae)

    def forward() -> float:
        started = time.perf_counter()
        with torch.no_grad():
            adapter.forward(batch)
        return time.perf_counter() - started

    def edited() -> float:
        started = time.perf_counter()
        intervene(adapter, rgb, source.hook, edit)
        return time.perf_counter() - started

    forward(), edited()  # warm-up: first-call allocations
    pairs = [(forward(), edited()) for _ in range(repeats)]  # interleaved: both see the same machine
    return {"forward": statistics.median(f for f, _ in pairs), "intervene": statistics.median(e for _, e in pairs),
            "size": f"{rgb.shape[1]}x{rgb.shape[0]}", "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=ROOT / "bench-data" / "app-workspace")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile tables of the cached page renders")
    args = parser.parse_args()
    workspace = args.workspace.resolve()
    ensure_workspace(workspace)
    start = None
    if Path(CHROMIUM).is_file() and importlib.util.find_spec("playwright") is not None:
        start = measure_start(workspace, max(1, args.repeats // 2))
    imports = measure_imports(max(1, args.repeats // 2))
    pages = measure_pages(workspace, args.repeats, args.profile)
    intervention = measure_intervention(workspace, args.repeats)

    def verdict(seconds: float, target: float | None) -> str:
        return "" if target is None else ("pass" if seconds < target else "FAIL")

    table = Table("measurement", "seconds", "target", "result", "baseline (same run)", "ratio",
                  title=f"frob app on {WIDTH:,} latents + 64 channels ({platform.processor() or platform.machine()}, "
                        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, torch threads "
                        f"{intervention['threads']}; medians of {args.repeats})")

    def row(name: str, seconds: float, target: float | None, baseline_name: str, baseline: float) -> None:
        table.add_row(name, f"{seconds:.3f}", f"< {target:g}" if target else "-", verdict(seconds, target),
                      f"{baseline_name}: {baseline:.3f} s", f"{seconds / baseline:.1f}x")

    if start is None:
        table.add_row("start: launch to first page (/overview) finished in chromium",
                      "not measured", f"< {TARGETS['start']:g}", "", f"no {CHROMIUM} or no playwright package", "")
    else:
        app_health, app_shown, _ = start["app"]
        bare_health, bare_shown, _ = start["bare"]
        row("start: launch to health check", app_health, None, "bare streamlit app", bare_health)
        row("start: launch to first page (/overview) finished in chromium", app_shown, TARGETS["start"],
            "bare streamlit app", bare_shown)
    row("start, part: import frob's CLI (`frob app` does, then starts streamlit)", imports["cli"], None,
        "import streamlit", imports["streamlit"])
    row("start, part: import the first page's modules (app.web.data)", imports["page"], None, "import streamlit",
        imports["streamlit"])
    row("index page, first render (caches cold)", pages["index_first"], TARGETS["index"], "pandas read_csv",
        pages["read_csv"])
    row("index page, cached", pages["index"], TARGETS["index"], "pandas read_csv", pages["read_csv"])
    row("feature page, first render (caches cold)", pages["feature_first"], None, "one-line page", pages["floor"])
    row("feature page, cached (median of renders 2 on)", pages["feature"], TARGETS["feature"], "one-line page",
        pages["floor"])
    row(f"intervention, {intervention['size']} TAEF2 (`intervene`)", intervention["intervene"],
        TARGETS["intervention"], "one forward pass", intervention["forward"])
    row("intervention through the feature page (slider moved, rerun)", pages["feature_slider"],
        TARGETS["intervention"], "one forward pass", intervention["forward"])
    console.print(table)
    runs = "" if start is None else ("; start runs (health, first page) app: "
                                     + ", ".join(f"({h:.2f}, {s:.2f})" for h, s in start["app"][2])
                                     + "; bare: " + ", ".join(f"({h:.2f}, {s:.2f})" for h, s in start["bare"][2]))
    console.print(f"feature shown: {pages['feature_id']}; its cached renders: "
                  + ", ".join(f"{seconds:.2f}" for seconds in pages["feature_runs"])
                  + f" s; first page of the app in AppTest: {pages['overview_first']:.2f} s{runs}")


if __name__ == "__main__":
    main()
