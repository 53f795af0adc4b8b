"""Inputs that used to end in a traceback or slip through: each gets its message (file, field path,
expected, found) and a non-zero exit, or is refused where it is checked."""

from __future__ import annotations

import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cmpsim import randomness
from cmpsim.errors import InputError
from cmpsim.scenario import load
from conftest import SMALL

ROOT = Path(__file__).parent.parent


def cmpsim(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cmpsim", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, **kwargs)


def refusal(tmp_path: Path, text: str) -> str:
    scenario = tmp_path / "hostile.yaml"
    scenario.write_text(text)
    with pytest.raises(InputError) as caught:
        load(scenario)
    return str(caught.value)


@pytest.mark.parametrize("day", ["2026-02-30", "9999-12-31", "0000-01-01", "2026-13-01"])
def test_a_start_date_off_the_calendar_is_refused(tmp_path, day):
    message = refusal(tmp_path, f"extends: {SMALL}\nstart_date: '{day}'\n")
    assert message == (f"{tmp_path / 'hostile.yaml'}: start_date: expected a day of the calendar from 1970-01-01 "
                       f"to 2999-12-31 less the horizon, found '{day}'")


def test_a_longer_horizon_is_judged_against_the_calendar_too(tmp_path):
    """--days 3660 from a start the file's own horizon allowed ran past the calendar's last day
    unchecked (found by the long fuzz, whose edge runs start on the last days allowed)."""
    from cmpsim.runs import prepare

    scenario = tmp_path / "late.yaml"
    scenario.write_text(f"extends: {SMALL}\nstart_date: '2999-12-30'\nhorizon_days: 1\n"
                        "demand: {explicit_orders: []}\nfaults: []\n")
    assert prepare(scenario, days=1).horizon_days == 1
    refused = (f"{scenario}: start_date: expected a day of the calendar from 1970-01-01 to 2999-12-31 less the "
               "horizon, found '2999-12-30'")
    for days in (2, 3660):
        with pytest.raises(InputError) as caught:
            prepare(scenario, days=days)
        assert str(caught.value) == refused
    with pytest.raises(InputError) as caught:
        prepare(prepare(scenario), days=2)  # a scenario already loaded, given a longer horizon
    assert str(caught.value) == refused
    assert prepare(SMALL, days=1).horizon_days == 1  # a shorter horizon than the file's is a quick look


def test_an_explicit_order_on_a_day_that_does_not_exist_is_refused(tmp_path):
    message = refusal(tmp_path, f"extends: {SMALL}\ndemand:\n  explicit_orders:\n"
                                "    - {at: '2026-01-32T10:00', account: ACC-0000001, lines: [{product: P1}]}\n")
    assert "demand.explicit_orders[0]" in message and "Traceback" not in message


def test_a_nul_byte_in_extends_is_refused(tmp_path):
    message = refusal(tmp_path, f'extends: "{SMALL}\\0x"\n')
    assert message.endswith("extends: expected the path of another scenario file, found a path with a NUL byte in it")


def test_extends_never_echoes_the_file_it_names(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = refusal(tmp_path, f"extends: {secret}\n")
    assert message == f"{secret}: expected a mapping of scenario fields, found text, not a mapping"
    assert "root" not in message.replace(str(secret), "")


def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path):
    message = refusal(tmp_path, f"extends: {SMALL}\nname: first\nseed: 3\nname: second\n")
    assert message.endswith("expected valid YAML, found the key 'name' a second time (first on line 2) "
                            "at line 4, column 1")


def test_keys_brought_in_by_a_merge_may_be_overridden(tmp_path):
    scenario = tmp_path / "merged.yaml"
    scenario.write_text(f"extends: {SMALL}\nx-defaults: &d {{orders_per_day: 10}}\n")
    with pytest.raises(InputError, match="unknown field 'x-defaults'"):  # merges parse; the field is the problem
        load(scenario)
    scenario.write_text(f"extends: {SMALL}\ndemand:\n  <<: {{orders_per_day: 10}}\n  orders_per_day: 12\n")
    assert load(scenario)["demand"]["orders_per_day"] == 12


def test_a_trailing_line_break_does_not_pass_a_pattern(tmp_path):
    message = refusal(tmp_path, f'extends: {SMALL}\nname: "x\\n"\n')
    assert message.endswith("name: expected text matching ^[A-Za-z0-9_.-]+$, found 'x\\n'")


def test_a_duration_no_timestamp_can_hold_is_refused_and_draws_are_bounded(tmp_path):
    message = refusal(tmp_path, f"extends: {SMALL}\ndemand:\n  generation_delay_minutes: {{dist: exponential, "
                                "mean: 1.0e+300}\n")
    assert message.endswith("demand.generation_delay_minutes.mean: expected a number <= 1000000, found 1e+300")
    spec = {"dist": "lognormal", "mean": 1_000_000, "sd": 1_000_000}  # allowed, and its tail reaches 1e7 and more
    drawn = randomness.draw(spec, np.random.default_rng(1), 100_000)
    assert drawn.max() == randomness.DRAW_MAX and np.isfinite(drawn).all()


def test_a_run_with_the_wildest_allowed_durations_finishes(tmp_path):
    scenario = tmp_path / "wild.yaml"
    scenario.write_text(f"extends: {SMALL}\ndemand:\n  generation_delay_minutes: {{dist: lognormal, mean: 1000000, "
                        "sd: 1000000}\n")
    result = cmpsim("run", scenario, "--days", "2", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-2000:]


def _file_size_limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))


def test_a_full_disk_stops_the_run_with_what_to_do_and_resume_finishes_it(tmp_path):
    out = tmp_path / "run"
    stopped = cmpsim("run", SMALL, "--days", "2", "--out", out, preexec_fn=_file_size_limit)
    assert stopped.returncode == 3, stopped.stderr[-2000:]
    assert stopped.stderr.strip() == (f"cmpsim: error: {out}: the run stopped: the disk is full (File too large); "
                                      "what it committed is kept: once that is put right, continue it with: "
                                      f"cmpsim run --resume {out}")
    resumed = cmpsim("run", SMALL, "--resume", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert cmpsim("check", out).returncode == 0


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_check_and_summary_of_a_damaged_database_say_so(small_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(small_run.run_dir, run)
    database = run / "cmpsim.duckdb"
    database.write_bytes(database.read_bytes()[:5000] if damage == "truncated" else b"not a database at all")
    for command in ("check", "summary"):
        result = cmpsim(command, run)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"cmpsim: error: {database}: expected the database of a cmpsim run, found a "
                                        "file DuckDB cannot read as one (")
