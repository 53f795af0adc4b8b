"""The `cmpsim` command line. Exit status: 0 success, 2 bad input (one line on stderr); `probes`: 1 breached."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cmpsim import formats
from cmpsim.errors import InputError, InvariantsBroken, RunInterrupted, RunStopped

if TYPE_CHECKING:
    from rich.console import Console

    from cmpsim.check import CheckReport

# The commands import what they need when they run: `cmpsim --help` and `cmpsim validate` start in a
# fraction of a second instead of importing DuckDB, polars, weasyprint and the whole engine first.

EXIT_BREACHED = 1  # `cmpsim probes`: a probe is breached
EXIT_BREAKS = 1  # `cmpsim reconcile`: the ledgers do not reconcile
EXIT_BROKEN = 1  # `cmpsim check`, `cmpsim run --check`: an invariant does not hold
BREAKS_PRINTED_MAX = 20
CHECK_ROWS_PRINTED = 10  # offending rows printed per failed check (--rows)
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3  # `cmpsim run`: stopped by something outside cmpsim (a full disk); --resume continues it


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"cmpsim: error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except OSError as exc:  # a path the file system refuses (name too long, a folder, no permission)
            click.echo(f"cmpsim: error: {formats.shortened(str(exc.filename or ''), 120)}: "
                       f"{exc.strerror or exc.__class__.__name__}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except RunStopped as exc:  # a full disk (an error), or Ctrl-C (RunInterrupted: on purpose)
            click.echo(f"cmpsim: {'' if isinstance(exc, RunInterrupted) else 'error: '}{exc}", err=True)
            ctx.exit(EXIT_STOPPED)
        except InvariantsBroken as exc:  # `run --check`: the run stopped at the first day that broke one
            _print_check(exc.report, CHECK_ROWS_PRINTED)
            click.echo(f"cmpsim: run stopped on {exc}; its database stands at that moment", err=True)
            ctx.exit(EXIT_BROKEN)


@click.group(cls=_Group)
@click.version_option(package_name="cmpsim", prog_name="cmpsim", message="%(prog)s %(version)s")
def main() -> None:
    """cmpsim: the order-to-cash back office of a digital service provider, in simulated time."""


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file (and what it extends) without running it."""
    from cmpsim.scenario import load

    loaded = load(scenario)
    loaded.key()
    click.echo(
        f"{scenario}: valid scenario '{loaded.name}', {loaded.horizon_days} days from "
        f"{loaded['start_date']}, seed {loaded.seed}"
    )


@main.command(name="run")
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default runs/<scenario>-seed<seed>).")
@click.option("--days", type=int, help="Override the scenario's horizon in days.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
@click.option("--check", "check_days", is_flag=True,
              help="Check every invariant after each simulated day (cmpsim check); stop at the first that fails.")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="RUN_DIR",
              help="Continue the interrupted run in RUN_DIR (give SCENARIO too when the key is in it).")
def run_command(scenario: Path | None, seed: int | None, out: Path | None, days: int | None, as_json: bool,
                check_days: bool, resume_dir: Path | None) -> None:
    """Replay SCENARIO into a run folder and print its summary, or --resume an interrupted run."""
    from cmpsim import runs as run_module

    if resume_dir is None and scenario is None:
        raise InputError("arguments", "SCENARIO", "a scenario file, or --resume RUN_DIR", "neither")
    if resume_dir is not None and (seed is not None or days is not None or out is not None):
        raise InputError("arguments", "--resume", "no --seed, --days or --out (the run keeps its own)",
                         "one of them")
    checked = None if resume_dir is not None else run_module.prepare(scenario, seed=seed, days=days)
    console = _console(stderr=True)
    # Started at the first day's report, after the run folder was checked and locked, so that a
    # refusal is printed alone, not after the bar's line.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]simulating[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                   TimeElapsedColumn(), console=console, transient=True)
    tasks: list = []

    def progress(done: int, total: int) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task("days", total=total))
        bar.update(tasks[0], completed=done, total=total)

    try:
        if resume_dir is not None:
            result = run_module.resume(resume_dir, scenario, progress=progress)
        else:
            result = run_module.run(checked, out=out, progress=progress, check=check_days)
    finally:
        if tasks:
            bar.stop()
    summary = result.summary()
    result.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print_summary(summary, result.run_dir)
    if check_days:
        click.echo(f"checked after each of {summary['days']} simulated days: every invariant held", err=True)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(run_dir: Path, as_json: bool) -> None:
    """Print the summary of a finished run folder."""
    from cmpsim import runs as run_module

    with run_module.open_run(run_dir) as opened:
        data = opened.summary()
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        print_summary(data, run_dir)


@main.command(name="probes")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--at", "at_text", metavar="MOMENT",
              help="Evaluate at this simulated moment, like 2026-01-09T06:00 (default: the end of the run).")
@click.option("--history", is_flag=True, help="Summarise the evaluations made during the run instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def probes_command(run_dir: Path, at_text: str | None, history: bool, as_json: bool) -> None:
    """Evaluate the probes of a finished run now, or (--history) list what they found during it.

    An evaluation on demand reads the run: it writes nothing and sends no alert.

    \b
    Exit status: 0 no probe breached; 1 a probe breached (with --history:
    breached at least once during the run); 2 bad input (not a run folder,
    a bad --at).
    """
    from cmpsim import probes as probe_module
    from cmpsim import runs as run_module

    at = probe_module.parse_moment(at_text) if at_text is not None else None
    if history and at is not None:
        raise InputError("argument --at", "", "no --at with --history (the history is the run's own)", at_text)
    with run_module.open_run(run_dir) as opened:
        frame = probe_module.history(opened) if history else probe_module.evaluate_run(opened, at)
    rows = [{k: _plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    else:
        _print_probes(rows, history)
    if any(r["breaches"] for r in rows) if history else any(r["breached"] for r in rows):
        click.get_current_context().exit(EXIT_BREACHED)


@main.command(name="sweep")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--set", "settings", multiple=True, metavar="KEY=V1,V2",
              help="A scenario key (dotted path) and the values to try; repeat for more keys.")
@click.option("--replications", type=int, default=1, show_default=True, help="Runs per combination.")
@click.option("--days", type=int, help="Override the scenario's horizon.")
@click.option("--workers", type=int, default=2, show_default=True, help="Local worker processes (1: one by one).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on the Dask cluster of this scheduler (tcp://host:8786).")
@click.option("--out", type=click.Path(path_type=Path), help="Where results.parquet and summary.parquet go "
              "(default runs/sweeps/<scenario>).")
@click.option("--keep-runs", is_flag=True, help="Keep every run's folder under OUT/runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sweep_command(scenario: Path, settings: tuple[str, ...], replications: int, days: int | None, workers: int,
                  scheduler: str | None, out: Path | None, keep_runs: bool, as_json: bool) -> None:
    """Run SCENARIO for every combination of the --set values, --replications times each (seeds:
    the scenario's seed + 0, 1, …), and collect one results table with means and 95 % confidence
    intervals (Parquet files in OUT)."""
    from cmpsim import sweep
    from cmpsim.scenario import load

    values = sweep.parse_settings(list(settings))
    out = out or Path("runs", "sweeps", load(scenario).name)
    tasks = sweep.plan(scenario, values, replications, days, keep=out / "runs" if keep_runs else None)
    _console(stderr=True).print(f"{len(tasks)} run(s) on " + (scheduler or f"{workers} local worker(s)"))
    results = sweep.execute(tasks, workers=workers, scheduler=scheduler)
    summary = sweep.summarise(results, list(values))
    paths = sweep.write(results, summary, out)
    if as_json:
        click.echo(json.dumps(summary.to_dicts(), indent=2, sort_keys=True, default=str))
        return
    _table(_console(width=max(_console().width, 140)), "Sweep: mean [95 % confidence interval] per combination",
           [*values, "figure", "runs", "mean", "95 % CI"],
           [(*[row[k] for k in values], row["figure"], row["runs"], _number(row["mean"]),
             "" if row["ci_low"] is None else f"{_number(row['ci_low'])} .. {_number(row['ci_high'])}")
            for row in summary.iter_rows(named=True)])
    click.echo(f"results: {paths[0]}\nsummary: {paths[1]}")


@main.command(name="check")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--rows", "rows_max", type=click.IntRange(0, 100_000), default=CHECK_ROWS_PRINTED, show_default=True,
              help="Offending rows printed per failed check.")
@click.option("--json", "as_json", is_flag=True, help="Print every check with every offending row as JSON.")
def check_command(run_dir: Path, rows_max: int, as_json: bool) -> None:
    """Verify the invariants of a finished run and name the rows that break them: journals balance;
    the sales ledger equals the receivables control account unless a recorded fault explains it; no
    order, line, invoice, file or communication lost or duplicated, each in one state reached by
    allowed transitions; stock never negative; every invoice posted once per ledger; no posting
    updated or deleted. See docs/trust.md.

    \b
    Exit status: 0 every invariant holds; 1 some do not (their rows
    printed); 2 bad input (not a run folder, a database cmpsim cannot read).
    """
    import duckdb

    from cmpsim import runs as run_module
    from cmpsim.check import check

    with run_module.open_run(run_dir) as opened:
        try:
            report = check(opened.con, run_dir=opened.run_dir)
        except duckdb.Error as exc:
            raise InputError(str(opened.run_dir / run_module.DB_NAME), "", "a run database cmpsim wrote",
                             str(exc).splitlines()[0]) from None
    if as_json:
        click.echo(json.dumps(report.summary(), indent=2, sort_keys=True))
    else:
        _print_check(report, rows_max)
    if not report.ok:
        click.get_current_context().exit(EXIT_BROKEN)


def _print_check(report: CheckReport, rows_max: int) -> None:
    console = _console(width=max(_console().width, 140))
    counts = report.counts()
    verdict = "[green]every invariant holds[/]" if report.ok else f"[red]{len(report.failed())} check(s) fail[/]"
    console.print(f"Invariants as of {report.as_of:%Y-%m-%d %H:%M}: {verdict}")
    _table(console, "Checks", ["check", "holds", "offending rows"],
           [(name, "yes" if n == 0 else "NO", n) for name, n in counts.items()])
    for name in report.failed():
        rows = report.failures.filter(report.failures["check"] == name)
        _table(console, f"{name}: {rows.height} offending row(s)" + (
            f", first {rows_max}" if rows.height > rows_max else ""), ["object", "where", "what"],
               [(f"{r['object_type']} {r['object_id']}", r["source"], r["detail"])
                for r in rows.head(rows_max).iter_rows(named=True)])


@main.command(name="reconcile")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--as-of", "as_of_text", metavar="DATE", help="Ledgers as booked up to the end of this day, or up to "
              "a moment like 2026-01-08T08:00 (default: everything booked).")
@click.option("--period", metavar="YYYY-MM", help="Only the breaks and control totals of this accounting period.")
@click.option("--report", is_flag=True, help="Also write the report (HTML and PDF) into RUN_DIR/reports/.")
@click.option("--trail", metavar="DOC_ID", help="Print the events behind one document instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (every break).")
def reconcile_command(run_dir: Path, as_of_text: str | None, period: str | None, report: bool, trail: str | None,
                      as_json: bool) -> None:
    """Reconcile the sales ledger of a finished run against its general ledger.

    \b
    Exit status: 0 reconciled (no break, equal control totals, balanced
    journals); 1 breaks; 2 bad input (not a run folder, a bad --as-of or
    --period, an unknown document).
    """
    from cmpsim import reconcile as rc
    from cmpsim import runs as run_module
    from cmpsim.reconcile.report import reconciliation_report

    as_of, period = _as_of(as_of_text), _period(period)
    with run_module.open_run(run_dir) as opened:
        if trail is not None:
            _print_trail(opened, trail, as_json)
            return
        rec = rc.reconcile(opened.con, as_of=as_of, period=period)
        written = reconciliation_report(opened, rec, opened.run_dir / "reports") if report else ()
    if as_json:
        click.echo(json.dumps(rec.summary(), indent=2, sort_keys=True))
    else:
        _print_reconciliation(rec, written)
    if not rec.reconciled:
        click.get_current_context().exit(EXIT_BREAKS)


@main.command(name="report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Folder for the files (default RUN_DIR/reports).")
def report_command(run_dir: Path, out: Path | None) -> None:
    """Write the run report (HTML and PDF): scenario, key figures, charts, probes, reconciliation."""
    from cmpsim import runs as run_module
    from cmpsim.runreport import run_report

    with run_module.open_run(run_dir) as opened:
        for path in run_report(opened, out):
            click.echo(str(path))


@main.command(name="compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Emit the comparison as JSON (amounts as exact strings).")
@click.option("--all", "show_all", is_flag=True, help="List every figure, not only those that differ.")
def compare_command(run_a: Path, run_b: Path, as_json: bool, show_all: bool) -> None:
    """Compare two finished runs: key figures, money totals and lead times, differences marked."""
    from cmpsim import runs as run_module
    from cmpsim.compare import compare
    from cmpsim.kpis import currency as run_currency

    with run_module.open_run(run_a) as a, run_module.open_run(run_b) as b:
        result = compare(a, b)
        currency = run_currency(a.con)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    console = _console(width=max(_console().width, 120))
    console.print(f"A: {_escape(result.a.text)}  [dim]{_escape(str(result.a.folder))}[/]\n"
                  f"B: {_escape(result.b.text)}  [dim]{_escape(str(result.b.folder))}[/]")
    if result.settings:
        _table(console, "Settings that differ", ["setting", "A", "B"], result.settings)
    figures = result.figures if show_all else result.figures.filter("changed")
    _table(console, "Key figures" + ("" if show_all else " that differ"), ["figure", "A", "B", "B − A", "change %"],
           [(("* " if r["changed"] else "  ") + formats.sentence(r["meaning"].removesuffix(", hours")),
             *[_figure_text(r["figure"], r[k]) for k in ("a", "b", "difference")], _or_dash(r["change_pct"]))
            for r in figures.iter_rows(named=True)])
    _table(console, "Money" + (f" ({currency})" if currency else ""), ["total", "A", "B", "B − A"],
           [(("* " if r["changed"] else "  ") + formats.sentence(r["meaning"]), r["a"], r["b"], r["difference"])
            for r in result.money.iter_rows(named=True)])
    _table(console, "Lead time of completed orders, hours", ["run", "kind of order", "priority", "completed", "mean",
                                                             "median", "90th percentile", "longest"],
           [(r["run"], formats.sentence(r["kind"]), formats.priority(r["priority"]) if r["kind"] == "service" else "",
             r["orders"],
             r["mean_h"], r["p50_h"], r["p90_h"], r["max_h"]) for r in result.lead_times.iter_rows(named=True)])
    if not result.changed:
        click.echo("The runs agree on every figure.")


def _figure_text(name: str, text: str | None) -> str:
    """A key figure given as exact text, in its unit (`cmpsim.kpis.UNITS`): a difference of shares in points."""
    from cmpsim.kpis import UNITS

    if text is None:
        return "—"
    unit = UNITS.get(name, "")
    if unit == "money":
        return formats.amount(Decimal(text))
    if unit == "count":
        return formats.count(int(Decimal(text)))
    return formats.figure(float(text), unit) if unit in formats.UNITS else text


def _as_of(text: str | None) -> dt.date | dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text)
    except ValueError:
        raise InputError("argument --as-of", "", "a date like 2026-01-31 or a moment like 2026-01-31T08:00",
                         repr(text)) from None


def _period(text: str | None) -> str | None:
    if text is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise InputError("argument --period", "", "a month like 2026-01", repr(text))
    return text


def _print_trail(opened, doc_id: str, as_json: bool) -> None:
    from cmpsim import reconcile as rc

    found = opened.sql("SELECT doc_type FROM financial_documents WHERE doc_id = ? ORDER BY doc_type", [doc_id])
    if found.height == 0:
        raise InputError("argument --trail", "", "a document of the run (INV-…, PAY-…, REV-…, RFD-…)", repr(doc_id))
    events = rc.trail(opened.con, found["doc_type"][0], doc_id)
    rows = [{k: _plain(v) for k, v in r.items()} for r in events.iter_rows(named=True)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    _table(_console(width=max(_console().width, 160)), f"What happened to {doc_id}",
           ["when", "object", "activity", "job", "detail"],
           [(r["ts"], f"{r['object_type']} {r['object_id']}", r["activity"], r["job"], r["detail"] or "")
            for r in rows])


def _print_reconciliation(rec, written) -> None:
    console = _console(width=max(_console().width, 140))
    verdict = "[green]reconciled[/]" if rec.reconciled else f"[red]{rec.breaks.height} break(s)[/]"
    console.print(f"Sales ledger against general ledger, as of {rec.as_of or 'the end of the run'}"
                  f"{f', period {rec.period}' if rec.period else ''}: {verdict}")
    _table(console, "Control totals", ["period", "sales ledger", "receivables control", "difference"],
           [tuple(str(v) for v in row) for row in rec.control.rows()])
    tb = rec.trial_balance.row(0, named=True)
    console.print(f"trial balance: {tb['journals']} journals, {tb['unbalanced_journals']} unbalanced; "
                  f"debits {tb['debits']} credits {tb['credits']}")
    _table(console, "Breaks by type", ["type", "documents"], [(t, n) for t, n in rec.breaks_by_type().items() if n])
    shown = rec.breaks.head(BREAKS_PRINTED_MAX)
    _table(console, f"Breaks ({shown.height} of {rec.breaks.height}; --json for all, --trail DOC_ID to drill down)",
           ["type", "document", "S/L", "G/L", "difference", "periods", "cause"],
           [(b["break_type"], f"{b['doc_type']} {b['doc_id']}", _or_dash(b["sl_amount"]), _or_dash(b["gl_amount"]),
             b["difference"], f"{_or_dash(b['sl_period'])} / {_or_dash(b['gl_period'])}", b["cause"] or "unknown")
            for b in shown.iter_rows(named=True)])
    for path in written:
        console.print(f"report: {path}")


def _number(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.4g}"


def _or_dash(value: object) -> object:
    return "—" if value is None else value


def _plain(value: object) -> object:
    """A value for JSON or a table cell: a Decimal as its exact text, a moment as ISO text."""
    if isinstance(value, Decimal):
        from cmpsim.probes import number_text

        return number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    return value


def _print_probes(rows: list[dict], history: bool) -> None:
    console = _console(width=max(_console().width, 160))  # probe names are long: keep each on one line
    if not rows:
        console.print("no probes declared in this run's scenario")
    elif history:
        _table(console, "Probe evaluations during the run",
               ["probe", "kind", "healthy when", "evaluations", "breaches", "last breach", "alerts raised"],
               [(r["probe"], formats.words(r["kind"]), formats.condition(r["target"]), r["evaluations"],
                 r["breaches"], r["last_breach"] or "", r["alerts_raised"]) for r in rows])
    else:
        _table(console, f"Probes at {rows[0]['evaluated_at']} (on demand: nothing written, nothing sent)",
               ["probe", "kind", "value", "healthy when", "state", "alert to", "what was found"],
               [(r["probe"], formats.words(r["kind"]), r["value"] or "", formats.condition(r["target"]),
                 "BREACHED" if r["breached"] else "ok", ", ".join(r["alert_to"]), _found(r["detail"]))
                for r in rows])


def _found(detail: str | None, chars_max: int = 90) -> str:
    """A probe's detail (JSON: the first offending rows, or a reason) as a reader takes it in: the first
    row as `field value` pairs, cut to `chars_max` characters (the value says how many there are)."""
    if not detail:
        return ""
    try:
        rows = json.loads(detail)
    except ValueError:
        rows = None
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        first = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in rows[0].items())
        text = "first: " + first
    else:
        text = detail
    return formats.shortened(text, chars_max)


def print_summary(s: dict, run_dir: Path) -> None:
    console = _console(width=max(_console().width, 100))
    console.print(f"[bold]{s['scenario']}[/] seed {s['seed']}: {s['days']} days from {s['start_date']} → "
                  f"{_escape(str(run_dir))}")
    _table(console, "Hardware orders by status", ["status", "orders"], list(s["orders"]["by_status"].items()))
    _table(console, "Error reasons", ["reason", "orders"], [(r["reason"], r["orders"]) for r in s["error_reasons"]])
    _table(
        console,
        "Generic files",
        ["kind", "direction", "status", "files", "records"],
        [tuple(r.values()) for r in s["files"]],
    )
    _table(
        console,
        f"Quarantined files ({len(s['quarantined_files'])})",
        ["file", "name", "status", "reason"],
        [(r["file_id"], r["name"], r["status"], r["reason"]) for r in s["quarantined_files"]],
    )
    _table(
        console,
        "Job runs that did work (and failed)",
        ["job", "component", "runs", "processed", "failed"],
        [tuple(r.values()) for r in s["job_runs"]],
    )
    if s["service_orders"]:
        _table(console, "Service orders", ["type", "status", "orders"],
               [tuple(r.values()) for r in s["service_orders"]])
        _table(console, "Service orders rejected or failed", ["type", "reason", "orders"],
               [tuple(r.values()) for r in s["service_rejections"]])
        _table(console, "Service lead time by priority (completed orders), hours",
               ["priority", "orders", "mean wait", "mean lead time", "90th percentile"],
               [(formats.priority(int(r["priority"])), *list(r.values())[1:]) for r in s["service_lead_times"]])
    _table(console, "Devices by enrolment status", ["status", "devices"], list(s["devices"].items()))
    if "invoices" in s:
        _print_billing(console, s)
    _table(
        console, "Charges", ["billing mode", "status", "charges", "gross"], [tuple(r.values()) for r in s["charges"]]
    )
    console.print(f"fraud check: {_facts(s['fraud_check'])}; stock checks: {_facts(s['stock_checks'])}; "
                  f"events: {formats.count(s['events'])}")


def _print_billing(console: Console, s: dict) -> None:
    runs = s["billing_runs"]
    console.print(f"billing runs: {runs['completed']} of {runs['runs']} completed"
                  + (f"; incomplete: {', '.join(runs['incomplete'])}" if runs["incomplete"] else ""))
    roll = s["receivables_roll_forward"]
    currency = f" ({roll['currency']})" if roll["currency"] else ""
    _table(console, "Invoices" + currency, ["type", "invoices", "lines", "net", "tax", "gross"],
           [tuple(r.values()) for r in s["invoices"]])
    _table(console, "Payments and refunds" + currency, ["", "documents", "amount"],
           [tuple(r.values()) for r in s["payments"]])
    _table(console, "Postings" + currency, ["ledger", "status", "postings", "amount"],
           [(formats.words(r["ledger"]), *list(r.values())[1:]) for r in s["postings"]])
    ledgers = s["ledgers"]
    _table(console, "Ledgers" + currency, ["", "amount"], [
        ("sales ledger: sum of balances", ledgers["sales_ledger_balance"]),
        ("general ledger: receivables control", ledgers["receivables_control"]),
        ("general ledger: debits", ledgers["gl_debits"]), ("general ledger: credits", ledgers["gl_credits"])])
    _table(console, "Receivables roll-forward" + currency, ["", "documents", "amount"],
           [(line["what"], line["documents"], line["amount"]) for line in roll["lines"]]
           + [("= Closing receivables (sales ledger at the end)", "", roll["closing"])])
    console.print("the roll-forward ties to the cent" if roll["ties"] else
                  f"the roll-forward does not tie: the lines differ from the closing balance by {roll['difference']}")
    _table(console, "Probes", ["probe", "kind", "evaluations", "breaches", "alerts"],
           [(r["probe"], formats.words(r["kind"]), *list(r.values())[2:]) for r in s["probes"]])
    console.print(f"statements: {formats.count(s['statements'])}; bill documents: {_facts(s['bill_documents'])}; "
                  f"usage: {_facts(s['usage'])}")
    if s.get("comms"):
        _table(console, "Communications", ["channel", "status", "comms"],
               [(formats.words(r["channel"]), *list(r.values())[1:]) for r in s["comms"]])
        _table(console, "Communications failed or bounced", ["channel", "reason", "comms"],
               [(formats.words(r["channel"]), *list(r.values())[1:]) for r in s["comms_failures"]])
    rec = s["reconciliation"]
    console.print("reconciliation (cmpsim reconcile for details): " + (
        "the ledgers reconcile" if rec["reconciled"] else
        "breaks " + _facts(rec["breaks"])))


def _facts(facts: dict) -> str:
    """A small mapping as words: {"failed": 210, "not_checked": 305} → "failed 210, not checked 305"."""
    return ", ".join(f"{str(k).replace('_', ' ')} {_cell_text(v)}" for k, v in facts.items()) or "none"


AMOUNT_TEXT = re.compile(r"-?[0-9]+\.[0-9]{2}")
NUMERIC_COLUMNS = {"orders", "files", "records", "runs", "processed", "devices", "charges", "gross", "value",
                   "evaluations", "breaches", "alerts", "alerts raised", "invoices", "lines", "net", "tax",
                   "documents", "amount", "postings", "failed", "sales ledger", "receivables control", "difference",
                   "S/L", "G/L", "comms", "mean", "offending rows", "mean wait", "mean lead time", "90th percentile",
                   "A", "B", "B − A", "change %", "completed", "median", "longest"}


def _cell(value: object) -> str:
    """A table cell is data, which may quote a hostile file (a quarantine reason): never markup, and
    no control character reaches the terminal."""
    return _escape(re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", _cell_text(value)))


def _cell_text(value: object) -> str:
    """Numbers the same way in every table (`cmpsim.formats`): counts and amounts with thousands
    separators (an amount given as exact text, "1552098.83", too), measures with two decimals."""
    if isinstance(value, bool) or value is None:
        return str(value if value is not None else "—")
    if isinstance(value, int):
        return formats.count(value)
    if isinstance(value, Decimal):
        return formats.amount(value)
    if isinstance(value, float):
        return formats.number(value, 2)
    if isinstance(value, str) and AMOUNT_TEXT.fullmatch(value):
        return formats.amount(Decimal(value))
    return str(value)


def _table(console: Console, title: str, columns: list[str], rows: list[tuple]) -> None:
    """A titled table; with no rows, one line saying so rather than a frame around nothing."""
    from rich.table import Table

    if not rows:
        console.print(f"{_escape(title)}: none")
        return
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i and column in NUMERIC_COLUMNS else "left")
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


def _console(*args, **kwargs) -> Console:
    from rich.console import Console

    return Console(*args, **kwargs)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

from cmpsim.exchange.cli import COMMANDS as EXCHANGE_COMMANDS  # noqa: E402 - registered last, beside the core

for _command in EXCHANGE_COMMANDS:
    main.add_command(_command)
