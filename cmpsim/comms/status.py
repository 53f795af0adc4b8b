"""Status updates from outside: what happened to communications after they left CMP.

The gateways, the mail provider and the print vendor (simulated as *Comms Providers*) report, every
`providers.report_minutes`, the outcomes that have come about — delivered, read, bounced — as one
status file per provider (`comms-status`, see `schemas/`). The *Load Comms Status Updates* daemon
loads them like any inbound file and applies them; `apply_status_updates` does the same for updates
handed over through the Python API. An update is applied once: the same (communication, status,
moment) a second time changes nothing and is kept marked `ignored: already applied`. A status never
moves a communication backwards (read after delivered, not delivered after read).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from cmpsim.files import InboundKind, deliver_inbound, load_inbound, parse_timestamps
from cmpsim.store import registered

STATUS_OF = {"delivered": "Delivered", "read": "Read", "bounced": "Bounced", "returned": "Returned"}


def providers_wake_at(sim) -> int | None:
    """The first second an outcome not yet reported came about (the look: due once it has come)."""
    return sim.second_of(sim.store.scalar("SELECT min(status_at) FROM prov_outcomes WHERE reported_in IS NULL"))


def providers_step(sim) -> int:
    """Each provider reports what came about since its last report, in one status file."""
    due = sim.store.frame("""SELECT provider, request_id, status, strftime(status_at, '%Y-%m-%dT%H:%M:%S') AS at
                             FROM prov_outcomes WHERE reported_in IS NULL AND status_at <= ?
                             ORDER BY provider, status_at, request_id, status""", [sim.now])
    for (provider,), rows in due.group_by("provider", maintain_order=True):
        name = f"comms-status__{provider}__{sim.now:%Y%m%d%H%M}.json.enc"
        deliver_inbound(sim, "comms-status", provider, name, {
            "fileType": "comms-status", "provider": provider, "createdAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"),
            "updates": [{"requestId": r, "status": s, "at": a} for r, s, a in rows.select(
                "request_id", "status", "at").rows()]})
        sim.con.execute("""UPDATE prov_outcomes SET reported_in = ? WHERE provider = ? AND reported_in IS NULL
                           AND status_at <= ?""", [name, provider, sim.now])
    return due.height


def _stage(sim, file_id: str, document: dict) -> int:
    updates = pl.DataFrame(document["updates"], schema={"requestId": pl.Utf8, "status": pl.Utf8, "at": pl.Utf8,
                                                        "reason": pl.Utf8})
    at = parse_timestamps(updates["at"], "updates[{i}].at")
    stage_updates(sim, updates.select(request_id="requestId", status="status", reason="reason").with_columns(
        status_at=at),
                  source=document["provider"], file_id=file_id)
    return updates.height


COMMS_STATUS = InboundKind(kind="comms-status", schema="comms-status.schema.json", stage=_stage)


def load_status_step(sim) -> int:
    files = load_inbound(sim, COMMS_STATUS)
    apply_staged(sim)
    return files


def apply_status_updates(sim, updates: list[dict[str, Any]], source: str = "api") -> int:
    """Apply status updates handed over by an outside system ({request_id, status, at, reason?});
    returns how many changed something (an update seen before changes nothing)."""
    frame = pl.DataFrame(updates, schema={"request_id": pl.Utf8, "status": pl.Utf8, "at": pl.Datetime("us"),
                                          "reason": pl.Utf8}).rename({"at": "status_at"})
    unknown = set(frame["status"].unique()) - set(STATUS_OF)
    if unknown:
        raise ValueError(f"status must be one of {', '.join(STATUS_OF)}, found {sorted(unknown)[0]!r}")
    stage_updates(sim, frame, source=source, file_id=None)
    return apply_staged(sim)


def stage_updates(sim, updates: pl.DataFrame, source: str, file_id: str | None) -> None:
    sim.store.insert("comms_status_updates", updates.with_columns(
        update_key=pl.format("{}|{}|{}", "request_id", "status", pl.col("status_at").dt.strftime("%Y-%m-%dT%H:%M:%S")),
        source=pl.lit(source), file_id=pl.lit(file_id, pl.Utf8), received_at=pl.lit(sim.now),
        applied=pl.lit(None, pl.Utf8)).drop("reason"))


def apply_staged(sim) -> int:
    """Judge and apply every staged update not judged yet; returns communications changed."""
    con = sim.con
    judged = con.execute("""
        UPDATE comms_status_updates SET applied = v.verdict
        FROM (SELECT u.rowid AS r,
                     CASE WHEN c.request_id IS NULL THEN 'ignored: unknown communication'
                          WHEN seen.update_key IS NOT NULL THEN 'ignored: already applied'
                          WHEN row_number() OVER (PARTITION BY u.update_key ORDER BY u.rowid) > 1
                              THEN 'ignored: already applied'
                          WHEN c.status NOT IN ('Sent', 'Delivered', 'Read')
                              THEN 'ignored: the communication is ' || c.status
                          -- a status never moves backwards: what was read was not lost
                          WHEN u.status IN ('bounced', 'returned') AND c.status = 'Read'
                              THEN 'ignored: the communication was already read'
                          ELSE 'applied' END AS verdict
              FROM comms_status_updates u LEFT JOIN comms c USING (request_id)
                   LEFT JOIN (SELECT DISTINCT update_key FROM comms_status_updates WHERE applied = 'applied') seen
                       USING (update_key)
              WHERE u.applied IS NULL) v
        WHERE comms_status_updates.rowid = v.r
        RETURNING request_id, status, status_at, applied""").fetchall()
    # Per communication, what the updates applied now say: the first moment delivered and read, and
    # whether it was lost (bounced before returned, as they sort).
    judged = pl.DataFrame(judged, schema={"request_id": pl.String, "status": pl.String, "at": pl.Datetime("us"),
                                          "verdict": pl.String}, orient="row")
    frame = judged.filter(pl.col("verdict") == "applied").group_by("request_id").agg(
        delivered=pl.col("at").filter(pl.col("status") == "delivered").min(),
        read=pl.col("at").filter(pl.col("status") == "read").min(),
        lost=pl.col("status").filter(pl.col("status").is_in(["bounced", "returned"])).min())
    if frame.height == 0:
        return 0
    with registered(con, "_cm_applied", frame):
        changed = con.execute("""
            UPDATE comms SET
                delivered_at = coalesce(comms.delivered_at, a.delivered, a.read),
                read_at = coalesce(comms.read_at, a.read),
                status = CASE WHEN a.lost IS NOT NULL THEN CASE a.lost WHEN 'bounced' THEN 'Bounced' ELSE 'Returned' END
                              WHEN a.read IS NOT NULL OR comms.status = 'Read' THEN 'Read'
                              ELSE 'Delivered' END,
                reason = CASE WHEN a.lost IS NOT NULL THEN 'reported ' || a.lost || ' by the provider'
                              ELSE comms.reason END,
                updated_at = ?
            FROM _cm_applied a WHERE comms.request_id = a.request_id
            RETURNING comms.request_id, comms.status, comms.reason""", [sim.now]).fetchall()
    sim.store.record_events_at(
        sim.now, "comm", [request_id for request_id, _, _ in changed],
        [f"Comm {status}" for _, status, _ in changed], sim.current_job,
        ["reported by the provider" if reason is None else reason for _, _, reason in changed])
    return len(changed)
