"""Reconciliation of the sales ledger against the general ledger, with the cause of every break.

    rec = cmpsim.reconcile.reconcile(run.con, as_of=date(2026, 1, 31))
    rec.control          # S/L total vs receivables control account, per period, with the difference
    rec.trial_balance    # journals, unbalanced journals, debits, credits
    rec.breaks           # one row per document that does not reconcile: type, amounts, periods, cause
    rec.reconciled       # no break, control totals equal, every journal balanced
    trail(run.con, "invoice", "INV-00000042")   # the events (and injected faults) behind a document

Everything is SQL in DuckDB over the whole ledgers (see breaks.py); nothing loops over entries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from cmpsim.reconcile.breaks import BREAK_TYPES, classify_sql, control_sql, describe_sql, trial_balance_sql
from cmpsim.reconcile.causes import TRAIL, add_causes

__all__ = ["BREAK_TYPES", "Reconciliation", "reconcile", "trail"]


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of a reconciliation as of a day's end or a moment (None: everything booked)."""

    as_of: dt.date | dt.datetime | None
    period: str | None
    control: pl.DataFrame
    trial_balance: pl.DataFrame
    breaks: pl.DataFrame

    @property
    def reconciled(self) -> bool:
        tb = self.trial_balance.row(0, named=True)
        return (self.breaks.height == 0 and all(d == 0 for d in self.control["difference"])
                and tb["unbalanced_journals"] == 0 and tb["debits"] == tb["credits"])

    def breaks_by_type(self) -> dict[str, int]:
        counts = dict(self.breaks.group_by("break_type").len().rows())
        return {t: counts.get(t, 0) for t in BREAK_TYPES}

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON: exact amounts as strings, dates as ISO text."""
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "period": self.period,
            "reconciled": self.reconciled,
            "control": _plain(self.control),
            "totals": _plain(_totals(self.control))[0],
            "trial_balance": _plain(self.trial_balance)[0],
            "breaks_by_type": self.breaks_by_type(),
            "breaks": _plain(self.breaks),
        }


def reconcile(con, as_of: dt.date | dt.datetime | None = None, period: str | None = None) -> Reconciliation:
    """Reconcile what the ledgers booked up to `as_of` — the end of a day, or a moment (default:
    everything) — optionally only the breaks and control totals of one accounting period (`YYYY-MM`)."""
    cutoff = cutoff_of(as_of)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rc_classified AS {classify_sql(con, cutoff)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rc_breaks AS {describe_sql(cutoff, period)}")
    add_causes(con)
    breaks = con.sql("""SELECT * EXCLUDE (sl_period_last, gl_period_last) FROM _rc_breaks
                        ORDER BY first_booked NULLS LAST, doc_type, doc_id""").pl()
    return Reconciliation(as_of, period, con.sql(control_sql(cutoff, period)).pl(),
                          con.sql(trial_balance_sql(cutoff)).pl(), breaks)


def cutoff_of(as_of: dt.date | dt.datetime | None) -> str | None:
    """The first moment not included: the next midnight for a day, the moment itself otherwise."""
    if as_of is None:
        return None
    if isinstance(as_of, dt.datetime):
        return as_of.isoformat(sep=" ")
    return (as_of + dt.timedelta(days=1)).isoformat()


def trail(con, doc_type: str, doc_id: str) -> pl.DataFrame:
    """The events behind a document, in time order: its own, its postings', the files that carried
    them, and the faults injected on those files and records."""
    return con.sql(TRAIL, params=[doc_id] + [doc_type, doc_id] * 6).pl()


def _totals(control: pl.DataFrame) -> pl.DataFrame:
    return control.select(pl.col("sl_total").sum(), pl.col("gl_receivables").sum(), pl.col("difference").sum())


def _plain(frame: pl.DataFrame) -> list[dict[str, Any]]:
    def plain(value: Any) -> Any:
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, int | str | bool | list) or value is None:
            return value
        return str(value)  # Decimal
    return [{k: plain(v) for k, v in row.items()} for row in frame.rows(named=True)]
