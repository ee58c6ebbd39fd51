"""One writer per run directory: a second writer stops in one line and touches nothing; a lock left by a process
that died is taken over with a note; the lock sits beside the directory, never in it."""

import os
import signal
import subprocess
import sys
import time

import pytest

from frobnoscope.engine.lock import RunLocked, lock_path, run_lock

HOLD = ("import sys, time; from frobnoscope.engine.lock import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    """A process holding the lock of tmp_path/run (killed with SIGKILL at the end of the test, if still alive)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_writer_is_refused_naming_the_holder(holder, tmp_path):
    message = rf"run is being written by process {holder.pid} on \S+ \(-c .*run\); wait for it to finish"
    with pytest.raises(RunLocked, match=message) as error:
        with run_lock(tmp_path / "run"):
            pytest.fail("the lock was taken twice")
    assert "\n" not in str(error.value)


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_note(holder, tmp_path):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    notes = []
    with run_lock(tmp_path / "run", on_note=notes.append):
        (note,) = notes
        assert f"left by process {holder.pid}" in note and "no longer running" in note
    with run_lock(tmp_path / "run", on_note=notes.append):  # released cleanly: no note this time
        assert len(notes) == 1


def test_the_lock_lives_beside_the_run_directory(tmp_path):
    with run_lock(tmp_path / "run"):
        assert lock_path(tmp_path / "run") == tmp_path / ".run.lock" and not (tmp_path / "run").exists()


def test_a_command_that_finds_its_run_directory_locked_stops_and_writes_nothing(holder, tmp_path):
    frob = os.path.join(os.path.dirname(sys.executable), "frob")
    command = [frob, "scenes", "generate", "--family", "tabletop", "--n", "2", "--res", "16", "--out",
               str(tmp_path / "run")]
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"is being written by process {holder.pid}" in refused.stderr and not (tmp_path / "run").exists()
    holder.kill()
    holder.wait()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and "taking over the lock" in done.stderr, done.stderr
    assert (tmp_path / "run" / "manifest.json").is_file() and time.monotonic() - started < 120
