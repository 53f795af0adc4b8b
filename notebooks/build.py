"""The sources of the workbench notebooks: each notebook's cells, written here once.

QA and authors edit a notebook in JupyterLab as usual; this file is how the six were first written
and how they can be regenerated without outputs (`python notebooks/build.py`), after which
`scripts/refresh-notebooks` executes them and stores their outputs. Cells are (kind, source, tags).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

SETUP = """\
import polars as pl
from IPython.display import display

import cmpsim
from cmpsim import charts
from cmpsim.scenario import load
from cmpsim.views import show

_ = pl.Config.set_tbl_width_chars(120)"""

NOTEBOOKS: dict[str, list[tuple[str, str, list[str]]]] = {}

NOTEBOOKS["1-quickstart"] = [
    ("md", """\
# Quickstart: run the baseline, read the key figures, open a bill

The baseline scenario replays the whole order-to-cash back office of the platform: hardware sales
orders through two warehouses, service orders fulfilled by a team of workers, the nightly billing
run, postings to the sales and general ledgers, payments, probes and customer communications.

This notebook runs the first days of it — enough for the bill cycle of 8 January — and shows where
the results are. Change `days` in the next cell (or run it with papermill, `-p days 14`) for more.""", []),
    ("code", """\
# Parameters (papermill): the scenario, how many simulated days, the seed, the run folder.
scenario = "../scenarios/baseline.yaml"
days = 4
seed = None
out = "../runs/notebooks/quickstart\"""", ["parameters"]),
    ("code", SETUP, []),
    ("md", """\
## Run it

`cmpsim.run` replays the scenario into a run folder (a DuckDB database, the generic files, the
documents) and returns the run, its database open. The same scenario and seed always give the same
run.""", []),
    ("code", """\
run = cmpsim.run(load(scenario), days=days, seed=seed, out=out)
s = run.summary()
print(f"{s['scenario']}: {s['days']} days from {s['start_date']}, seed {s['seed']}")
print("hardware orders by status:", s["orders"]["by_status"])""", []),
    ("md", """\
## Key figures

The same figures `cmpsim compare` and `cmpsim sweep` use: counts, shares, lead times and money
(exact to the cent).""", []),
    ("code", """\
from cmpsim.views import key_figures

show(key_figures(run.con))""", []),
    ("md", """\
## The public tables

Everything is in the run database; the tables are described in `docs/data-model.md`. Any SQL works:""", []),
    ("code", """\
show(run.sql(\"\"\"
    SELECT invoice_date, invoice_type, count(*) AS invoices, sum(net_amount) AS net,
           sum(tax_amount) AS tax, sum(gross_amount) AS gross
    FROM invoices GROUP BY ALL ORDER BY ALL\"\"\"))""", []),
    ("code", """\
status = run.sql("SELECT kind, status, count(*) AS orders FROM orders GROUP BY ALL ORDER BY kind, orders DESC, status")
panels = {f"{kind} orders": (by_kind["status"].to_list(), by_kind["orders"].to_list())
          for (kind,), by_kind in status.group_by("kind", maintain_order=True)}
display(charts.bar_panels(panels, "Orders by status, hardware and service apart"))""", []),
    ("md", """\
## A bill

Bill Print renders invoices and statements as PDF (for a sample of accounts, as the scenario says).
Here is the first one, read back as text; open the file itself from the run folder's `documents/`.""", []),
    ("code", """\
from pathlib import Path

from pypdf import PdfReader

bills = sorted((Path(out) / "documents").rglob("*.pdf"))
print(len(bills), "bill documents, the first:", bills[0].relative_to(out))
text = PdfReader(bills[0]).pages[0].extract_text()
print("\\n".join(text.splitlines()[:12]))""", []),
    ("md", """\
## The run report

`cmpsim report RUN` writes the same as a document (HTML and PDF) to hand on:""", []),
    ("code", """\
from cmpsim.runreport import run_report

html_path, pdf_path = run_report(run)
print(html_path.name, pdf_path.name, f"{len(PdfReader(pdf_path).pages)} pages")
run.close()""", []),
]

NOTEBOOKS["2-order-priority-what-if"] = [
    ("md", """\
# Order priority what-if: less fulfilment capacity, a different priority mix

Service orders wait for a fulfilment worker; a worker takes the highest priority first among the
lines not started, first come first served within a priority, and never drops a line for a more
urgent one. What happens to each priority's lead time when a third of the workers go, and the mix
shifts towards urgent orders?

Run A is `priority-what-if.yaml` (16 workers). Run B takes the capacity cut of
`priority-capacity-cut.yaml` (11 workers) and doubles the share of Urgent (9) orders.""", []),
    ("code", """\
# Parameters (papermill)
scenario_a = "../scenarios/priority-what-if.yaml"
scenario_b = "../scenarios/priority-capacity-cut.yaml"
mix_b = {"3": 45, "5": 30, "7": 15, "9": 10}
days = 7
out = "../runs/notebooks/priority\"""", ["parameters"]),
    ("code", SETUP + """
from cmpsim.compare import compare""", []),
    ("code", """\
a = cmpsim.run(load(scenario_a), days=days, out=f"{out}/a")
b = cmpsim.run(load(scenario_b, overrides={"service": {"demand": {"priority_mix": mix_b}}}), days=days, out=f"{out}/b")
for name, r in (("A", a), ("B", b)):
    print(name, r.summary()["scenario"], "-", r.sql("SELECT count(*) AS n FROM orders WHERE kind = 'service'")["n"][0],
          "service orders")""", []),
    ("md", """\
## Lead time per priority

Lead time runs from the moment an order is released to fulfilment to its completion.""", []),
    ("code", """\
c = compare(a, b)
show(c.lead_times.filter(pl.col("kind") == "service"))
display(c.lead_time_chart())""", []),
    ("md", """\
With fewer workers every class waits longer, but not equally: the urgent lines overtake the queue,
so Low (3) orders absorb most of the cut.

## The queueing-theory check

For exponential work and Poisson arrivals, Cobham's formula gives the mean wait of each class of an
M/M/c queue with non-preemptive priorities. Here it is fed with the arrival rate of each priority
and the mean work per line measured in the run. The scheduler itself is checked exactly against the
formula in `tests/test_scheduling.py`; this run is not an M/M/c queue, and the table shows how far it
is from one.""", []),
    ("code", """\
from cmpsim.fulfilment.scheduling import mean_waits_cobham


def waits(r, workers):
    lines = r.sql(\"\"\"
        SELECT priority, count(*) AS lines, avg(duration_s) AS work_s
        FROM fulfilment_jobs WHERE kind = 'fulfil' GROUP BY ALL ORDER BY ALL\"\"\")
    horizon_s = days * 86400
    rates = {p: n / horizon_s for p, n in lines.select("priority", "lines").iter_rows()}
    mu = 1 / (lines["work_s"] * lines["lines"]).sum() * lines["lines"].sum()
    theory = mean_waits_cobham(rates, mu, workers)
    simulated = r.sql("SELECT priority, round(avg(wait_hours), 2) AS simulated_wait_h FROM service_lead_times "
                      "GROUP BY ALL ORDER BY ALL")
    return simulated.with_columns(
        cobham_wait_h=pl.col("priority").map_elements(lambda p: round(theory[p] / 3600, 2), return_dtype=pl.Float64),
        utilisation=pl.lit(round(sum(rates.values()) / (workers * mu), 2)))


show(waits(a, 16), "A, 16 workers")
show(waits(b, 11), "B, 11 workers")""", []),
    ("md", """\
The formula gets the order right — each higher class waits less — but not the sizes. With 16
workers the simulated waits are far longer than the formula's: orders arrive in business hours
only, so by day the queue is twice as busy as the daily average utilisation says. With 11 workers
the formula, at 97 % average utilisation, expects Low orders to wait more than a day; a week is too
short for a queue that close to saturation to reach the steady state the formula describes, and
the nights drain it. Both gaps are the reason to simulate rather than use the formula.

## Every figure side by side

`cmpsim compare RUN_A RUN_B` prints the same; `*` marks what changed.""", []),
    ("code", """\
show(c.figures.filter("changed").select("figure", pl.col("a").alias("A"), pl.col("b").alias("B"), "difference",
                                        pl.col("change_pct").alias("change %")))
a.close()
b.close()""", []),
]

NOTEBOOKS["3-billing-run"] = [
    ("md", """\
# The billing run: hardware billed at once or on the next bill cycle

When a hardware order is dispatched, its charges either wait for the customer's next bill
(`billing.hardware_charges: next_invoice`) or are invoiced at once, outside the cycle
(`immediate`). The same orders, two policies: what changes in invoices, statements and cash?""", []),
    ("code", """\
# Parameters (papermill)
scenario = "../scenarios/baseline.yaml"
days = 5
out = "../runs/notebooks/billing\"""", ["parameters"]),
    ("code", SETUP + """
from cmpsim.compare import compare
from cmpsim.kpis import currency

# The hardware shop and the books only: service fulfilment and communications play no part here.
books = {"processes": ["hardware", "billing", "ledger"]}""", []),
    ("code", """\
runs = {}
for mode in ("next_invoice", "immediate"):
    runs[mode] = cmpsim.run(load(scenario, overrides={**books, "billing": {"hardware_charges": mode}}),
                            days=days, out=f"{out}/{mode}")
    print(mode, runs[mode].summary()["orders"]["by_status"])""", []),
    ("md", """\
## Invoices by type and day

With `immediate`, every dispatch day has hardware invoices; with `next_invoice`, hardware charges
ride on the cycle invoices of 8 January.""", []),
    ("code", """\
for mode, r in runs.items():
    show(r.sql(\"\"\"SELECT invoice_date, invoice_type, count(*) AS invoices, sum(gross_amount) AS gross
                 FROM invoices GROUP BY ALL ORDER BY ALL\"\"\"), mode)""", []),
    ("md", """\
## Statements

Statement Production sums each account's previous balance, invoices and payments into its new
balance. For the accounts whose cycle falls on 8 January, the statements add up to the same amount
either way: the same charges, in one cycle invoice or in several invoices.""", []),
    ("code", """\
for mode, r in runs.items():
    show(r.sql(\"\"\"SELECT statement_date, count(*) AS statements, sum(previous_balance) AS previous,
                        sum(invoiced) AS invoiced, sum(paid) AS paid, sum(new_balance) AS new_balance
                 FROM statements GROUP BY ALL ORDER BY ALL\"\"\"), mode)""", []),
    ("md", """\
## Money side by side

Within these days, `next_invoice` bills hardware only to the accounts whose cycle came (a quarter of
them, on the 8th); the rest waits for the cycles of 15 and 22 January and 1 February. `immediate`
bills every dispatched order at once: more invoices, receivables days earlier, and the first
payments already in.""", []),
    ("code", """\
c = compare(runs["next_invoice"], runs["immediate"])
eur = f"({currency(runs['immediate'].con)})"
show(c.money.select("figure", pl.col("a").alias(f"next_invoice {eur}"), pl.col("b").alias(f"immediate {eur}"),
                    pl.col("difference").alias(f"difference {eur}")))
for r in runs.values():
    r.close()""", []),
]

NOTEBOOKS["4-ledger-reconciliation"] = [
    ("md", """\
# Ledger reconciliation: the multi-fault scenario

`scenarios/ledger-faults.yaml` injects one of each fault finance learns to recognise: a G/L file
lost, an S/L file sent twice, a file held past the month's close, a wrong amount, a wrong account,
records refused by the ledger system, a posting job crashing half-way. Reconciliation finds every
break, classifies it and names its cause.

The books only (billing, posting, ledgers, probes) are replayed here, which is what reconciliation
needs and takes a fraction of the time of the whole platform.""", []),
    ("code", """\
# Parameters (papermill)
scenario = "../scenarios/ledger-faults.yaml"
days = None
out = "../runs/notebooks/ledger-faults\"""", ["parameters"]),
    ("code", SETUP + """
from cmpsim.reconcile import reconcile, trail""", []),
    ("code", """\
run = cmpsim.run(load(scenario, overrides={"processes": ["billing", "ledger", "probes"]}), days=days, out=out)
rec = reconcile(run.con)
print("reconciled" if rec.reconciled else f"{rec.breaks.height} breaks to explain")""", []),
    ("md", """\
## Control totals

The sum of the sales-ledger balances against the receivables control account, per period.""", []),
    ("code", "show(rec.control, \"Control totals per period\")\nshow(rec.trial_balance, \"Trial balance\")", []),
    ("md", "## Breaks by type", []),
    ("code", """\
by_type = rec.breaks.group_by("break_type").agg(documents=pl.len(), difference=pl.col("difference").sum()).sort("break_type")
show(by_type)
display(charts.horizontal_bars(by_type["break_type"].to_list(), by_type["documents"].to_list(), "Breaks by type"))""",
     []),
    ("md", """\
## From a break to what caused it

Each break carries its cause when the run knows it (the fault injected, the record refused). The
trail lists the events behind the document: its postings, the files that carried them, the faults
that hit them.""", []),
    ("code", """\
first = rec.breaks.sort("break_type", "doc_id").filter(pl.col("break_type") == "missing in GL").row(0, named=True)
print(first["break_type"], first["doc_type"], first["doc_id"], "S/L", first["sl_amount"], "G/L", first["gl_amount"])
print("cause:", first["cause"])
show(trail(run.con, first["doc_type"], first["doc_id"]), "Its trail")""", []),
    ("md", """\
The reconciliation explorer does the same with a click: filter by type, pick a break, read its
documents and events. Saved with the notebook is a still picture of what it showed (nbval compares
it), so a reader without a kernel sees it too; its clicks are tested in `tests/test_widgets.py`.""", []),
    ("code", """\
from cmpsim.widgets import ReconciliationExplorer

explorer = ReconciliationExplorer(run)
explorer""", []),
]

NOTEBOOKS["5-probes"] = [
    ("md", """\
# Probes: the operations board

A probe is a read-only query with a target, evaluated on a schedule inside the run. An **alert**
notifies its recipients when breached; an **SLA** probe records the breach without notifying. After a
run, `cmpsim probes RUN` (or `evaluate_run`) evaluates them again on demand.

This run injects two faults: Statement Production fails on 8 January (so Bill Print, Invoice Posting
and Usage Archiving do not run that night), and the ledger system refuses two sales-ledger records
the next day.""", []),
    ("code", """\
# Parameters (papermill): the baseline's first days, with two faults operations must notice.
scenario = "../scenarios/baseline.yaml"
days = 6
faults = [{"kind": "fail_job", "job": "Statement Production", "date": "2026-01-08"},
          {"kind": "reject", "file_kind": "sl-posting", "date": "2026-01-09", "count": 2}]
out = "../runs/notebooks/probes\"""", ["parameters"]),
    ("code", SETUP + """
from cmpsim import probes
from cmpsim.views import probe_board, probe_findings""", []),
    ("code", """\
run = cmpsim.run(load(scenario, overrides={"processes": ["hardware", "billing", "ledger", "probes"],
                                           "faults": faults}), days=days, out=out)
show(probe_board(run))""", []),
    ("md", """\
## Alert against SLA

The same kind of breach, two consequences: alerts are recorded for their recipients (the
communications process sends them), SLA breaches only counted.""", []),
    ("code", """\
show(run.sql(\"\"\"
    SELECT r.kind, count(*) AS evaluations, count(*) FILTER (WHERE r.breached) AS breaches,
           (SELECT count(*) FROM probe_alerts a WHERE a.probe IN
                (SELECT DISTINCT probe FROM probe_results p WHERE p.kind = r.kind)) AS alerts
    FROM probe_results r GROUP BY r.kind ORDER BY r.kind\"\"\"))""", []),
    ("md", """\
## What made a probe fire

Each evaluation keeps the rows its detail query found at that moment.""", []),
    ("code", """\
breached = probe_board(run).filter(pl.col("breaches") > 0)["probe"].to_list()
for name in breached:
    detail, rows = probe_findings(run, name)
    show(rows.head(5), f"{name}: {detail}")""", []),
    ("code", """\
from cmpsim.widgets import ProbeBoard

ProbeBoard(run)""", []),
]

NOTEBOOKS["6-communications"] = [
    ("md", """\
# Customer communications: volumes, failures and retries, a letter

Order dispatches and problems, bills, overdue payments, probe alerts and workflow cases each raise a
communication to exactly one target, on the channel the scenario and the customer's preferences
choose: SMS, push, e-mail (a real MIME message with the bill attached) or letter (a PDF).""", []),
    ("code", """\
# Parameters (papermill)
scenario = "../scenarios/baseline.yaml"
days = 4
out = "../runs/notebooks/comms\"""", ["parameters"]),
    ("code", SETUP, []),
    ("code", """\
run = cmpsim.run(load(scenario, overrides={"processes": ["hardware", "billing", "ledger", "probes", "comms"]}),
                 days=days, out=out)
volumes = run.sql("SELECT channel, status, count(*) AS comms FROM comms GROUP BY ALL ORDER BY ALL")
show(volumes)
channels = sorted(set(volumes["channel"]))
series = {s: [int(volumes.filter((pl.col("channel") == c) & (pl.col("status") == s))["comms"].sum()) for c in channels]
          for s in sorted(set(volumes["status"]))}
display(charts.stacked_columns(channels, series, "Communications by channel and status"))""", []),
    ("md", """\
## Failures and retries

Gateways fail now and then; a request is retried with back-off up to the configured number of
attempts, then ends Failed with its reason.""", []),
    ("code", """\
show(run.sql(\"\"\"
    SELECT channel, attempts, status, count(*) AS comms FROM comms
    WHERE channel IN ('sms', 'push_handset', 'push_external') GROUP BY ALL ORDER BY ALL\"\"\"), "Attempts")
show(run.sql(\"\"\"SELECT channel, reason, count(*) AS comms FROM comms
                WHERE status = 'Failed' GROUP BY ALL ORDER BY ALL\"\"\"), "Failed, and why")""", []),
    ("md", "## A rendered letter, read back", []),
    ("code", """\
from pathlib import Path

from pypdf import PdfReader

letters = sorted((Path(out) / "comms").rglob("*.pdf"))
print(len(letters), "letter PDFs; the first:", letters[0].name)
print("\\n".join(PdfReader(letters[0]).pages[0].extract_text().splitlines()[:14]))
run.close()""", []),
]


def build(name: str, cells: list[tuple[str, str, list[str]]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for i, (kind, source, tags) in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.id = f"{name.split('-')[0]}-{i:02d}"
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(NOTEBOOKS)
    for name in chosen:
        nbformat.write(build(name, NOTEBOOKS[name]), HERE / f"{name}.ipynb")
        print(HERE / f"{name}.ipynb")
