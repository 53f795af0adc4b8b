"""Reconciliation at scale: ten million sales-ledger entries against their general ledger.

Builds a run database with the ledger tables of cmpsim and fills it in DuckDB (no Python loop): N
invoices, each one S/L entry and one balanced two-line G/L journal (so 2 N G/L rows), with known
breaks planted in one document of every 10,000 per type (missing in GL or SL, duplicate, amount,
period, account, unbalanced). Then times `cmpsim.reconcile.reconcile` over the whole books and
checks that it found exactly the planted breaks.

    .venv/bin/python benchmarks/reconcile.py                       # 10,000,000 documents
    .venv/bin/python benchmarks/reconcile.py --documents 1000000
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import duckdb
from harness import peak_rss_mb, render

PLANTED = {1: "missing in GL", 2: "missing in SL", 3: "duplicate posting", 4: "amount mismatch",
           5: "different periods", 6: "wrong GL account", 7: "unbalanced journal"}


def build(con, n: int) -> None:
    """The books of n invoices, with one planted break per type every 10,000 documents."""
    from cmpsim.ledger.tables import DDL
    from cmpsim.store import CORE_DDL

    con.execute(CORE_DDL)
    con.execute("CREATE TABLE invoices (invoice_id VARCHAR); CREATE TABLE invoice_lines (invoice_id VARCHAR); "
                "CREATE TABLE payments (payment_id VARCHAR); CREATE TABLE payment_reversals (reversal_id VARCHAR); "
                "CREATE TABLE refunds (refund_id VARCHAR)")
    con.execute(DDL.split("-- Every financial document CMP posts")[0])  # the tables, not the views over billing
    con.execute("INSERT INTO posting_rules VALUES ('receivables', NULL, '1100'), ('revenue', NULL, '4000'), "
                "('bank', NULL, '1000'), ('tax_payable', NULL, '2200')")
    con.execute(f"""
        CREATE TEMP TABLE docs AS
        SELECT i, 'INV-' || lpad(i::VARCHAR, 10, '0') AS doc_id, 'ACC-' || lpad((i % 1000003)::VARCHAR, 7, '0')
                   AS account_id, ((i % 97) * 1.37 + 5)::DECIMAL(18,2) AS amount, i % 10000 AS plant,
               DATE '2026-01-01' + (i % 59)::INTEGER AS day
        FROM range({n}) t(i)""")
    con.execute("""
        INSERT INTO sl_entries
        SELECT i, account_id, 'invoice', doc_id, 'SL:invoice:' || doc_id, day, strftime(day, '%Y-%m'),
               day + INTERVAL 3 HOUR, amount + CASE plant WHEN 4 THEN 1 ELSE 0 END, 'Invoice', 'bench'
        FROM docs, range(CASE plant WHEN 2 THEN 0 WHEN 3 THEN 2 ELSE 1 END) copies""")
    con.execute("""
        INSERT INTO gl_entries
        SELECT 'J' || i, line, CASE WHEN line = 1 AND plant = 6 THEN '1000' WHEN line = 1 THEN '1100' ELSE '4000' END,
               'invoice', doc_id, account_id, g_day, strftime(g_day, '%Y-%m'), g_day + INTERVAL 3 HOUR,
               CASE line WHEN 1 THEN amount ELSE 0 END,
               CASE line WHEN 2 THEN amount + CASE plant WHEN 7 THEN 0.01 ELSE 0 END ELSE 0 END, 'Invoice'
        FROM (SELECT *, CASE plant WHEN 5 THEN day + 31 ELSE day END AS g_day FROM docs WHERE plant <> 1),
             (SELECT unnest([1, 2]) AS line)""")
    con.execute("DROP TABLE docs")
    con.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=10_000_000)
    args = parser.parse_args()
    from cmpsim.reconcile import reconcile

    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "ledgers.duckdb"))
        started = time.perf_counter()
        build(con, args.documents)
        built = time.perf_counter() - started
        sl, gl = (con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("sl_entries", "gl_entries"))
        started = time.perf_counter()
        rec = reconcile(con)
        seconds = time.perf_counter() - started
        found = rec.breaks_by_type()
        expected = args.documents // 10_000 + (1 if args.documents % 10_000 > 1 else 0)
        exact = all(found[t] in (expected, expected - 1) for t in PLANTED.values()) and sum(found.values()) == sum(
            found[t] for t in PLANTED.values())
        con.close()
    print(render(["S/L rows", "G/L rows", "build s", "reconcile s", "rows/s", "breaks", "as planted", "peak MB"],
                 [[f"{sl:,}", f"{gl:,}", f"{built:.1f}", f"{seconds:.2f}", f"{(sl + gl) / seconds:,.0f}",
                   f"{rec.breaks.height:,}", "yes" if exact else "NO", f"{peak_rss_mb():.0f}"]]))
    print("breaks by type:", ", ".join(f"{t} {n:,}" for t, n in found.items()))
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
