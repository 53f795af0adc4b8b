"""The Bill Print job: bills and invoices as PDF documents, all of them or a sample.

A bill is the statement of a cycle with its invoice; an invoice billed at once (hardware) is a
document of its own. Rendering costs time (weasyprint), so `billing.bill_print.mode` decides:
`all`, `none`, or `sample` — the accounts listed in `accounts` always, others with probability
`sample_rate`, at most `documents_per_run_max` sampled documents per run. Documents are written to
`documents/bills/<account>/<statement or invoice>.pdf` in the run folder and registered in
`bill_documents` with their checksum; what was not rendered is marked so, never asked again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl

from cmpsim.files import sha256, write_atomic
from cmpsim.store import registered


def bill_print_step(sim) -> int:
    """Render the bills stated and the invoices billed at once since the last run; returns documents."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _bp_to_print AS
        SELECT 'bill' AS doc_type, c.statement_id AS doc_id, c.account_id, c.invoice_id FROM bill_cycles c
        WHERE c.stage = 'Stated' AND c.statement_id IS NOT NULL
        UNION ALL
        SELECT 'invoice', i.invoice_id, i.account_id, i.invoice_id FROM invoices i
        WHERE i.invoice_type = 'immediate' AND i.print_status IS NULL""")
    candidates = sim.store.frame("SELECT * FROM _bp_to_print ORDER BY doc_type, doc_id")
    chosen = _choose(sim, candidates)
    rendered = _render(sim, chosen) if chosen.height else 0
    con.register("_bp_chosen", chosen.select("doc_id").to_arrow())
    con.execute("""UPDATE bill_cycles SET stage = CASE WHEN statement_id IN (SELECT doc_id FROM _bp_chosen)
                                                      THEN 'Printed' ELSE 'Not printed' END
                   WHERE stage = 'Stated'""")
    con.execute("""UPDATE invoices SET print_status = CASE WHEN invoice_id IN (SELECT doc_id FROM _bp_chosen)
                                                         THEN 'Rendered' ELSE 'Not selected' END
                   WHERE invoice_id IN (SELECT invoice_id FROM _bp_to_print) AND print_status IS NULL""")
    con.unregister("_bp_chosen")
    return rendered


def _choose(sim, candidates: pl.DataFrame) -> pl.DataFrame:
    spec = sim.scenario["billing"]["bill_print"]
    if spec["mode"] == "none" or candidates.height == 0:
        return candidates.head(0)
    if spec["mode"] == "all":
        return candidates
    draws = sim.rng("billing.bill_print").random(candidates.height)
    listed = candidates["account_id"].is_in(list(spec["accounts"]))
    sampled = pl.Series(draws < spec["sample_rate"]) & ~listed
    keep = sampled & (sampled.cum_sum() <= spec["documents_per_run_max"])
    return candidates.filter(listed | keep)


def _render(sim, chosen: pl.DataFrame) -> int:
    from cmpsim import documents  # weasyprint loads in about a second: only when something is rendered

    contexts = bill_contexts(sim.con, sim.scenario, chosen)
    rows = []
    for template, doc_type in (("bills/bill.html.j2", "bill"), ("bills/invoice.html.j2", "invoice")):
        picked = chosen.filter(pl.col("doc_type") == doc_type)
        pdfs = documents.render_pdfs(template, [contexts[d] for d in picked["doc_id"]])
        for (doc_id, account_id), pdf in zip(picked.select("doc_id", "account_id").rows(), pdfs, strict=True):
            path = Path("documents", "bills", account_id, f"{doc_id}.pdf")
            write_atomic(sim.run_dir / path, pdf)
            rows.append((doc_type, doc_id, account_id, str(path), sha256(pdf), len(pdf)))
    base = sim.store.allocate("bill_document", len(rows))
    frame = pl.DataFrame(rows, schema=["doc_type", "doc_id", "account_id", "path", "sha256", "bytes"], orient="row")
    sim.store.insert("bill_documents", frame.with_columns(
        document_id=pl.format("DOC-{}", (pl.int_range(1, len(rows) + 1) + base).cast(pl.Utf8).str.zfill(8)),
        rendered_at=pl.lit(sim.now)))
    sim.store.record_events("""
        SELECT rendered_at AS ts, 'document' AS object_type, document_id AS object_id, 'Bill Rendered' AS activity,
               ? AS job, doc_type || ' ' || doc_id || ' ' || path AS detail
        FROM bill_documents WHERE rendered_at = ?""", [sim.current_job, sim.now])
    return len(rows)


def bill_contexts(con, scenario, chosen: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """The template context of each chosen document (see reports/bills), keyed by its doc_id."""
    with registered(con, "_bp_docs", chosen.to_arrow()):
        accounts = _records(con, """SELECT a.* FROM accounts a WHERE account_id IN (SELECT account_id FROM _bp_docs)""")
        invoices = _records(con, """
            SELECT i.* REPLACE (d.period_first_day AS period_start, d.period_last_day AS period_end)
            FROM invoices i JOIN invoice_documents d USING (invoice_id)
            WHERE invoice_id IN (SELECT invoice_id FROM _bp_docs)""")
        lines = _records(con, """SELECT * FROM invoice_lines WHERE invoice_id IN (SELECT invoice_id FROM _bp_docs)
                                 ORDER BY invoice_id, line_no""")
        statements = _records(con, "SELECT * FROM statements WHERE statement_id IN (SELECT doc_id FROM _bp_docs)")
        items = _records(con, """SELECT * FROM statement_items WHERE statement_id IN (SELECT doc_id FROM _bp_docs)
                                 ORDER BY statement_id, item_no""")
    by_account = {a["account_id"]: a for a in accounts}
    lines_of, items_of = defaultdict(list), defaultdict(list)
    for line in lines:
        lines_of[line["invoice_id"]].append(line)
    for item in items:
        items_of[item["statement_id"]].append(item)
    invoice_of = {i["invoice_id"]: _invoice_context(i, lines_of[i["invoice_id"]]) for i in invoices}
    statement_of = {s["statement_id"]: {**s, "items": items_of[s["statement_id"]]} for s in statements}
    common = {"currency": scenario["currency"], "provider": dict(scenario["billing"]["provider"])}
    return {
        doc_id: {**common, "account": by_account[account_id], "invoice": invoice_of.get(invoice_id),
                 "statement": statement_of.get(doc_id) if doc_type == "bill" else None}
        for doc_type, doc_id, account_id, invoice_id in chosen.select(
            "doc_type", "doc_id", "account_id", "invoice_id").rows()
    }


def _invoice_context(invoice: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    day = dt.timedelta(days=1)
    rates: dict[Any, list] = defaultdict(lambda: [0, 0])
    for line in lines:
        rates[line["tax_rate"]][0] += line["net_amount"]
        rates[line["tax_rate"]][1] += line["tax_amount"]
    return {
        **invoice,
        "lines": [{**line, "period_to": line["period_to"] - day if line["period_to"] else None} for line in lines],
        "tax_summary": [{"tax_rate": r, "net_amount": v[0], "tax_amount": v[1]} for r, v in sorted(rates.items())],
    }


def _records(con, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

