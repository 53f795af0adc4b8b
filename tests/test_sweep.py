"""Sweeps: every combination times replications, the same figures whether the runs went one by one,
on local worker processes, or on a Dask cluster given by its scheduler address."""

from __future__ import annotations

import polars as pl
import pytest
from distributed import LocalCluster
from test_cli import cmpsim as cli

from cmpsim import sweep
from cmpsim.errors import InputError
from conftest import TESTS

SCENARIO = TESTS / "scenarios" / "ledger-small.yaml"
SETTINGS = {"billing.payment_terms_days": [7, 21], "payments.never_rate": [0.0]}


def test_serial_local_and_dask_runs_give_identical_figures():
    tasks = sweep.plan(SCENARIO, SETTINGS, replications=2, days=12)
    assert len(tasks) == 4 and [t.seed for t in tasks] == [tasks[0].seed, tasks[0].seed + 1] * 2
    serial = sweep.execute(tasks, workers=1)
    local = sweep.execute(tasks, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = sweep.execute(tasks, scheduler=cluster.scheduler_address)
    assert serial.equals(local) and serial.equals(on_dask)
    assert serial["invoices"].min() > 0 and serial["events"].n_unique() > 1  # replications differ
    same_seed = serial.group_by("seed").agg(pl.col("invoices").n_unique())
    assert same_seed["invoices"].max() == 1  # payment terms change when, not how much, is invoiced


def test_summary_gives_a_confidence_interval_per_combination_and_figure():
    results = pl.DataFrame({"combination": [0, 0, 0, 1], "replication": [0, 1, 2, 0], "seed": [1, 2, 3, 1],
                            "k": [7, 7, 7, 21], "invoices": [10, 12, 14, 5]})
    summary = sweep.summarise(results, ["k"]).filter(pl.col("figure") == "invoices")
    first = summary.row(0, named=True)
    assert (first["runs"], first["mean"], first["sd"]) == (3, 12.0, 2.0)
    assert first["ci_low"] == pytest.approx(12 - 4.302653 * 2 / 3 ** 0.5, rel=1e-6)  # t(0.975, 2) = 4.3027
    single = summary.row(1, named=True)
    assert single["runs"] == 1 and single["ci_low"] is None  # no interval from one run


def test_bad_settings_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(InputError, match="key=value"):
        sweep.parse_settings(["workers"])
    with pytest.raises(InputError, match="billing.payment_terms_days"):
        sweep.plan(SCENARIO, {"billing.payment_terms_days": [-3]}, replications=1)
    result = cli("sweep", SCENARIO, "--set", "billing.payment_terms_days=seven", "--out", tmp_path)
    assert result.returncode == 2 and "billing.payment_terms_days: expected a value of type integer" in result.stderr


def test_the_command_writes_results_and_summary(tmp_path):
    result = cli("sweep", SCENARIO, "--set", "billing.payment_terms_days=7,21", "--days", "6", "--workers", "1",
                 "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    results = pl.read_parquet(tmp_path / "results.parquet")
    assert results.height == 2 and set(results["billing.payment_terms_days"]) == {7, 21}
    assert pl.read_parquet(tmp_path / "summary.parquet").filter(pl.col("figure") == "invoices").height == 2
