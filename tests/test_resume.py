"""Crash and resume: runs killed with SIGKILL at random moments, resumed, equal to one never killed.

Each trial starts `cmpsim run` on a small scenario (orders, dispatches, a bill cycle with posting
files and a rejected journal re-posted, communications), kills it with SIGKILL after a random wall
delay spread over the whole run (so the kills land in every phase: setup, orders, billing, posting,
communications, the end), resumes it with `cmpsim run --resume`, and compares every table of the
database and every file of the run folder with a run that was never interrupted. The seed of the
delays is printed, so a failure can be replayed.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import cmpsim
from cmpsim.errors import RunInterrupted, StopRequested
from cmpsim.runs import resume
from cmpsim.scenario import load
from cmpsim.store import table_checksum

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "scenarios" / "crash.yaml"
KILLS = int(os.environ.get("CMPSIM_RESUME_KILLS", "20"))
SEED = int(os.environ.get("CMPSIM_RESUME_SEED", "20261124"))


def _cmpsim(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cmpsim.cli import main; main()", *args]


def fingerprint(run_dir: Path) -> dict[str, str]:
    """Every table's content and every file's bytes (the database file itself aside)."""
    out: dict[str, str] = {}
    con = duckdb.connect(str(run_dir / "cmpsim.duckdb"), read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            out[f"table {table}"] = table_checksum(con, table)
    finally:
        con.close()
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("cmpsim.duckdb"):
            out[f"file {path.relative_to(run_dir)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, str], float]:
    out = tmp_path_factory.mktemp("reference") / "run"
    began = time.monotonic()
    subprocess.run(_cmpsim("run", str(SCENARIO), "--out", str(out), "--json"), check=True, capture_output=True,
                   cwd=ROOT, timeout=600)
    return fingerprint(out), time.monotonic() - began


def test_runs_killed_at_random_moments_resume_to_the_same_database_and_files(reference, tmp_path):
    expected, wall = reference
    rng = random.Random(SEED)
    print(f"crash/resume: {KILLS} kills, seed {SEED}, reference run {wall:.1f} s")
    undone = 0  # trials killed with file changes after the last flush, which the resume undid
    for trial in range(KILLS):
        out = tmp_path / f"trial-{trial:02d}"
        # Stratified over the run: trial k dies somewhere in the k-th slice of a whole run's wall time
        # (the machine's speed varies, so a run that finished first is started again, killed sooner).
        fraction = (trial + rng.random()) / KILLS
        for attempt in range(5):
            shutil.rmtree(out, ignore_errors=True)
            delay = wall * fraction * 0.8**attempt
            began = time.monotonic()
            process = subprocess.Popen(_cmpsim("run", str(SCENARIO), "--out", str(out), "--json"), cwd=ROOT,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                process.wait(timeout=delay)
                wall = time.monotonic() - began  # finished before the kill: this is how long a run takes now
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                break
        else:
            pytest.fail(f"trial {trial}: every run finished before it could be killed")
        journal = out / ".cmpsim-journal"
        undone += journal.is_file() and journal.stat().st_size > 0
        resumed = subprocess.run(_cmpsim("run", str(SCENARIO), "--resume", str(out), "--json"), cwd=ROOT,
                                 capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, f"trial {trial} (kill after {delay:.2f} s): {resumed.stderr}"
        got = fingerprint(out)
        differ = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        assert not differ, f"trial {trial} (kill after {delay:.2f} s, seed {SEED}) differs in {differ[:10]}"
        assert not journal.exists()
    if KILLS >= 10:
        assert undone, "no kill landed after a file change of a flush window: the journal was never tried"


def test_resume_of_a_finished_run_changes_nothing(reference, tmp_path):
    expected, _ = reference
    out = tmp_path / "done"
    subprocess.run(_cmpsim("run", str(SCENARIO), "--out", str(out)), check=True, capture_output=True, cwd=ROOT)
    result = subprocess.run(_cmpsim("run", "--resume", str(out), "--json"), capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert '"scenario": "crash"' in result.stdout
    assert fingerprint(out) == expected


def test_resume_without_a_run_is_a_clear_error(tmp_path):
    result = subprocess.run(_cmpsim("run", "--resume", str(tmp_path / "nothing")), capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 2
    assert "expected a run folder written by cmpsim run (marked .cmpsim-run), found no such mark and no " \
           "cmpsim.duckdb" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_a_run_saying_how_to_continue_it_and_the_resumed_run_is_the_same(reference, tmp_path):
    expected, wall = reference
    out = tmp_path / "interrupted"
    # As in a terminal: Ctrl-C is delivered (a parent that runs in the background may have it ignored).
    process = subprocess.Popen(_cmpsim("run", str(SCENARIO), "--out", str(out)), cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while not (out / "cmpsim.duckdb").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(wall * 0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 3, stderr
    assert "stopped on request in day" in stderr and f"cmpsim run --resume {out}" in stderr
    assert "Traceback" not in stderr
    assert not (out / "run.json").exists()
    resumed = subprocess.run(_cmpsim("run", str(SCENARIO), "--resume", str(out), "--json"), cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert fingerprint(out) == expected


def test_a_progress_callback_stops_a_run_on_the_hour_and_the_same_process_resumes_it(reference, tmp_path):
    expected, _ = reference
    out = tmp_path / "stopped"
    seen: list[float] = []

    def stop_at_a_day_and_a_half(done: float, days: int) -> None:
        seen.append(done)
        if done >= 1.5:
            raise StopRequested

    with pytest.raises(RunInterrupted) as stopped:
        cmpsim.run(load(SCENARIO), out=out, progress=stop_at_a_day_and_a_half)
    assert stopped.value.days_done == 1.5 and seen == [hour / 24 for hour in range(37)]
    assert f"stopped on request in day 2 of {stopped.value.days}" in str(stopped.value)
    # The database was closed and the folder's lock let go: this very process continues the run.
    seen.clear()
    resumed = resume(out, SCENARIO, progress=lambda done, days: seen.append(done))
    resumed.close()
    assert seen[-1] == stopped.value.days and seen == sorted(seen)
    assert fingerprint(out) == expected


def test_ctrl_c_while_duckdb_reads_a_frame_of_the_run_stops_it_as_ctrl_c_anywhere_else(tmp_path):
    """Ctrl-C that lands while DuckDB reads a frame registered from Python reaches the run as DuckDB's
    InvalidInputException naming the KeyboardInterrupt (seen in CI): it stops the run resumably, with
    the message and exit of any Ctrl-C, not a traceback."""
    import pyarrow as pa

    from cmpsim.runs import _stoppable
    from cmpsim.store import Store, registered

    schema = pa.schema([("order_id", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise KeyboardInterrupt  # what Python's SIGINT handler raises in the middle of the read

    store = Store(tmp_path / "cmpsim.duckdb")
    with pytest.raises(RunInterrupted) as stopped:
        with _stoppable(tmp_path, store, lambda: 1.25, 3):
            with registered(store.con, "_frame", pa.RecordBatchReader.from_batches(schema, batches())):
                store.con.execute("SELECT count(*) FROM _frame").fetchall()
    assert "stopped on request in day 2 of 3" in str(stopped.value)
    duckdb.connect(str(tmp_path / "cmpsim.duckdb")).close()  # closed: the folder is free to resume in
