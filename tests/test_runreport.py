"""The run report (`cmpsim report`) and the run comparison (`cmpsim compare`), read back as a user would."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cmpsim.cli import main
from cmpsim.compare import compare
from cmpsim.kpis import kpis, roll_forward
from cmpsim.runreport import busiest_night
from conftest import SMALL
from pdftext import pdf_text


@pytest.fixture(scope="module")
def folders(small_run, billing_run, tmp_path_factory) -> tuple[Path, Path]:
    """Copies of the two runs: the command line opens them itself, as a user's would (the session
    keeps the originals open for writing)."""
    base = tmp_path_factory.mktemp("closed")
    for run, name in ((small_run, "small"), (billing_run, "billing")):
        run.con.execute("CHECKPOINT")
        shutil.copytree(run.run_dir, base / name)
    return base / "small", base / "billing"


def test_the_run_report_pdf_holds_its_figures_charts_probes_and_verdict(small_run, folders, tmp_path):
    result = CliRunner().invoke(main, ["report", str(folders[0]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = pdf_text((tmp_path / "run-report.pdf").read_bytes())
    figures = kpis(small_run.con)
    assert "Run report" in text and "Scenario small" in text
    assert f"Hardware orders placed {figures['hardware_orders']:,}" in text
    assert f"Gross amount invoiced €{figures['invoiced_gross']:,.2f}" in text
    share = figures["hardware_error_share"] * 100
    assert f"Share of hardware orders in error {share:.1f}%" in text  # shares as percentages, one decimal
    # The charts are there as drawings whose words a reader (and this test) can read.
    for title in ("Orders by final status", "Hardware sales orders", "Service orders", "Lead time of completed orders",
                  "Money billed and received per day", "Communications by channel and status",
                  "Batch jobs of the busiest night"):
        assert title in text, title
    assert "Postings Rejected" in text and "Files Quarantined Today" in text  # the probe table
    roll = roll_forward(small_run.con)  # the receivables roll-forward, line by line, tied to the cent
    assert roll.ties and f"Receivables roll-forward ({roll.currency})" in text
    for _, words, amount, documents in roll.lines:
        assert f"{words} {documents:,} {amount:,.2f}" in text, words
    assert f"= Closing receivables (sales ledger at the end) {roll.closing:,.2f}" in text
    assert "The lines add up to the closing balance to the cent." in text
    assert "Reconciled" in text or "break(s) to explain" in text
    assert (tmp_path / "run-report.html").read_text().count("data:image/svg+xml;base64,") == 5


def test_the_busiest_night_is_the_morning_the_jobs_worked_longest(billing_run):
    """The report's run-window chart shows the batch jobs (not daemons) started before noon on the day
    their runs took longest in all: every one of them, from its start to its end."""
    runs = billing_run.sql("SELECT job, component, started_at, ended_at, status FROM job_runs ORDER BY run_no")
    mornings: dict = {}
    for job, component, started, ended, status in runs.rows():
        if component == "job" and started.hour < 12:
            mornings.setdefault(started.date(), []).append((job, started, ended, status))
    day = max(sorted(mornings), key=lambda d: sum((e - s).total_seconds() for _, s, e, _ in mornings[d]))
    night = busiest_night(billing_run)
    assert sorted(night.rows(), key=lambda r: r[1]) == sorted(mornings[day], key=lambda r: r[1])
    assert any(ended > started for _, started, ended, _ in night.rows())  # the cost model's run windows


def test_the_run_report_speaks_in_words_units_and_currency(folders, tmp_path):
    """What finance reads: no code name of a figure, channel or setting (snake_case, `sla`), amounts
    headed by their currency, lead times in hours, probes by the condition a healthy value meets."""
    result = CliRunner().invoke(main, ["report", str(folders[1]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = pdf_text((tmp_path / "run-report.pdf").read_bytes())
    assert re.findall(r"\b[a-z]+_[a-z_]+\b", text) == []
    assert "Amount (EUR)" in text and "Money and the ledgers (EUR)" in text
    assert " h " in text and "Healthy when" in text and " SLA value " in text and " sla " not in text
    assert re.search(r"\d+ days of simulated time, \d+ [A-Z][a-z]{2} \d{4} to \d+ [A-Z][a-z]{2} \d{4}", text)
    for figure in re.findall(r"(?<![\d,.])\d{4,}\.\d{2}\b", text):  # thousands separated everywhere
        pytest.fail(f"an amount without thousands separators: {figure}")


def test_a_run_that_has_billed_nothing_yet_gets_its_report(tmp_path):
    """Two days of the small scenario end before the first bill: the report says so instead of failing on
    the money chart it cannot draw (a traceback, found by the concurrent-run fuzz)."""
    run = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", str(SMALL), "--days", "1", "--out", str(run)]).exit_code == 0
    result = CliRunner().invoke(main, ["report", str(run), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    text = pdf_text((tmp_path / "report" / "run-report.pdf").read_bytes())
    assert "Orders by final status" in text and "Money billed and received per day" not in text


def test_the_same_run_gives_the_same_report(folders, tmp_path):
    for folder in ("a", "b"):
        CliRunner().invoke(main, ["report", str(folders[0]), "--out", str(tmp_path / folder)])
    assert (tmp_path / "a" / "run-report.pdf").read_bytes() == (tmp_path / "b" / "run-report.pdf").read_bytes()


def test_compare_marks_exactly_what_differs(small_run, billing_run, folders):
    same = compare(small_run, small_run)
    assert same.changed == [] and not same.figures["changed"].any()
    other = compare(small_run, billing_run)
    a, b = kpis(small_run.con), kpis(billing_run.con)
    assert set(other.changed) >= {k for k in a if a[k] != b[k]}
    assert all(name in a or name in set(other.money["figure"]) for name in other.changed)
    result = CliRunner().invoke(main, ["compare", str(folders[0]), str(folders[1]), "--json"])
    assert result.exit_code == 0, result.output
    emitted = json.loads(result.output)
    assert emitted["changed"] == other.changed
    gross = next(m for m in emitted["money"] if m["figure"] == "invoiced_gross")
    assert gross["a"] == str(a["invoiced_gross"]) and gross["b"] == str(b["invoiced_gross"])  # exact, as text
