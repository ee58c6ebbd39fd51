"""The shared job progress bar: its rate counts only the work done since the job (re)started."""

import io
import time

from rich.console import Console

from frobnoscope.app.cli.progress import job_progress


def test_the_rate_leaves_out_a_resumed_jobs_finished_frames_and_is_right_when_drawn_once():
    output = io.StringIO()
    console = Console(file=output, force_terminal=False, width=120)  # not a terminal: drawn once, at the end
    with job_progress("generate", console) as on_progress:
        on_progress(40, 100)  # resumed: 40 frames were done before
        start = time.perf_counter()
        time.sleep(0.2)
        on_progress(100, 100)
        elapsed = time.perf_counter() - start
    text = output.getvalue()
    rate = float(text.split("frames/s")[0].split()[-1])
    assert "100/100" in text
    assert 0.5 * 60 / elapsed < rate <= 60 / elapsed  # 60 frames over the time since the first report
