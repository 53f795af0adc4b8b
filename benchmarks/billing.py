"""Throughput of the billing run: invoices produced and posted per second at N accounts.

For each size N, replays the baseline with N accounts that all share bill cycle day 8, each with
one subscription of the installed base (two thirds of them report usage), hardware orders for three
days, no service order traffic — so that the billing run of 8 January bills every account at once:
recurring charges pro-rated over the period, usage, hardware charges, discounts. It prints, per
job of that run and of the ledger daemons that follow, the wall seconds and records per second:
invoices produced, statements, documents rendered (a sample), documents posted, S/L and G/L files
extracted, entries booked by the ledger system; then the whole run's wall time and peak memory.
Each size runs in its own subprocess.

    .venv/bin/python benchmarks/billing.py                    # 100,000 accounts
    .venv/bin/python benchmarks/billing.py --accounts 10000 --accounts 100000
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mb, render

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
JOBS = {  # step name -> (column title, how its records are counted)
    "Invoice Production": ("produce", "SELECT count(*) FROM invoices WHERE invoice_type = 'cycle'"),
    "Statement Production": ("state", "SELECT count(*) FROM statements"),
    "Bill Print": ("print", "SELECT count(*) FROM bill_documents"),
    "Invoice Posting": ("post", "SELECT count(DISTINCT doc_id) FROM postings"),
    "Extract Invoice Posting To Generic Format (S/L Invoice Posting)": (
        "S/L file", "SELECT count(*) FROM postings WHERE ledger = 'SL'"),
    "Extract Invoice Posting To Generic Format (G/L Invoice Posting)": (
        "G/L file", "SELECT count(*) FROM postings WHERE ledger = 'GL'"),
    "Ledger System": ("book", "SELECT (SELECT count(*) FROM sl_entries) + (SELECT count(*) FROM gl_journals)"),
}


def overrides(accounts: int) -> dict[str, Any]:
    return {
        "horizon_days": 4,  # 5-8 January: the run of the 8th bills every account
        "accounts": {"generate": {"count": accounts, "bill_cycle_days": [8]}},
        "demand": {"orders_per_day": max(100, accounts // 50), "explicit_orders": []},
        "service": {"demand": {"orders_per_day": 0}, "explicit_orders": [],
                    "installed_base": {"share": 1.0}},
        "billing": {"bill_print": {"mode": "sample", "sample_rate": 0.01, "documents_per_run_max": 100}},
        "faults": [],
    }


def measure(accounts: int, days: int, keep: Path | None) -> dict[str, Any]:
    """One billing run over `accounts` accounts, in this process; returns its figures."""
    import cmpsim
    from cmpsim.scenario import load

    scenario = load(BASELINE, overrides=overrides(accounts))
    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        out = (keep if keep is not None else Path(tmp)) / f"billing-{accounts}"
        started = time.perf_counter()
        with cmpsim.run(scenario, out=out) as run:
            wall = time.perf_counter() - started
            counts = {name: run.store.scalar(sql) for name, (_, sql) in JOBS.items()}
            lines = run.store.scalar("SELECT count(*) FROM invoice_lines")
            balanced = run.store.scalar("""SELECT (SELECT sum(amount) FROM sl_entries)
                                                  = (SELECT sum(debit - credit) FROM gl_entries
                                                     WHERE gl_account = '1100')""")
            timings = {name: run.wall_s.get(name, 0.0) for name in JOBS}
    return {"accounts": accounts, "invoices": counts["Invoice Production"], "lines": lines, "counts": counts,
            "timings": timings, "wall_s": wall, "peak_mb": peak_rss_mb(), "ledgers_agree": bool(balanced)}


def table(results: list[dict[str, Any]]) -> str:
    head = ["accounts", "invoices", "lines"]
    for title, _ in JOBS.values():
        head += [f"{title} s", f"{title}/s"]
    head += ["run wall s", "peak MB", "S/L = G/L"]
    rows = []
    for r in results:
        row = [f"{r['accounts']:,}", f"{r['invoices']:,}", f"{r['lines']:,}"]
        for name in JOBS:
            seconds, count = r["timings"][name], r["counts"][name]
            row += [f"{seconds:.2f}", f"{count / seconds:,.0f}" if seconds else "-"]
        row += [f"{r['wall_s']:.1f}", f"{r['peak_mb']:.0f}", "yes" if r["ledgers_agree"] else "NO"]
        rows.append(row)
    return render(head, rows)


if __name__ == "__main__":
    main(__file__, "Invoices produced and posted per second by the billing run.", measure, table,
         size="accounts", sizes=(100_000,), days=4)
