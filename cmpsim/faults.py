"""Faults a scenario injects, found by (kind, target, day) and recorded as they happen.

A fault is scenario data (`faults:`), replayable by seed: each has a kind, a target (a file kind
or a job), a date and a count. Every injection is a row of `faults_injected`, so a fault never
hits more than its count and a run records exactly what was injected.
"""

from __future__ import annotations


def remaining(sim, kind: str, *, file_kind: str | None = None, job: str | None = None) -> list[tuple[int, int]]:
    """(fault_no, injections left) of today's faults of this kind and target, in scenario order."""
    today = sim.today.isoformat()
    out = []
    for fault_no, fault in enumerate(sim.scenario["faults"]):
        if fault["kind"] != kind or fault["date"] != today:
            continue
        if (file_kind is not None and fault.get("file_kind") != file_kind) or (job is not None and fault.get("job")
                                                                                 != job):
            continue
        used = sim.store.scalar("SELECT count(*) FROM faults_injected WHERE fault_no = ?", [fault_no])
        left = fault.get("count", 1) - used
        if left > 0:
            out.append((fault_no, left))
    return out


def record(sim, fault_no: int, target: str, subject: str, detail: str) -> None:
    """One injection of scenario fault `fault_no` on `subject` (a file name, a job, a record)."""
    sim.con.execute("INSERT INTO faults_injected VALUES (?, ?, ?, ?, ?, ?)",
                    [fault_no, sim.scenario["faults"][fault_no]["kind"], target, sim.now, subject, detail])
