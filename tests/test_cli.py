"""The cmpsim command as a user types it: exit 0 on success, 2 on bad input with one line."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import BASELINE, SMALL


def cmpsim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cmpsim", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_validate_a_good_scenario():
    result = cmpsim("validate", BASELINE)
    assert result.returncode == 0
    assert result.stdout.strip() == (f"{BASELINE}: valid scenario 'baseline', 42 days from 2026-01-05, seed 20260105")


def test_validate_a_bad_scenario_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BASELINE}\nwarehouses: []\n")
    result = cmpsim("validate", bad)
    assert result.returncode == 2
    assert result.stderr == f"cmpsim: error: {bad}: warehouses: expected at least 1 item(s), found a list of 0 items\n"
    assert "Traceback" not in result.stderr


def test_run_writes_a_run_folder_and_prints_the_summary(tmp_path):
    out = tmp_path / "run"
    result = cmpsim("run", SMALL, "--days", "2", "--seed", "11", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "Hardware orders by status" in result.stdout and "Job runs that did work" in result.stdout
    assert "Quarantined files (0): none" in result.stdout  # an empty table is one line saying so
    assert (out / "cmpsim.duckdb").is_file() and (out / "run.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 11 and summary["days"] == 2 and summary["orders"]["total"] > 0
    again = cmpsim("summary", out, "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == summary


def test_bad_arguments_exit_2(tmp_path):
    negative = cmpsim("run", SMALL, "--seed", "-1", "--out", tmp_path / "x")
    assert negative.returncode == 2
    assert negative.stderr == "cmpsim: error: argument --seed: expected a whole number from 0 to 4294967295, found -1\n"
    zero_days = cmpsim("run", SMALL, "--days", "0", "--out", tmp_path / "y")
    assert (
        zero_days.returncode == 2
        and "argument --days: expected a whole number from 1 to 3660, found 0" in zero_days.stderr
    )
    assert cmpsim("run", SMALL, "--seed", "abc").returncode == 2
    missing = cmpsim("run", tmp_path / "none.yaml")
    assert missing.returncode == 2 and "expected a scenario file, found no such file" in missing.stderr


def test_run_refuses_to_overwrite_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = cmpsim("run", SMALL, "--days", "1", "--out", tmp_path)
    assert result.returncode == 2
    assert "expected a new or empty folder, or an earlier cmpsim run" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_summary_of_a_folder_that_is_no_run(tmp_path):
    result = cmpsim("summary", tmp_path)
    assert result.returncode == 2 and "expected a run folder written by cmpsim run" in result.stderr


HEAVY = ("duckdb", "polars", "numpy", "jsonschema", "weasyprint", "simpy", "rich.console")


def modules_loaded_by(*args: str) -> list[str]:
    """The heavy libraries `cmpsim ARGS` imports before it answers."""
    code = ("import sys\nfrom cmpsim.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_help_and_version_answer_without_loading_the_engine():
    """`cmpsim --help` took 3.5 s of CPU importing everything first; now each command imports what it
    needs when it runs (benchmarks/startup.py prints the times)."""
    assert modules_loaded_by("--help") == []
    assert modules_loaded_by("run", "--help") == []
    assert modules_loaded_by("--version") == []
    assert modules_loaded_by("validate", str(SMALL)) != []  # (a command that works does load them)


def test_version_is_the_installed_one():
    from importlib.metadata import version

    done = cmpsim("--version")
    assert done.returncode == 0 and done.stdout == f"cmpsim {version('cmpsim')}\n"
