"""The exchange commands of the `cmpsim` command line: export-ocel, import-tmf, export-tmf.

Bad input (not a run folder, a TMF order that does not fit) raises InputError, which the `cmpsim`
group prints as one line and turns into exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from cmpsim.exchange import DATE_MODES

# Each command imports its exporter when it runs (see cmpsim/cli.py).


@click.command(name="export-ocel")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--format", "form", type=click.Choice(["json", "sqlite", "both"]), default="both", show_default=True,
              help="Which OCEL 2.0 form to write.")
def export_ocel_command(run_dir: Path, out: Path, form: str) -> None:
    """Write the run in RUN_DIR as an OCEL 2.0 object-centric event log into the folder OUT
    (<run>.json and <run>.sqlite), for process-mining tools such as PM4Py."""
    from cmpsim.exchange.ocel import FORMATS, export_ocel
    from cmpsim.runs import open_run

    formats = FORMATS if form == "both" else (form,)
    with open_run(run_dir) as opened:
        result = export_ocel(opened, out, formats)
    objects = sum(result.objects.values())
    click.echo(f"{result.events:,} events of {len(result.event_types)} activities, {objects:,} objects of "
               f"{len(result.objects)} types, {result.event_objects:,} event-object and {result.object_objects:,} "
               f"object-object relations, in {result.seconds:.1f} s")
    for path in result.paths:
        click.echo(f"  {path}")


@click.command(name="import-tmf")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--scenario", "base", type=click.Path(path_type=Path), required=True,
              help="The scenario the orders are added to (it needs a service section).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The scenario file to write.")
@click.option("--dates", type=click.Choice(DATE_MODES), default="auto", show_default=True,
              help="auto: move the orders by whole days onto the scenario's first day only when they fall "
                   "outside its horizon; keep: never move them; shift: always.")
def import_tmf_command(source: Path, base: Path, out: Path, dates: str) -> None:
    """Import TMF622 ProductOrders (a JSON file, or a folder of them) as service orders of a new
    scenario OUT that extends --scenario; nothing is written unless every order fits.

    \b
    Exit status: 0 written; 2 an order (or argument) that does not fit,
    named by file, field path, what was expected and what was found.
    """
    from cmpsim.exchange.tmf622 import import_product_orders

    imported = import_product_orders(source, base, out, dates)
    click.echo(f"{out}: {imported.orders} order(s), {imported.lines} line(s)"
               + (f", new products {', '.join(imported.new_products)}" if imported.new_products else "")
               + (f", new accounts {', '.join(imported.new_accounts)}" if imported.new_accounts else "")
               + (f", {imported.discounts} discount(s)" if imported.discounts else ""))
    for note in imported.notes[1:]:
        click.echo(f"  {note}")
    click.echo(f"run it with: cmpsim run {out}")


@click.command(name="export-tmf")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def export_tmf_command(run_dir: Path, out: Path) -> None:
    """Write the run in RUN_DIR as TM Forum documents into the folder OUT: service orders as TMF622
    ProductOrders, invoices as TMF678 CustomerBills and AppliedCustomerBillingRates, communications
    as TMF681 CommunicationMessages (one JSON array per resource)."""
    from cmpsim.exchange.tmf import RESOURCES, export_tmf
    from cmpsim.runs import open_run

    with open_run(run_dir) as opened:
        counts = export_tmf(opened, out)
    for name, (resource, _) in RESOURCES.items():
        click.echo(f"{counts[name]:>8,} {resource:<34} {out / name}")


COMMANDS = (export_ocel_command, import_tmf_command, export_tmf_command)
