"""A run folder is cmpsim's alone: nothing of the user's is replaced, two runs never write one folder,
and nothing a scenario names is written outside it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cmpsim as cmpsim_api
from cmpsim.comms.storage import LocalFolderStorage
from cmpsim.engine import JobFailure
from cmpsim.paths import inside
from cmpsim.runs import LOCK_NAME, FolderLock
from conftest import SMALL


def cmpsim(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cmpsim", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kwargs)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("earlier") / "run"
    result = cmpsim("run", SMALL, "--days", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("named", ["run.json", "cmpsim.duckdb"])
def test_a_folder_of_the_users_beside_a_run_file_is_refused_and_left_whole(tmp_path, named):
    (tmp_path / named).write_text("{}")
    (tmp_path / "THESIS.txt").write_text("four years of work")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print('hello')")
    before = tree(tmp_path)
    result = cmpsim("run", SMALL, "--days", "1", "--out", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"cmpsim: error: {tmp_path}: expected a new or empty folder, or an earlier "
                                    "cmpsim run (marked .cmpsim-run), found a folder with other files in it")
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before


def test_an_earlier_run_with_a_file_of_the_users_added_is_refused(earlier_run, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(earlier_run), str(run)], check=True)
    (run / "notes.md").write_text("what I found in this run")
    before = tree(run)
    result = cmpsim("run", SMALL, "--days", "1", "--out", run)
    assert result.returncode == 2
    assert "expected an earlier cmpsim run with nothing else in it, found files that are not cmpsim's beside the " \
           "run (notes.md)" in result.stderr
    assert tree(run) == before


def test_an_earlier_run_is_replaced(earlier_run, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(earlier_run), str(run)], check=True)
    (run / "files" / "stale.txt").write_text("inside the run layout: the run's own")
    result = cmpsim("run", SMALL, "--days", "1", "--seed", "3", "--out", run)
    assert result.returncode == 0, result.stderr
    assert not (run / "files" / "stale.txt").exists() and (run / ".cmpsim-run").is_file()


def test_a_second_run_into_a_folder_being_written_is_refused(tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "cmpsim", "run", SMALL, "--days", "2", "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "cmpsim.duckdb").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = cmpsim("run", SMALL, "--days", "1", "--out", out)
        assert second.returncode == 2, second.stderr
        assert second.stderr == (f"cmpsim: error: {out}: expected a run folder no other cmpsim run or resume is "
                                 "writing, found one that another cmpsim process is writing or reading now (wait for "
                                 "it, close the run it holds open, or use another --out)\n")
        reader = cmpsim("summary", out)  # nothing half-written is read meanwhile
        assert reader.returncode == 2 and reader.stderr == (
            f"cmpsim: error: {out}: expected a finished run folder no cmpsim run or resume is writing, found one "
            "that a cmpsim run or resume is writing now (wait for it to finish)\n")
        assert first.wait(timeout=300) == 0, first.stderr.read()
    finally:
        first.kill()
    check = cmpsim("check", out)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_resume_of_a_run_being_written_is_refused(earlier_run, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(earlier_run), str(run)], check=True)
    (run / "run.json").unlink()  # as if killed before it finished
    lock = FolderLock.take(run)  # another process resuming it
    try:
        result = cmpsim("run", "--resume", run)
        assert result.returncode == 2 and "found one that another cmpsim process is writing or reading now" \
            in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        lock.release()
    assert (run / LOCK_NAME).is_file()


def test_a_run_held_open_for_reading_is_not_replaced_under_its_reader(earlier_run, tmp_path):
    """A reader (a notebook, `cmpsim check`) of a finished run holds it: a new run into its folder is
    refused instead of deleting the files being read; once the reader closes it, the run goes ahead."""
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(earlier_run), str(run)], check=True)
    before = tree(run)
    with cmpsim_api.open_run(run) as reader, cmpsim_api.open_run(run) as second_reader:  # readers share it
        refused = cmpsim("run", SMALL, "--days", "1", "--seed", "3", "--out", run)
        assert refused.returncode == 2 and "writing or reading now" in refused.stderr, refused.stderr
        assert tree(run) == before
        assert reader.sql("SELECT count(*) AS n FROM orders")["n"][0] == second_reader.table("orders").height > 0
    replaced = cmpsim("run", SMALL, "--days", "1", "--seed", "3", "--out", run)
    assert replaced.returncode == 0, replaced.stderr


def test_a_run_copied_without_its_lock_file_opens_and_is_guarded_again(earlier_run, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(earlier_run), str(run)], check=True)
    (run / LOCK_NAME).unlink()
    with cmpsim_api.open_run(run) as reader:
        assert reader.table("run_info").height > 0
        refused = cmpsim("run", SMALL, "--days", "1", "--out", run)
        assert refused.returncode == 2 and "writing or reading now" in refused.stderr, refused.stderr


# --- paths a scenario names ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["..", ".", "/tmp", "../elsewhere", ".hidden", "files"])
def test_a_storage_folder_outside_the_run_folder_does_not_validate(tmp_path, folder):
    scenario = tmp_path / "escape.yaml"
    scenario.write_text(f"extends: {SMALL}\ncomms:\n  storage:\n    folder: {folder!r}\n")
    result = cmpsim("validate", scenario)
    assert result.returncode == 2 and "comms.storage.folder: expected " in result.stderr, result.stderr


def test_a_path_is_made_inside_its_root_or_not_at_all(tmp_path):
    root = tmp_path / "run"
    (root / "storage").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "storage" / "ACC-1")
    assert inside(root, "storage", "ACC-2", "bill.pdf") == root / "storage" / "ACC-2" / "bill.pdf"
    for parts in (("..", "x"), ("/etc",), ("storage", "ACC-1", "bill.pdf"), ("a/../../b",), ("",)):
        assert inside(root, *parts) is None, parts


def test_storage_never_writes_through_a_symlink_planted_in_it(tmp_path):
    root = tmp_path / "run" / "storage"
    root.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "ACC-1")
    storage = LocalFolderStorage(root)
    with pytest.raises(JobFailure, match="not a file inside the storage folder"):
        storage.put("ACC-1", "bill.pdf", b"%PDF")
    assert list(outside.iterdir()) == []
    assert storage.put("ACC-2", "bill.pdf", b"%PDF") == "storage://ACC-2/bill.pdf"


def test_storage_refused_mid_run_fails_its_wake_ups_with_the_reason_and_writes_nothing(tmp_path):
    """A symlink planted in the storage folder during a run (for every other account, half-way through
    the first day): the Comms Storage Daemon's wake-ups fail with the reason, nothing is written
    through the links, no wake-up stores part of its documents, and the run goes on to its end."""
    out, outside = tmp_path / "run", tmp_path / "outside"
    outside.mkdir()
    planted: list[str] = []

    def plant(done: float, _days: int) -> None:
        if done < 0.5 or planted:
            return
        root = out / "storage"
        root.mkdir(exist_ok=True)
        for name in [f"ACC-{n:07d}" for n in range(2, 401, 2)] + ["staff"]:  # every other account
            if not (root / name).exists():
                os.symlink(outside, root / name)
                planted.append(name)

    with cmpsim_api.run(SMALL, out=out, days=2, progress=plant) as run:
        failed = run.sql("""SELECT count(*) AS n, min(detail) AS detail FROM job_runs
                            WHERE job = 'Comms Storage Daemon' AND status = 'Failed'""").row(0, named=True)
        events = run.sql("SELECT count(*) AS n FROM events WHERE activity = 'Job Failed' "
                         "AND object_id = 'Comms Storage Daemon'")["n"][0]
        stored = run.sql("SELECT stored_uri FROM comms WHERE stored_uri IS NOT NULL")["stored_uri"].to_list()
        last = run.sql("SELECT max(ended_at) AS t FROM job_runs WHERE status = 'Completed'")["t"][0]
        second_day = (run.scenario.start + dt.timedelta(days=1)).date()
    assert planted and failed["n"] > 0 and events == failed["n"], (planted[:3], failed, events)
    assert "not a file inside the storage folder" in failed["detail"], failed["detail"]
    assert list(outside.iterdir()) == []
    # What was stored before the links is where its URI says; nothing stored since names a planted folder.
    assert all((out / "storage" / u.removeprefix("storage://")).is_file() for u in stored)
    assert not any(u.removeprefix("storage://").split("/")[0] in planted for u in stored)
    kept = {f"storage://{p.relative_to(out / 'storage')}" for p in (out / "storage").rglob("*") if p.is_file()}
    assert kept == set(stored), sorted(kept ^ set(stored))[:5]  # no document half-stored by a failed wake-up
    assert last.date() == second_day  # the run went on to its end
