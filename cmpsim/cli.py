"""The `cmpsim` command line. Exit status: 0 success, 2 bad input (one line on stderr)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cmpsim import runs as run_module
from cmpsim.errors import InputError
from cmpsim.scenario import load

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"cmpsim: error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group)
def main() -> None:
    """cmpsim: the order-to-cash back office of a digital service provider, in simulated time."""


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check a scenario file (and what it extends) without running it."""
    loaded = load(scenario)
    loaded.key()
    click.echo(
        f"{scenario}: valid scenario '{loaded.name}', {loaded.horizon_days} days from "
        f"{loaded['start_date']}, seed {loaded.seed}"
    )


@main.command(name="run")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--seed", type=int, help="Override the scenario's seed.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default runs/<scenario>-seed<seed>).")
@click.option("--days", type=int, help="Override the scenario's horizon in days.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
def run_command(scenario: Path, seed: int | None, out: Path | None, days: int | None, as_json: bool) -> None:
    """Replay SCENARIO into a run folder and print its summary."""
    checked = run_module.prepare(scenario, seed=seed, days=days)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]simulating[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("days", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_module.run(checked, out=out, progress=progress)
    summary = result.summary()
    result.close()
    if as_json:
        click.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print_summary(summary, result.run_dir)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(run_dir: Path, as_json: bool) -> None:
    """Print the summary of a finished run folder."""
    with run_module.open_run(run_dir) as opened:
        data = opened.summary()
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        print_summary(data, run_dir)


def print_summary(s: dict, run_dir: Path) -> None:
    console = Console(width=max(Console().width, 100))
    console.print(f"[bold]{s['scenario']}[/] seed {s['seed']}: {s['days']} days from {s['start_date']} → {run_dir}")
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
        "Job runs that did work",
        ["job", "component", "runs", "processed"],
        [tuple(r.values()) for r in s["job_runs"]],
    )
    if s["service_orders"]:
        _table(console, "Service orders", ["type", "status", "orders"],
               [tuple(r.values()) for r in s["service_orders"]])
        _table(console, "Service orders rejected or failed", ["type", "reason", "orders"],
               [tuple(r.values()) for r in s["service_rejections"]])
        _table(console, "Service lead time by priority (completed orders)",
               ["priority", "orders", "mean wait h", "mean lead time h", "p90 lead time h"],
               [tuple(r.values()) for r in s["service_lead_times"]])
    _table(console, "Devices by enrolment status", ["status", "devices"], list(s["devices"].items()))
    _table(
        console, "Charges", ["billing mode", "status", "charges", "gross"], [tuple(r.values()) for r in s["charges"]]
    )
    console.print(f"fraud check: {s['fraud_check']}; stock checks: {s['stock_checks']}; events: {s['events']}")


def _table(console: Console, title: str, columns: list[str], rows: list[tuple]) -> None:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(
            column,
            justify="right"
            if i and column in ("orders", "files", "records", "runs", "processed", "devices", "charges", "gross")
            else "left",
        )
    for row in rows:
        table.add_row(*[str(v) for v in row])
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
