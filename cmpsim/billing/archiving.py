"""The Usage Archiving job: old rated usage leaves the hot table for Parquet files.

Usage already invoiced and older than `billing.usage_retention_days` is written to
`archive/usage/usage-<date>.parquet` in the run folder and deleted from `usage_records`, in the
same step. It stays queryable: the view `archived_usage` reads every archive file (paths relative
to the run folder, so a moved run folder still works) and `usage_history` is hot plus archived.
A file left by a step that failed before committing is not registered and is removed first.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cmpsim.journal import will_write
from cmpsim.store import temporary_path

ARCHIVE_DIR = Path("archive", "usage")


def usage_archiving_step(sim) -> int:
    """Archive the invoiced usage older than the retention period; returns records archived."""
    cutoff = sim.today - dt.timedelta(days=sim.scenario["billing"]["usage_retention_days"])
    _remove_unregistered(sim)
    where = f"usage_date < DATE '{cutoff.isoformat()}' AND invoice_id IS NOT NULL"
    n = sim.store.scalar(f"SELECT count(*) FROM usage_records WHERE {where}")
    if not n:
        return 0
    relative = ARCHIVE_DIR / f"usage-{sim.today:%Y%m%d}.parquet"
    target = sim.run_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    part = temporary_path(target)  # cmpsim's own temporary: resume removes it, never a partner's *.part
    sim.con.execute(f"COPY (SELECT * FROM usage_records WHERE {where} ORDER BY usage_id) TO '{part}' "
                    "(FORMAT parquet)")
    will_write(target)
    os.replace(part, target)
    sim.con.execute(f"""
        INSERT INTO usage_archives
        SELECT ?, ?, min(usage_date), max(usage_date), count(*), sum(amount) FROM usage_records WHERE {where}""",
                    [str(relative), sim.now])
    sim.con.execute(f"DELETE FROM usage_records WHERE {where}")
    files = [r[0] for r in sim.con.execute("SELECT file FROM usage_archives ORDER BY file").fetchall()]
    listed = ", ".join(f"'{f}'" for f in files)
    sim.con.execute(f"CREATE OR REPLACE VIEW archived_usage AS SELECT * FROM read_parquet([{listed}])")
    return n


def _remove_unregistered(sim) -> None:
    folder = sim.run_dir / ARCHIVE_DIR
    if not folder.is_dir():
        return
    registered = {r[0] for r in sim.con.execute("SELECT file FROM usage_archives").fetchall()}
    for path in folder.iterdir():
        if str(path.relative_to(sim.run_dir)) not in registered:
            path.unlink()
