"""The reconciliation report: the document finance hands to an auditor (HTML and PDF).

Control totals per period, the trial balance, breaks by type with what each type means, charts of
breaks by type and by the day they were first booked, the faults the run injected, and the break
list with its drill-down keys.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

from cmpsim import charts
from cmpsim.kpis import currency
from cmpsim.reconcile import BREAK_TYPES, Reconciliation
from cmpsim.reporting import chart_uri, run_facts, write_report

BREAKS_LISTED_MAX = 1000  # rows of the break list printed; the JSON output has them all
MEANING = {
    "unbalanced journal": "a G/L journal whose debits differ from its credits",
    "duplicate posting": "a document booked more than once in a ledger",
    "missing in GL": "in the sales ledger, no journal in the general ledger",
    "missing in SL": "a journal on the receivables account, no sales-ledger entry",
    "wrong GL account": "a journal line on an account the posting rules never use for this document",
    "amount mismatch": "booked in both, the amounts differ",
    "different periods": "booked in both for the same amount, in different accounting periods",
    "missing in both": "posted by CMP, booked in neither ledger",
}


def reconciliation_report(run, rec: Reconciliation, folder: Path) -> tuple[Path, Path]:
    """Write `reconciliation-<as of>.html` and `.pdf` into `folder`; returns their paths."""
    when = rec.as_of.strftime("%Y-%m-%dT%H%M" if isinstance(rec.as_of, dt.datetime) else "%Y-%m-%d") if rec.as_of \
        else "end"
    stem = f"reconciliation-{when}" + (f"-{rec.period}" if rec.period else "")
    return write_report("analysis/reconciliation.html.j2", context(run, rec), folder, stem)


def context(run, rec: Reconciliation) -> dict[str, Any]:
    info = dict(run.con.execute("SELECT key, value FROM run_info WHERE key <> 'scenario_json'").fetchall())
    start = dt.date.fromisoformat(info["start_date"])
    end = start + dt.timedelta(days=int(info["horizon_days"]) - 1)
    as_of = rec.as_of.date() if isinstance(rec.as_of, dt.datetime) else (rec.as_of or end)
    by_type = (rec.breaks.group_by("break_type")
               .agg(documents=pl.len(), sl_amount=pl.col("sl_amount").sum(), gl_amount=pl.col("gl_amount").sum(),
                    difference=pl.col("difference").sum()))
    rows = {r["break_type"]: r for r in by_type.rows(named=True)}
    totals = rec.control.select(pl.col("sl_total", "gl_receivables", "difference").sum()).row(0, named=True)
    return {
        "created": as_of.isoformat(),
        "run": run_facts(run.con),
        "currency": currency(run.con),
        "as_of_text": _as_of_text(rec.as_of),
        "period": rec.period, "reconciled": rec.reconciled,
        "receivables": run.store.scalar("SELECT min(gl_account) FROM posting_rules WHERE rule = 'receivables'"),
        "control": rec.control.rows(named=True), "totals": totals,
        "trial_balance": rec.trial_balance.row(0, named=True),
        "by_type": [{"break_type": t, "meaning": MEANING[t], **rows[t]} for t in BREAK_TYPES if t in rows],
        "charts": _charts(rec) if rec.breaks.height else None,
        "faults": run.sql("SELECT fault_no, kind, file_kind, strftime(injected_at, '%Y-%m-%d %H:%M') AS injected_at, "
                          "file_name, detail FROM faults_injected ORDER BY injected_at, fault_no").rows(named=True),
        "breaks": rec.breaks.head(BREAKS_LISTED_MAX).rows(named=True), "breaks_total": rec.breaks.height,
    }


def _as_of_text(as_of: dt.date | dt.datetime | None) -> str:
    if as_of is None:
        return "the end of the run"
    return as_of.strftime("%d %b %Y %H:%M" if isinstance(as_of, dt.datetime) else "the end of %d %b %Y")


def _charts(rec: Reconciliation) -> dict[str, str]:
    counts = rec.breaks_by_type()
    present = [t for t in BREAK_TYPES if counts[t]]
    by_type = charts.horizontal_bars(present, [counts[t] for t in present], "Breaks by type (documents)")
    daily = (rec.breaks.with_columns(day=pl.col("first_booked").dt.strftime("%Y-%m-%d").fill_null("never booked"))
             .group_by("day", "break_type").len().sort("day"))
    days = daily["day"].unique().sort().to_list()
    series = {t: [int(daily.filter((pl.col("day") == d) & (pl.col("break_type") == t))["len"].sum()) for d in days]
              for t in present}
    by_day = charts.stacked_columns(days, series, "Breaks by the day the document was first booked")
    return {"by_type": chart_uri(by_type), "by_day": chart_uri(by_day)}
