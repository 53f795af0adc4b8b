"""What the notebook dashboards show, as plain data: the view-models behind `cmpsim.widgets`.

Every function here takes runs (open `Run`s or run folders) and a user's choices and returns a polars
DataFrame, a dict or HTML/SVG text — no widget in sight — so what a dashboard shows can be tested,
printed in a golden notebook, or reused in a report. Output is deterministic: no wall-clock time, no
generated ids; money stays exact (`Decimal`, shown as its text), and every value put into HTML is
escaped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import altair as alt
import polars as pl

from cmpsim import charts
from cmpsim.compare import Comparison, compare
from cmpsim.errors import InputError, describe
from cmpsim.formats import MISSING
from cmpsim.kpis import KPIS, kpis, stored_scenario
from cmpsim.paths import SCHEMA_DIR
from cmpsim.priorities import NAMED, level
from cmpsim.probes import evaluate_run, history, number_text
from cmpsim.reconcile import BREAK_TYPES
from cmpsim.runs import MARKER, Run, open_run
from cmpsim.scenario import Scenario

RunSource = Run | str | Path  # an open run is used as it is; a folder is opened read-only for each look

# --- HTML -----------------------------------------------------------------------------------------

TABLE_CSS = """<style>
.cmpsim-table {border-collapse: collapse; font-size: 12px; margin: 4px 0 10px 0}
.cmpsim-table th, .cmpsim-table td {border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left;
  vertical-align: top; white-space: nowrap}
.cmpsim-table th {background: #f3f5f7; position: sticky; top: 0}
.cmpsim-table td.num, .cmpsim-table th.num {text-align: right; font-variant-numeric: tabular-nums}
.cmpsim-table td.prose {white-space: normal; min-width: 18em; max-width: 40em}
.cmpsim-table td.prose span {white-space: nowrap}
.cmpsim-table th[data-sort]::after {content: " \\2195"; color: #9aa3ad}
.cmpsim-table th[data-sort="up"]::after {content: " \\2191"; color: inherit}
.cmpsim-table th[data-sort="down"]::after {content: " \\2193"; color: inherit}
.cmpsim-table tr.changed td, .cmpsim-table tr.breached td {background: #fff3cd; font-weight: 600}
.cmpsim-scroll {max-height: 460px; overflow: auto; display: inline-block; max-width: 100%}
</style>"""
PROSE_CHARS = 40  # a text cell longer than this wraps, between words only
SORTABLE_ROWS = 12  # a table longer than this sorts by a click on a column's heading
# Sorts the table just before it (numbers as numbers); kept as text so the output stays the same.
SORT_SCRIPT = """<script>(function (table) {
  if (!table) return;
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    th.dataset.sort = ""; th.style.cursor = "pointer"; th.title = "sort by " + th.textContent;
    th.addEventListener("click", function () {
      var up = th.dataset.sort !== "up", body = table.tBodies[0];
      heads.forEach(function (h) { h.dataset.sort = ""; });
      th.dataset.sort = up ? "up" : "down";
      var num = th.classList.contains("num");
      var key = function (row) { var t = row.cells[col].textContent;
        return num ? (parseFloat(t.replace(/[^0-9.eE+-]/g, "")) || 0) : t; };
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})(document.currentScript.previousElementSibling.querySelector("table"));</script>"""
NUMBER = r"^-?[\d,]+(\.\d+)?%?$"  # a text cell that holds a number, an exact amount or a share


def cell_text(value: Any) -> str:
    """A value as a person reads it: amounts exactly as stored, simulated times to the second."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list | tuple):
        return ", ".join(cell_text(v) for v in value)
    return str(value)


def html_table(frame: pl.DataFrame, row_classes: Sequence[str | None] | None = None) -> str:
    """The frame as an HTML table (class `cmpsim-table`); `row_classes` gives each row a CSS class
    (or None). Numbers — numeric columns, and text columns holding only numbers such as exact
    amounts — are right-aligned; no value breaks inside (an ID, a date, an amount), long text wraps
    between words only; a missing value is "—"; an empty frame shows one row saying so. Alignment,
    wrapping and highlighted rows are inline styles too: they hold where a page drops `<style>`
    (JupyterLab's sanitizer on an untrusted notebook, e-mail, GitHub)."""
    numeric = [_numeric(frame[name]) for name in frame.columns]
    head = "".join(f'<th class="num" style="{RIGHT}">{html.escape(name)}</th>' if num
                   else f'<th style="{LEFT}">{html.escape(name)}</th>'
                   for name, num in zip(frame.columns, numeric, strict=True))
    rows = []
    for i, row in enumerate(frame.iter_rows()):
        css = row_classes[i] if row_classes is not None else None
        cells = "".join(_cell(v, num) for v, num in zip(row, numeric, strict=True))
        rows.append(f'<tr class="{html.escape(css)}" style="{FLAGGED}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    if not rows:
        rows.append(f'<tr class="empty"><td colspan="{max(frame.width, 1)}" style="{LEFT}">none</td></tr>')
    return f'<table class="cmpsim-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


LEFT = "text-align:left;white-space:nowrap"
RIGHT = "text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums"
PROSE = "text-align:left;white-space:normal;min-width:18em;max-width:40em"
FLAGGED = "background-color:#fff3cd;font-weight:600"


def _numeric(column: pl.Series) -> bool:
    if column.dtype.is_numeric():
        return True
    if column.dtype != pl.Utf8:
        return False
    values = column.drop_nulls()
    return values.len() > 0 and bool(values.str.contains(NUMBER).all())


def _cell(value: Any, numeric: bool) -> str:
    text = _shown(value)
    if numeric:
        return f'<td class="num" style="{RIGHT}">{html.escape(text)}</td>'
    if len(text) <= PROSE_CHARS:
        return f'<td style="{LEFT}">{html.escape(text)}</td>'
    words = " ".join(f'<span style="white-space:nowrap">{html.escape(word)}</span>' if "-" in word or "/" in word
                     else html.escape(word) for word in text.split(" "))
    return f'<td class="prose" style="{PROSE}">{words}</td>'


class Table:
    """A table as a notebook shows it: HTML with numbers right-aligned, a heading, sortable by a
    click when it is long and scrolling under a fixed header; aligned text where HTML is not
    shown (and for nbval's readable diffs). `show(frame)` displays one."""

    def __init__(self, frame: pl.DataFrame, title: str | None = None,
                 row_classes: Sequence[str | None] | None = None) -> None:
        self.frame, self.title, self.row_classes = frame, title, row_classes

    def _repr_html_(self) -> str:
        table = html_table(self.frame, self.row_classes)
        if self.frame.height > SORTABLE_ROWS:
            table = f'<div class="cmpsim-scroll">{table}</div>{SORT_SCRIPT}'
        return page(heading(self.title) if self.title else "", table)

    def __repr__(self) -> str:
        return (f"{self.title}\n" if self.title else "") + text_table(self.frame)


def show(frame: pl.DataFrame, title: str | None = None) -> None:
    """Display `frame` under the cell as a `Table` (what notebooks use instead of printing frames)."""
    from IPython.display import display

    display(Table(frame, title))


def _shown(value: Any) -> str:
    """A table cell on the page: a missing value is a dash, not a blank that reads as zero or as lost."""
    return MISSING if value is None else cell_text(value)


def heading(text: str) -> str:
    return f"<h4>{html.escape(text)}</h4>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def page(*parts: str) -> str:
    """HTML parts behind the table style, ready for an `ipywidgets.HTML` value."""
    return TABLE_CSS + "".join(parts)


def inline_svg(svg: str) -> str:
    """SVG text from `cmpsim.charts` without its XML prolog, so it can sit inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def text_table(frame: pl.DataFrame) -> str:
    """The frame as aligned plain text, numbers right-aligned: what a notebook shows where HTML is not."""
    rows = [list(frame.columns)] + [[cell_text(v) for v in row] for row in frame.iter_rows()]
    widths = [max(len(r[i]) for r in rows) for i in range(frame.width)]
    numeric = [_numeric(frame[name]) for name in frame.columns]
    return "\n".join("  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True))
                     .rstrip() for r in rows)


# --- runs -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def opened(source: RunSource) -> Iterator[Run]:
    """The run behind `source`: an open `Run` as it is (left open), a folder opened read-only and
    closed afterwards, so that a dashboard holds no lock on a run between two looks at it."""
    if isinstance(source, Run):
        yield source
        return
    with open_run(source) as run:
        yield run


def run_folders(folder: str | Path) -> list[Path]:
    """The finished run folders directly inside `folder`, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / MARKER).is_file())


def key_figures(con) -> pl.DataFrame:
    """The key figures of a run (`cmpsim.kpis`) with what each means, values as exact text."""
    values = kpis(con)
    return pl.DataFrame({"figure": list(KPIS), "meaning": [KPIS[k][0] for k in KPIS],
                         "value": [cell_text(values[k]) for k in KPIS]}, schema=dict.fromkeys(
                             ("figure", "meaning", "value"), pl.Utf8))


# --- scenario knobs -------------------------------------------------------------------------------

FRAUD_CHECK = "sales.order.request.extract.fraudcheckrequired"
# knob: (path in the scenario, what an analyst calls it). Faults are kept or cleared as a whole.
KNOBS: dict[str, tuple[tuple[str, ...], str]] = {
    "hardware_orders_per_day": (("demand", "orders_per_day"), "Hardware orders a day"),
    "service_orders_per_day": (("service", "demand", "orders_per_day"), "Service orders a day"),
    "priority_mix": (("service", "demand", "priority_mix"), "Priority mix"),
    "fulfilment_workers": (("service", "fulfilment", "workers"), "Fulfilment workers"),
    "hardware_charges": (("billing", "hardware_charges"), "Hardware billed"),
    "fraud_check": (("properties", FRAUD_CHECK), "Fraud check"),
    "faults": (("faults",), "Faults"),
    "days": (("horizon_days",), "Days"),
    "seed": (("seed",), "Seed"),
}
FAULT_CHOICES = ("keep", "clear")


def hardware_charge_modes() -> list[str]:
    """The billing modes the scenario schema allows for dispatched hardware."""
    schema = json.loads((SCHEMA_DIR / "scenario.schema.json").read_text(encoding="utf-8"))
    return list(schema["properties"]["billing"]["properties"]["hardware_charges"]["enum"])


def knobs_of(scenario: Scenario) -> dict[str, Any]:
    """The knobs as the scenario sets them (None where it has no such section, e.g. no `service`)."""
    data = scenario.public_dict()
    knobs: dict[str, Any] = {}
    for name, (path, _) in KNOBS.items():
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        knobs[name] = value
    knobs["faults"] = "keep"
    if knobs["priority_mix"] is not None:
        knobs["priority_mix"] = {str(k): v for k, v in sorted(knobs["priority_mix"].items(), key=lambda kv: int(kv[0]))}
    return knobs


def overrides_from_knobs(knobs: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The nested overrides for `cmpsim.scenario.load` that set these knobs. With `base` (the
    scenario's own knobs, `knobs_of`) only knobs that differ are set, so untouched knobs replay the
    scenario as written. A priority left out of a changed mix gets weight 0: overrides merge key by
    key, so leaving it out would keep its old weight. Values are checked by `load`, not here."""
    base = base or {}
    overrides: dict[str, Any] = {}
    for name in changed_knobs(knobs, base):
        value = knobs[name]
        if name == "faults":
            value = []
        elif name == "priority_mix" and isinstance(value, Mapping):
            value = {**dict.fromkeys(base.get("priority_mix") or {}, 0), **value}
        _nest(overrides, KNOBS[name][0], _plain_number(value))
    return overrides


def changed_knobs(knobs: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> list[str]:
    """The knobs that ask for a change: set (not None), different from `base`, and for faults
    `clear` (keeping them is no change)."""
    base = base or {}
    changed = []
    for name, value in knobs.items():
        if name not in KNOBS:
            raise InputError("knobs", name, f"one of {', '.join(KNOBS)}", "an unknown knob")
        if name == "faults" and value not in FAULT_CHOICES:
            raise InputError("knobs", "faults", "keep or clear", describe(value))
        if value is None or (name in base and base[name] == value) or (name == "faults" and value == "keep"):
            continue
        changed.append(name)
    return changed


def _nest(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _plain_number(value: Any) -> Any:
    """20.0 typed in a number box is 20, as a scenario file would say it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_number(v) for k, v in value.items()}
    return value


def format_priority_mix(mix: Mapping[str, Any] | None) -> str:
    """{"3": 50, "5": 30} as `3: 50, 5: 30`, the way the runner lets an analyst type it."""
    return ", ".join(f"{k}: {v}" for k, v in (mix or {}).items())


def parse_priority_mix(text: str) -> dict[str, int | float]:
    """`3: 50, 5: 30, 7: 15, 9: 5` (or Table 8-5's names, `Low: 50, Urgent: 5`) as {"3": 50, ...};
    weights are checked by the scenario schema."""
    expected = "priorities 0-9 or Low, Medium, High, Urgent with weights, like 3: 50, 5: 30, High: 15, Urgent: 5"
    mix: dict[str, int | float] = {}
    for part in (p.strip() for p in text.split(",")):
        given, sep, weight = (s.strip() for s in part.partition(":"))
        try:
            number = float(weight)
        except ValueError:
            number = None
        named = given.capitalize() in NAMED
        key = str(level(given.capitalize())) if named or (given.isdigit() and len(given) == 1) else None
        if not sep or key is None or number is None or key in mix:
            raise InputError("knob priority mix", "", expected, describe(text))
        mix[key] = _plain_number(number)
    return mix


def run_dir_for(out_folder: str | Path, scenario: Scenario, overrides: Mapping[str, Any]) -> Path:
    """Where a run of `scenario` with these overrides goes: `<name>-seed<seed>`, plus a digest of
    the overrides when there are any, so each what-if keeps its own folder and running the same
    one again replaces only itself."""
    folder = Path(out_folder) / f"{scenario.name}-seed{scenario.seed}"
    if not overrides:
        return folder
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return folder.with_name(f"{folder.name}-{digest}")


# --- two runs -------------------------------------------------------------------------------------


def comparison_of(run_a: RunSource, run_b: RunSource) -> Comparison:
    """Run A against run B (`cmpsim.compare`), each opened only for the comparison."""
    with opened(run_a) as a, opened(run_b) as b:
        return compare(a, b)


def figures_html(comparison: Comparison) -> str:
    """Key figures A beside B; a figure that differs has the row class `changed`."""
    frame = comparison.figures
    shown = frame.select("figure", "meaning", pl.col("a").alias("A"), pl.col("b").alias("B"), "difference",
                         pl.col("change_pct").alias("change %"))
    return html_table(shown, ["changed" if c else None for c in frame["changed"]])


def money_html(comparison: Comparison) -> str:
    """Money totals A beside B, to the cent; an amount that differs has the row class `changed`."""
    frame = comparison.money
    shown = frame.select("figure", "meaning", pl.col("a").alias("A"), pl.col("b").alias("B"), "difference")
    return html_table(shown, ["changed" if c else None for c in frame["changed"]])


def comparison_heading(comparison: Comparison) -> str:
    """The sides told apart by the settings that differ between them, then which figures moved."""
    changed = comparison.changed
    a, b = comparison.side_labels
    return (f"A: {a} — B: {b}. "
            + (f"{len(changed)} figures differ: {', '.join(changed)}." if changed else "No figure differs."))


def settings_html(comparison: Comparison) -> str:
    """The settings that differ between the two runs' scenarios, each with A's and B's value."""
    frame = pl.DataFrame(comparison.settings, schema={"setting": pl.Utf8, "A": pl.Utf8, "B": pl.Utf8}, orient="row")
    return heading("Settings that differ") + html_table(frame)


# --- probes ---------------------------------------------------------------------------------------


def probe_board(run: Run) -> pl.DataFrame:
    """Every probe of the run: kind, target, its value at the end of the run and whether that
    breaches, and its history inside the run (evaluations, breaches, last breach, alerts raised)."""
    now = evaluate_run(run).select(
        "probe", pl.col("value").map_elements(number_text, return_dtype=pl.Utf8).alias("value_at_end"),
        pl.col("breached").alias("breached_at_end"))
    return history(run).join(now, on="probe", how="left", maintain_order="left").select(
        "probe", "kind", "target", "value_at_end", "breached_at_end", "evaluations", "breaches", "last_breach",
        "alerts_raised")


def probe_evaluations(run: Run, probe: str, breaches_only: bool = False) -> pl.DataFrame:
    """The probe's evaluations inside the run, in time order: value, breach and what it kept."""
    frame = run.sql("""
        SELECT evaluated_at, value, breached, detail FROM probe_results
        WHERE probe = ? AND mode = 'scheduled' AND (breached OR NOT ?) ORDER BY evaluated_at""", [probe, breaches_only])
    return frame.with_columns(pl.col("value").map_elements(number_text, return_dtype=pl.Utf8))


def probe_findings(run: Run, probe: str) -> tuple[str, pl.DataFrame]:
    """What made the probe fire: a sentence about its last breach in the run (or at its end), and the
    rows its detail query kept then (or the reason there is no value). Empty if it never fired."""
    description = next((p.get("description", "") for p in _stored_probes(run) if p["name"] == probe), "")
    last = run.sql("""
        SELECT evaluated_at, value, target, detail FROM probe_results
        WHERE probe = ? AND mode = 'scheduled' AND breached ORDER BY evaluated_at DESC LIMIT 1""", [probe])
    if last.height == 0:
        at_end = evaluate_run(run).filter(pl.col("probe") == probe, pl.col("breached"))
        if at_end.height == 0:
            return f"{probe} never breached. {description}".strip(), pl.DataFrame()
        last, when = at_end, "Breached at the end of the run"
    else:
        when = f"Last breached at {last['evaluated_at'][0]:%Y-%m-%d %H:%M}"
    row = last.row(0, named=True)
    sentence = f"{when}: value {number_text(row['value'])}, target {row['target']}. {description}".strip()
    return sentence, detail_rows(row["detail"])


def detail_rows(detail: str | None) -> pl.DataFrame:
    """A probe result's `detail` as rows: its detail query's rows (canonical JSON, every value a
    string), or one `reason` row when it holds why there is no value."""
    if not detail:
        return pl.DataFrame()
    try:
        rows = json.loads(detail)
    except json.JSONDecodeError:
        rows = None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return pl.DataFrame({"reason": [detail]})
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame({c: [cell_text(r.get(c)) for r in rows] for c in columns},
                        schema=dict.fromkeys(columns, pl.Utf8))


def _stored_probes(run: Run) -> list[dict[str, Any]]:
    return stored_scenario(run.con).get("probes", [])


# --- reconciliation -------------------------------------------------------------------------------


def break_type_counts(breaks: pl.DataFrame) -> list[tuple[str, int]]:
    """The break types present, in the order reconciliation classifies them, with their counts."""
    counts = dict(breaks.group_by("break_type").len().rows())
    return [(t, counts[t]) for t in BREAK_TYPES if t in counts]


def filter_breaks(breaks: pl.DataFrame, break_type: str | None = None, text: str = "") -> pl.DataFrame:
    """The breaks of one type (None or "": every type) whose document, account or cause contains
    `text` (any case)."""
    shown = breaks if not break_type else breaks.filter(pl.col("break_type") == break_type)
    needle = text.strip().lower()
    if not needle:
        return shown
    haystack = pl.concat_str([pl.col(c).fill_null("") for c in ("doc_type", "doc_id", "account_id", "cause")],
                             separator=" ").str.to_lowercase()
    return shown.filter(haystack.str.contains(needle, literal=True))


def break_label(row: Mapping[str, Any]) -> str:
    """One line naming a break in a list: type, document, account and the difference."""
    return (f"{row['break_type']} · {row['doc_type']} {row['doc_id']} · {row['account_id']}"
            f" · {cell_text(row['difference'])}")


def break_facts(row: Mapping[str, Any]) -> pl.DataFrame:
    """A break as field/value rows: both sides' amounts and counts, periods, first booking, cause."""
    return pl.DataFrame({"field": list(row), "value": [cell_text(v) for v in row.values()]},
                        schema={"field": pl.Utf8, "value": pl.Utf8})


BOOKINGS = """
    SELECT 'CMP' AS side, ledger, posting_id AS id, 'posted' AS amount_is, amount, period, status,
           created_at AS moment, NULL::VARCHAR AS source_file
    FROM postings WHERE doc_type = $doc_type AND doc_id = $doc_id
    UNION ALL
    SELECT 'S/L', 'SL', entry_id::VARCHAR, 'entry amount', amount, period, 'Booked', posted_at, source_file
    FROM sl_entries WHERE doc_type = $doc_type AND doc_id = $doc_id
    UNION ALL
    SELECT 'G/L', 'GL', j.journal_id, 'net on receivables',
           (SELECT coalesce(sum(e.debit - e.credit), 0) FROM gl_entries e
            WHERE e.journal_id = j.journal_id
              AND e.gl_account = (SELECT min(gl_account) FROM posting_rules WHERE rule = 'receivables'))::DECIMAL(18,2),
           j.period, 'Booked', j.posted_at, j.source_file
    FROM gl_journals j WHERE doc_type = $doc_type AND doc_id = $doc_id
    ORDER BY moment, side, id"""


def break_documents(con, doc_type: str, doc_id: str) -> pl.DataFrame:
    """A document on both sides: what CMP posted to each ledger (and its status), each S/L entry and
    each G/L journal, with amounts — for a journal its net on the receivables control account,
    the figure reconciliation holds against the S/L."""
    return con.sql(BOOKINGS, params={"doc_type": doc_type, "doc_id": doc_id}).pl()


def job_windows(run: Run, day: str, jobs: Sequence[str] | None = None) -> alt.Chart:
    """When each job and daemon that did work on `day` (YYYY-MM-DD) ran, from its start to its end (the
    scenario's cost model): one lane per job, coloured by status, so an overrun shows past its hour.
    `jobs` keeps those named, in that order."""
    runs = run.sql("""SELECT job, started_at, ended_at, status FROM job_runs
                      WHERE started_at::DATE = ?::DATE ORDER BY started_at, run_no""", [day])
    if jobs is not None:
        runs = runs.filter(pl.col("job").is_in(list(jobs))).sort(
            pl.col("job").replace_strict(list(jobs), list(range(len(jobs)))), "started_at", maintain_order=True)
    return charts.timeline(runs.rows(), f"Job runs on {day}", colours={"Failed": charts.PALETTE[3]})


def fallout_desk(run: Run) -> alt.Chart:
    """The fallout operators' day: each task from when it was taken to when it was resolved, one lane per
    operator, coloured by what the operator did (retry, fix, cancel)."""
    tasks = run.sql("""SELECT 'operator ' || operator, started_at, ended_at, outcome FROM fallout_tasks
                       WHERE started_at IS NOT NULL ORDER BY operator, started_at""")
    return charts.timeline(tasks.rows(), "Fallout desk: tasks by operator",
                           colours={"cancel": charts.PALETTE[3], "retry": charts.PALETTE[1], "fix": charts.PALETTE[2]})
