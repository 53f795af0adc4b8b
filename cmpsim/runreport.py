"""The run report: one run on a few pages (HTML and PDF) — what `cmpsim report RUN` writes.

The scenario and its main settings, the key figures (`cmpsim.kpis`), charts of the order flow, lead
times, the money billed and collected per day and the communications per channel, every probe with
what its evaluations found, and the reconciliation of the ledgers in one verdict and its breaks by
type. Written to `<run>/reports/run-report.html` and `.pdf` unless another folder is given; the
same run gives the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from cmpsim import charts, formats, probes
from cmpsim.compare import MONEY, amount, lead_times
from cmpsim.kpis import GROUPS, UNITS, kpis, label, roll_forward, stored_scenario
from cmpsim.reconcile import BREAK_TYPES, reconcile
from cmpsim.reconcile.report import MEANING
from cmpsim.reporting import chart_uri, run_facts, write_report
from cmpsim.summary import ORDER_STATUSES

#: A communication's statuses in the order it goes through them, the failures last, each with its colour:
#: on its way in greys and blues, arrived in greens, failed in reds.
COMMS_STATUSES = {"Waiting": "#b8c4cc", "Rendered": "#8fa6b5", "Sent": "#4a90a4", "Delivered": "#5c946e",
                  "Read": "#2f6b41", "Bounced": "#e07a1f", "Failed": "#b33f40"}


def run_report(run, folder: Path | None = None) -> tuple[Path, Path]:
    """Write `run-report.html` and `run-report.pdf` into `folder` (default `<run>/reports`)."""
    folder = Path(folder) if folder is not None else Path(run.run_dir) / "reports"
    return write_report("analysis/run.html.j2", context(run), folder, "run-report")


def context(run) -> dict[str, Any]:
    """Everything the template shows, as text in words, units and currency; charts drawn as SVG data URIs."""
    facts = run_facts(run.con)
    figures = kpis(run.con)
    rec = reconcile(run.con)
    counts = rec.breaks_by_type()
    roll = roll_forward(run.con)
    currency = roll.currency or stored_scenario(run.con).get("currency", "")
    control = rec.control.select(pl.col("sl_total", "gl_receivables", "difference").sum()).row(0, named=True)
    return {
        "created": facts["start_date"],
        "run": facts,
        "currency": currency,
        "settings": settings(run),
        "figure_groups": [(group, [(label(n), formats.figure(_applicable(figures, n), UNITS[n], currency))
                                   for n in names]) for group, names in GROUPS.items()],
        "money": [(formats.sentence(meaning), formats.amount(amount(run.con, sql)))
                  for meaning, sql in MONEY.values()],
        "roll_forward": {"lines": [(words, formats.count(documents), formats.amount(value))
                                   for _, words, value, documents in roll.lines],
                         "closing": formats.amount(roll.closing), "ties": roll.ties,
                         "difference": formats.money(roll.difference, currency)},
        "lead_times": [{"orders": "Hardware" if row["kind"] == "hardware" else "Service",
                        "priority": formats.priority(row["priority"]) if row["kind"] == "service" else "",
                        "completed": formats.count(row["orders"]),
                        **{k: formats.hours(row[k]) for k in ("mean_h", "p50_h", "p90_h", "max_h")}}
                       for row in lead_times(run.con).iter_rows(named=True)],
        "charts": _charts(run, currency),
        "probes": [{"probe": p["probe"], "kind": formats.words(p["kind"]), "target": formats.condition(p["target"]),
                    "evaluations": formats.count(p["evaluations"]), "breaches": formats.count(p["breaches"]),
                    "breached": p["breaches"] > 0, "last_breach": formats.moment(p["last_breach"]),
                    "alerts_raised": formats.count(p["alerts_raised"])}
                   for p in probes.history(run).iter_rows(named=True)],
        "reconciled": rec.reconciled,
        "control": {k: formats.money(v, currency) for k, v in control.items()},
        "breaks": [{"break_type": formats.sentence(t), "documents": formats.count(counts[t]),
                    "meaning": MEANING[t]} for t in BREAK_TYPES if counts[t]],
        "breaks_total": rec.breaks.height,
    }


#: Shares whose whole is counted by another figure: a share of nothing is not 0 % but no figure at all.
SHARE_OF = {"hardware_complete_share": "hardware_orders", "hardware_error_share": "hardware_orders",
            "comms_failed_share": "comms"}


def _applicable(figures: dict[str, Any], name: str) -> Any:
    return None if name in SHARE_OF and not figures[SHARE_OF[name]] else figures[name]


def settings(run) -> list[dict[str, str]]:
    """The main knobs of the scenario stored with the run, as (setting, value) rows in words; a process
    the run did not replay shows none of its knobs."""
    s = stored_scenario(run.con)
    replayed = set(s.get("processes", []))
    hardware, service = "hardware" in replayed, "service" in replayed
    knobs = s.get("service", {}) if service else {}
    mix = knobs.get("demand", {}).get("priority_mix") or {}
    weights = sum(mix.values()) if isinstance(mix, dict) else 0
    rows = [
        ("Processes replayed", ", ".join(formats.words(p) for p in s.get("processes", []))),
        ("Hardware orders a day", s.get("demand", {}).get("orders_per_day") if hardware else None),
        ("Service orders a day", knobs.get("demand", {}).get("orders_per_day")),
        ("Service priority mix", ", ".join(f"{formats.priority(int(p))} {formats.share(w / weights)}"
                                           for p, w in mix.items()) if weights else None),
        ("Fulfilment workers", knobs.get("fulfilment", {}).get("workers")),
        ("Warehouses (units dispatched a day)",
         ", ".join(f"{w['id']} {formats.count(w['daily_capacity_units'])}" for w in s.get("warehouses", []))
         if hardware else None),
        ("Hardware charges billed", formats.words(s["billing"]["hardware_charges"])
         if hardware and "hardware_charges" in s.get("billing", {}) else None),
        ("Fraud check of sales orders", s.get("properties", {}).get("sales.order.request.extract.fraudcheckrequired")
         if hardware else None),
        ("Faults injected", len(s.get("faults", []))),
        ("Probes declared", len(s.get("probes", [])) if "probes" in replayed else None),
    ]
    return [{"setting": k, "value": _setting_text(v)} for k, v in rows if v not in (None, "")]


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return formats.count(value)
    return str(value)


def _charts(run, currency: str) -> dict[str, str | None]:
    """The report's charts by name; None where the run has nothing to draw (no invoice yet, no comms)."""
    out: dict[str, str | None] = dict.fromkeys(("orders", "lead", "money", "comms", "night"))
    status = run.sql("SELECT kind, status, count(*) AS n FROM orders GROUP BY ALL")
    if status.height:
        panels = {}
        for kind in ("hardware", "service"):
            found = dict(status.filter(pl.col("kind") == kind).select("status", "n").iter_rows())
            order = [s for s in ORDER_STATUSES if s in found] + sorted(set(found) - set(ORDER_STATUSES))
            if order:
                panels[formats.sentence(formats.words(kind))] = (order, [found[s] for s in order])
        out["orders"] = chart_uri(charts.bar_panels(panels, "Orders by final status"))
    lead = lead_times(run.con)
    if lead.height:
        groups = ["Hardware" if k == "hardware" else f"Service\n{formats.priority(p)}"
                  for k, p in lead.select("kind", "priority").iter_rows()]
        out["lead"] = chart_uri(charts.grouped_bars(groups, {"median": lead["p50_h"].to_list(),
                                                             "90th percentile": lead["p90_h"].to_list()},
                                                    "Lead time of completed orders", axis_label="hours"))
    daily = run.sql("""
        WITH d AS (SELECT invoice_date AS day, sum(gross_amount) AS billed, 0 AS received FROM invoices GROUP BY 1
                   UNION ALL SELECT received_on, 0, sum(amount) FROM payments GROUP BY 1)
        SELECT day, sum(billed)::DOUBLE AS billed, sum(received)::DOUBLE AS received
        FROM d GROUP BY day ORDER BY day""")
    if daily.height:
        days = [formats.day(d).rsplit(" ", 1)[0] for d in daily["day"]]  # "5 Jan": the year is the report's
        out["money"] = chart_uri(charts.grouped_bars(days, {"billed (gross)": daily["billed"].to_list(),
                                                            "received": daily["received"].to_list()},
                                                     "Money billed and received per day", axis_label=currency,
                                                     label_every=max(1, -(-len(days) // 8))))
    comms = run.sql("SELECT channel, status, count(*) AS n FROM comms GROUP BY ALL ORDER BY ALL")
    if comms.height:
        channels = comms.group_by("channel").agg(pl.col("n").sum()).sort("n", "channel", descending=[True, False])
        present = set(comms["status"])
        statuses = [s for s in COMMS_STATUSES if s in present] + sorted(present - set(COMMS_STATUSES))
        series = {s: [int(comms.filter((pl.col("channel") == c) & (pl.col("status") == s))["n"].sum())
                      for c in channels["channel"]] for s in statuses}
        out["comms"] = chart_uri(charts.stacked_bars([formats.words(c) for c in channels["channel"]], series,
                                                     "Communications by channel and status",
                                                     axis_label="communications", colours=COMMS_STATUSES))
    night = busiest_night(run)
    if night is not None:
        out["night"] = chart_uri(charts.timeline(night.rows(), "Batch jobs of the busiest night",
                                                 colours={"Failed": charts.PALETTE[3]}))
    return out


def busiest_night(run) -> pl.DataFrame | None:
    """The runs of the batch jobs (not daemons) started before noon on the day they took longest in all —
    a bill run's night, where an overrun past the morning's probes shows — as (job, started_at, ended_at,
    status) in start order; None when no job ran in a morning."""
    night = run.sql("""
        WITH nights AS (SELECT *, started_at::DATE AS day FROM job_runs
                        WHERE component = 'job' AND hour(started_at) < 12),
             busiest AS (SELECT day FROM nights GROUP BY day
                         ORDER BY sum(epoch(ended_at) - epoch(started_at)) DESC, day LIMIT 1)
        SELECT job, started_at, ended_at, status FROM nights JOIN busiest USING (day)
        ORDER BY started_at, run_no""")
    return night if night.height else None
