"""Two runs side by side: key figures, lead-time distributions, money totals, differences marked.

The same comparison is printed by `cmpsim compare RUN_A RUN_B` (`--json` emits it), shown by the
run-comparison widget and used by the order-priority notebook. Money stays exact (Decimal, shown and
emitted as strings); a figure counts as changed when it differs at all (money to the cent, shares and
hours as rounded by `cmpsim.kpis`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cmpsim import charts, formats
from cmpsim.kpis import KPIS, kpis, stored_scenario

if TYPE_CHECKING:
    import altair as alt

LEAD_TIME_QUANTILES = (0.5, 0.9)
MONEY = {  # name: (what it is, SQL returning one amount)
    "invoiced_net": ("invoiced, net of tax", "SELECT coalesce(sum(net_amount), 0) FROM invoices"),
    "invoiced_tax": ("tax invoiced", "SELECT coalesce(sum(tax_amount), 0) FROM invoices"),
    "invoiced_gross": ("invoiced, gross", "SELECT coalesce(sum(gross_amount), 0) FROM invoices"),
    "payments_received": ("received from customers", "SELECT coalesce(sum(amount), 0) FROM payments"),
    "refunds_paid": ("refunded to customers", "SELECT coalesce(sum(amount), 0) FROM refunds WHERE status = 'Paid'"),
    "receivables_sl": ("sales-ledger balance", "SELECT coalesce(sum(amount), 0) FROM sl_entries"),
    "receivables_gl": ("receivables control account (G/L)", """
        SELECT coalesce(sum(debit - credit), 0) FROM gl_entries
        WHERE gl_account IN (SELECT gl_account FROM posting_rules WHERE rule = 'receivables')"""),
}


@dataclass(frozen=True)
class RunLabel:
    """Which run a side is: its folder, scenario, seed and length."""

    folder: str
    scenario: str
    seed: int
    days: int

    @property
    def text(self) -> str:
        return f"{self.scenario} (seed {self.seed}, {self.days} days)"


@dataclass(frozen=True)
class Comparison:
    """Run A against run B. Frames have one row per figure (or per kind and priority of lead time)."""

    a: RunLabel
    b: RunLabel
    figures: pl.DataFrame  # figure, meaning, a, b, difference, change_pct, changed (values as exact text)
    money: pl.DataFrame  # figure, meaning, a, b, difference (Decimal), changed
    lead_times: pl.DataFrame  # run, kind, priority, orders, mean_h, p50_h, p90_h, max_h
    settings: list[tuple[str, str, str]] = ()  # (setting, A's value, B's value) where the scenarios differ

    @property
    def side_labels(self) -> tuple[str, str]:
        """How each side is told apart: its scenario and the values of the settings that differ (the
        first three), or its folder when the settings are the same."""
        if not self.settings:
            same = self.a.text == self.b.text
            return ((f"{self.a.text}, {Path(self.a.folder).name}", f"{self.b.text}, {Path(self.b.folder).name}")
                    if same else (self.a.text, self.b.text))
        shown = self.settings[:SETTINGS_SHOWN]
        more = f" and {len(self.settings) - SETTINGS_SHOWN} more" if len(self.settings) > SETTINGS_SHOWN else ""
        return tuple(f"{label.scenario}: " + ", ".join(f"{path} {values[i]}" for path, *values in shown) + more
                     for i, label in enumerate((self.a, self.b)))

    @property
    def changed(self) -> list[str]:
        """The figures and amounts that differ between the runs."""
        return list(dict.fromkeys([*self.figures.filter("changed")["figure"], *self.money.filter("changed")["figure"]]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; amounts as strings so no cent is lost."""
        return {
            "a": self.a.__dict__, "b": self.b.__dict__,
            "figures": self.figures.rows(named=True),
            "money": [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()}
                      for r in self.money.rows(named=True)],
            "lead_times": self.lead_times.rows(named=True),
            "changed": self.changed,
            "settings": [{"setting": path, "a": a, "b": b} for path, a, b in self.settings],
        }

    def lead_time_chart(self) -> alt.Chart:
        """Median and 90th-percentile lead time per kind and priority, A beside B: a chart of `cmpsim.charts`
        (interactive in a notebook; `charts.svg` draws it)."""
        rows = self.lead_times.with_columns(
            group=pl.when(pl.col("priority").is_null()).then(pl.col("kind"))
            .otherwise(pl.col("kind") + " P" + pl.col("priority").cast(pl.Utf8)))
        groups = rows.select("group").unique(maintain_order=True)["group"].to_list()
        series = {}
        for side, label in zip(("A", "B"), self.side_labels, strict=True):
            for q in ("p50_h", "p90_h"):
                values = dict(rows.filter(pl.col("run") == side).select("group", q).iter_rows())
                series[f"{side} {q[:3]} — {formats.shortened(label, 60)}"] = [float(values.get(g) or 0) for g in groups]
        return charts.grouped_bars(groups, series, "Lead time, hours: median (p50) and 90th percentile (p90)")


def compare(run_a, run_b) -> Comparison:
    """Compare two open runs (`cmpsim.open_run` or `cmpsim.run`)."""
    fa, fb = kpis(run_a.con), kpis(run_b.con)
    figures = pl.DataFrame([_figure_row(name, KPIS[name][0], fa[name], fb[name]) for name in KPIS],
                           schema={"figure": pl.Utf8, "meaning": pl.Utf8, "a": pl.Utf8, "b": pl.Utf8,
                                   "difference": pl.Utf8, "change_pct": pl.Float64, "changed": pl.Boolean})
    money_rows = []
    for name, (meaning, sql) in MONEY.items():
        a, b = amount(run_a.con, sql), amount(run_b.con, sql)
        money_rows.append({"figure": name, "meaning": meaning, "a": a, "b": b, "difference": b - a, "changed": a != b})
    money = pl.DataFrame(money_rows, schema={"figure": pl.Utf8, "meaning": pl.Utf8, "a": pl.Decimal(18, 2),
                                             "b": pl.Decimal(18, 2), "difference": pl.Decimal(18, 2),
                                             "changed": pl.Boolean})
    lead = pl.concat([lead_times(run_a.con).with_columns(run=pl.lit("A")),
                      lead_times(run_b.con).with_columns(run=pl.lit("B"))])
    return Comparison(_label(run_a), _label(run_b), figures, money,
                      lead.select("run", pl.exclude("run")).sort("kind", "priority", "run", nulls_last=False),
                      setting_differences(run_a, run_b))


SETTINGS_SHOWN = 3  # settings named in a side's label; the comparison lists them all




def setting_differences(run_a, run_b) -> list[tuple[str, str, str]]:
    """The settings (dotted paths of the stored scenarios) whose values differ between the runs, as
    (path, A's value, B's value) in words; "—" where one side does not have the setting. The name of
    the scenario and its description are not settings."""
    a, b = (_flat(stored_scenario(run.con)) for run in (run_a, run_b))
    return [(path, _setting(a.get(path)), _setting(b.get(path))) for path in sorted(a.keys() | b.keys())
            if a.get(path) != b.get(path) and path not in ("name", "description")]


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a scenario by dotted path; a list is one leaf (its items compared together)."""
    if isinstance(tree, dict) and tree:
        return {path: leaf for key, value in tree.items() for path, leaf in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def _setting(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) for v in value):
            return ", ".join(map(str, value)) or "none"
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def lead_times(con) -> pl.DataFrame:
    """Lead time in hours of completed orders: hardware (created → complete) and service per priority
    (released → complete), with count, mean, median, 90th percentile and maximum."""
    return con.sql("""
        WITH done AS (
            SELECT 'hardware' AS kind, NULL::INTEGER AS priority,
                   (epoch(completed_at) - epoch(created_at)) / 3600 AS hours
            FROM orders WHERE kind = 'hardware' AND status = 'Complete'
            UNION ALL
            SELECT 'service', priority, lead_time_hours FROM service_lead_times)
        SELECT kind, priority, count(*) AS orders, round(avg(hours), 2) AS mean_h,
               round(quantile_cont(hours, 0.5), 2) AS p50_h, round(quantile_cont(hours, 0.9), 2) AS p90_h,
               round(max(hours), 2) AS max_h
        FROM done GROUP BY ALL ORDER BY kind, priority NULLS FIRST""").pl()


def _figure_row(name: str, meaning: str, a: Any, b: Any) -> dict[str, Any]:
    difference = None if a is None or b is None else b - a
    change = None if difference is None or not a else float(difference) / float(a) * 100
    return {"figure": name, "meaning": meaning, "a": _text(a), "b": _text(b), "difference": _text(difference),
            "change_pct": None if change is None else round(change, 1), "changed": a != b}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{round(value, 4):g}"
    return str(value)


def amount(con, sql: str) -> Decimal:
    """The one amount `sql` returns, to the cent (MONEY's queries)."""
    return Decimal(con.execute(sql).fetchall()[0][0]).quantize(Decimal("0.01"))


def _label(run) -> RunLabel:
    info = dict(run.con.execute("SELECT key, value FROM run_info WHERE key <> 'scenario_json'").fetchall())
    return RunLabel(str(Path(run.run_dir)), info.get("scenario", "?"), int(info.get("seed", 0)),
                    int(info.get("horizon_days", 0)))
