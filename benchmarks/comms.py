"""Throughput of customer communications: processed per second, with and without rendering.

For each size N, replays the baseline with N accounts all on bill cycle day 8 (each with a
subscription, no order traffic), so that the run of 8 January produces N invoices and the
communications process sends N bill notifications at once, over the customers' preferred channels
(e-mail 60 %, SMS 25 %, push 10 %, letter 5 %; letters rendered as PDF for a sample of 100), plus
what follows: delivery receipts, reads, bounces, storage. It prints the communications handled, the
wall seconds of every communications step, the part of it spent merging templates and rendering
documents (e-mail MIME, letter PDF), and communications per second with and without rendering.

    .venv/bin/python benchmarks/comms.py                      # 10,000 and 100,000 accounts
    .venv/bin/python benchmarks/comms.py --accounts 20000
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import main, peak_rss_mb, render

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
RENDERERS = ("render_message", "email_bytes", "letter_pdfs")


def overrides(accounts: int) -> dict[str, Any]:
    return {
        "horizon_days": 4,
        "accounts": {"generate": {"count": accounts, "bill_cycle_days": [8]}},
        "demand": {"orders_per_day": 0, "stock_checks_per_day": 0, "explicit_orders": []},
        "service": {"demand": {"orders_per_day": 0}, "explicit_orders": [], "installed_base": {"share": 1.0}},
        "billing": {"bill_print": {"mode": "none"}},
        "comms": {"letters": {"mode": "sample", "sample_rate": 1.0, "documents_per_run_max": 100}},
        "faults": [],
    }


def _timed_renderers() -> dict[str, float]:
    """Wrap the renderers the process calls, adding up their wall time."""
    from cmpsim.comms import delivery, gateways

    spent = {"render": 0.0}
    for module in (delivery, gateways):
        for name in RENDERERS:
            if hasattr(module, name):
                original = getattr(module, name)

                def timed(*args, _original=original, **kwargs):
                    began = time.perf_counter()
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        spent["render"] += time.perf_counter() - began
                setattr(module, name, timed)
    return spent


def measure(accounts: int, days: int, keep: Path | None) -> dict[str, Any]:
    import cmpsim
    from cmpsim.scenario import load

    spent = _timed_renderers()
    scenario = load(BASELINE, overrides=overrides(accounts))
    with tempfile.TemporaryDirectory(prefix="cmpsim-bench-") as tmp:
        out = (keep if keep is not None else Path(tmp)) / f"comms-{accounts}"
        started = time.perf_counter()
        with cmpsim.run(scenario, out=out) as run:
            wall = time.perf_counter() - started
            comms = run.store.scalar("SELECT count(*) FROM comms")
            channels = dict(run.con.execute("SELECT channel, count(*) FROM comms GROUP BY ALL").fetchall())
            comms_s = sum(s for name, s in run.wall_s.items()
                          if name.startswith("Comms") or name in ("Customer Service", "Payment Overdue Notification",
                                                                  "Load Comms Status Updates"))
    return {"accounts": accounts, "comms": comms, "channels": channels, "comms_s": comms_s,
            "render_s": spent["render"], "wall_s": wall, "peak_mb": peak_rss_mb()}


def table(results: list[dict[str, Any]]) -> str:
    head = ["accounts", "comms", "email", "sms", "push", "letter", "comms steps s", "of which rendering s",
            "comms/s", "comms/s without rendering", "run wall s", "peak MB"]
    rows = [[f"{r['accounts']:,}", f"{r['comms']:,}", *(f"{r['channels'].get(c, 0):,}" for c in
                                                        ("email", "sms", "push_handset", "letter")),
             f"{r['comms_s']:.1f}", f"{r['render_s']:.1f}", f"{r['comms'] / r['comms_s']:,.0f}",
             f"{r['comms'] / max(r['comms_s'] - r['render_s'], 1e-9):,.0f}", f"{r['wall_s']:.1f}",
             f"{r['peak_mb']:.0f}"] for r in results]
    return render(head, rows)


if __name__ == "__main__":
    main(__file__, "Communications processed per second, with and without rendering.", measure, table,
         size="accounts", sizes=(10_000, 100_000), days=4)
