"""Probes (seed 002): declared read-only queries compared with a target, of two kinds.

An *alert* probe notifies its recipients when breached (a `probe_alerts` row per recipient, for
the communications process to send); an *SLA* probe records the breach and notifies no one.
Probes are evaluated inside the run on their schedule and on demand after it.
"""

from __future__ import annotations

DDL = """
CREATE TABLE IF NOT EXISTS probe_results (
    probe VARCHAR NOT NULL, kind VARCHAR NOT NULL, evaluated_at TIMESTAMP NOT NULL, value DECIMAL(38,6),
    target VARCHAR NOT NULL, breached BOOLEAN NOT NULL, mode VARCHAR NOT NULL, detail VARCHAR);
CREATE TABLE IF NOT EXISTS probe_alerts (
    probe VARCHAR NOT NULL, evaluated_at TIMESTAMP NOT NULL, recipient VARCHAR NOT NULL, message VARCHAR NOT NULL,
    status VARCHAR NOT NULL);
"""


def query_problem(query: str) -> tuple[str, str] | None:
    """(expected, found) when `query` is not one read-only SELECT a probe may run; else None."""
    return None


def create_tables(store) -> None:
    store.con.execute(DDL)


def steps(scenario) -> list:
    """One step per probe, woken on the probe's schedule."""
    return []
