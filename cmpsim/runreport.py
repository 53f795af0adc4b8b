"""The run report: one run on a few pages (HTML and PDF) — what `cmpsim report RUN` writes.

The scenario and its main settings, the key figures (`cmpsim.kpis`), charts of the order flow, lead
times, the money billed and collected per day and the communications per channel, every probe with
what its evaluations found, and the reconciliation of the ledgers in one verdict and its breaks by
type. Written to `<run>/reports/run-report.html` and `.pdf` unless another folder is given; the
same run gives the same files.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cmpsim import charts, probes
from cmpsim.compare import MONEY, amount, lead_times
from cmpsim.kpis import KPIS, kpis, roll_forward
from cmpsim.reconcile import BREAK_TYPES, reconcile
from cmpsim.reconcile.report import MEANING
from cmpsim.reporting import svg_uri, write_report
from cmpsim.summary import ORDER_STATUSES


def run_report(run, folder: Path | None = None) -> tuple[Path, Path]:
    """Write `run-report.html` and `run-report.pdf` into `folder` (default `<run>/reports`)."""
    folder = Path(folder) if folder is not None else Path(run.run_dir) / "reports"
    return write_report("analysis/run.html.j2", context(run), folder, "run-report")


def context(run) -> dict[str, Any]:
    """Everything the template shows, as plain values; charts as SVG data URIs."""
    info = dict(run.con.execute("SELECT key, value FROM run_info WHERE key <> 'scenario_json'").fetchall())
    figures = kpis(run.con)
    rec = reconcile(run.con)
    counts = rec.breaks_by_type()
    history = probes.history(run)
    return {
        "created": info["start_date"],
        "run": {"scenario": info["scenario"], "seed": info["seed"], "days": info["horizon_days"],
                "start_date": info["start_date"]},
        "settings": settings(run),
        "figures": [{"name": n, "meaning": KPIS[n][0], "value": _shown(figures[n])} for n in KPIS],
        "money": [{"name": n, "meaning": meaning, "amount": amount(run.con, sql)}
                  for n, (meaning, sql) in MONEY.items()],
        "roll_forward": roll_forward(run.con),
        "lead_times": lead_times(run.con).rows(named=True),
        "charts": _charts(run),
        "probes": history.rows(named=True),
        "reconciled": rec.reconciled,
        "control": rec.control.select(pl.col("sl_total", "gl_receivables", "difference").sum()).row(0, named=True),
        "breaks": [{"break_type": t, "documents": counts[t], "meaning": MEANING[t]} for t in BREAK_TYPES if counts[t]],
        "breaks_total": rec.breaks.height,
    }


def settings(run) -> list[dict[str, str]]:
    """The main knobs of the scenario stored with the run, as (setting, value) rows."""
    import json

    stored = run.con.execute("SELECT value FROM run_info WHERE key = 'scenario_json'").fetchall()
    s = json.loads(stored[0][0]) if stored else {}
    service = s.get("service", {})
    rows = [
        ("processes", ", ".join(s.get("processes", []))),
        ("hardware orders a day", s.get("demand", {}).get("orders_per_day")),
        ("service orders a day", service.get("demand", {}).get("orders_per_day")),
        ("service priority mix", service.get("demand", {}).get("priority_mix")),
        ("fulfilment workers", service.get("fulfilment", {}).get("workers")),
        ("warehouses (units a day)",
         ", ".join(f"{w['id']} {w['daily_capacity_units']}" for w in s.get("warehouses", []))),
        ("hardware charges billed", s.get("billing", {}).get("hardware_charges")),
        ("fraud check", s.get("properties", {}).get("sales.order.request.extract.fraudcheckrequired")),
        ("faults injected", len(s.get("faults", []))),
        ("probes declared", len(s.get("probes", []))),
    ]
    return [{"setting": k, "value": _setting_text(v)} for k, v in rows if v not in (None, "")]


def _setting_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _charts(run) -> dict[str, str | None]:
    """The report's charts by name; None where the run has nothing to draw (no invoice yet, no comms)."""
    out: dict[str, str | None] = dict.fromkeys(("orders", "lead", "money", "comms"))
    status = dict(run.con.execute("SELECT status, count(*) FROM orders GROUP BY ALL").fetchall())
    if status:
        order = [s for s in ORDER_STATUSES if s in status] + sorted(set(status) - set(ORDER_STATUSES))
        out["orders"] = svg_uri(charts.horizontal_bars(order, [status[s] for s in order], "Orders by final status"))
    lead = lead_times(run.con)
    if lead.height:
        groups = [k if p is None else f"{k} P{p}" for k, p in lead.select("kind", "priority").iter_rows()]
        out["lead"] = svg_uri(charts.grouped_bars(groups, {"median": lead["p50_h"].to_list(),
                                                           "90th percentile": lead["p90_h"].to_list()},
                                                  "Lead time of completed orders, hours"))
    daily = run.sql("""
        WITH d AS (SELECT invoice_date AS day, sum(gross_amount) AS billed, 0 AS received FROM invoices GROUP BY 1
                   UNION ALL SELECT received_on, 0, sum(amount) FROM payments GROUP BY 1)
        SELECT strftime(day, '%m-%d') AS day, sum(billed)::DOUBLE AS billed, sum(received)::DOUBLE AS received
        FROM d GROUP BY day ORDER BY day""")
    if daily.height:
        out["money"] = svg_uri(charts.grouped_bars(daily["day"].to_list(), {"billed (gross)": daily["billed"].to_list(),
                                                                          "received": daily["received"].to_list()},
                                                   "Money billed and received per day"))
    comms = run.sql("SELECT channel, status, count(*) AS n FROM comms GROUP BY ALL ORDER BY ALL")
    if comms.height:
        channels = comms["channel"].unique().sort().to_list()
        series = {s: [int(comms.filter((pl.col("channel") == c) & (pl.col("status") == s))["n"].sum())
                      for c in channels] for s in comms["status"].unique().sort().to_list()}
        out["comms"] = svg_uri(charts.stacked_columns(channels, series, "Communications by channel and status"))
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,}"

