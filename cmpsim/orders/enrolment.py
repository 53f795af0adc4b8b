"""Device enrolment: the Device Enrolment Request and Response jobs, and the manufacturers.

Serialised, enrolable units dispatched for an order that asked for enrolment are Pending. The
request job batches enrolment instructions (and unenrolment instructions for enrolled devices
whose owner asked to leave) per manufacturer and sends each batch as an enrolment-request file.
The simulated manufacturers answer after a delay, accepting or rejecting each instruction; their
enrolment-response files are loaded by a load daemon, and the response job applies them.

Device statuses: Not Requested, Pending, Enrolment Requested, Enrolled, Enrolment Failed,
Unenrolment Requested, Unenrolled.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.files import (
    InboundKind,
    OutboundFile,
    collect_outbound,
    deliver_inbound,
    load_inbound,
    parse_timestamps,
    write_outbound,
)
from cmpsim.randomness import draw

REJECT_REASONS = {"enrol": "UNKNOWN_DEVICE", "unenrol": "NOT_ENROLLED"}


def enrolment_request_step(sim) -> int:
    con = sim.con
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _todo AS
        SELECT serial_no, CASE WHEN enrolment_status = 'Pending' THEN 'enrol' ELSE 'unenrol' END AS action,
               manufacturer, product_id, order_id, account_id
        FROM devices
        WHERE enrolment_status = 'Pending' OR (enrolment_status = 'Enrolled' AND unenrol_at <= ?)""",
        [sim.now],
    )
    n = sim.store.scalar("SELECT count(*) FROM _todo")
    if n == 0:
        return 0
    batch_base = sim.store.allocate(
        "enrolment_batch", sim.store.scalar("SELECT count(DISTINCT manufacturer) FROM _todo")
    )
    base = sim.store.allocate("enrolment_instruction", n)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _instr AS
        SELECT 'EI-' || lpad((? + row_number() OVER (ORDER BY manufacturer, serial_no, action))::VARCHAR, 9, '0')
                   AS instruction_id,
               'EB-' || lpad((? + dense_rank() OVER (ORDER BY manufacturer))::VARCHAR, 7, '0') AS batch_id, *
        FROM _todo""",
        [base, batch_base],
    )
    batches = con.execute("""
        SELECT batch_id, manufacturer, list(struct_pack(instructionId := instruction_id, action := action,
                    serialNumber := serial_no, productId := product_id, orderId := order_id,
                    accountId := account_id) ORDER BY instruction_id)
        FROM _instr GROUP BY ALL ORDER BY batch_id""").fetchall()
    created = sim.now.strftime("%Y-%m-%dT%H:%M:%S")
    files = [
        OutboundFile(
            "enrolment-request",
            maker,
            f"enrolment-request__{maker}__{batch}.json.enc",
            {
                "fileType": "enrolment-request",
                "batchId": batch,
                "manufacturer": maker,
                "createdAt": created,
                "instructions": items,
            },
            len(items),
            batch,
        )
        for batch, maker, items in batches
    ]
    file_ids = write_outbound(sim, files, "enrolment-request.schema.json")
    con.execute(
        """INSERT INTO enrolment_batches
                   SELECT unnest(?), unnest(?), ?, unnest(?), unnest(?)""",
        [[f.batch_id for f in files], [f.party for f in files], sim.now, [f.records for f in files], file_ids],
    )
    con.execute(
        """INSERT INTO enrolment_instructions
                   SELECT instruction_id, serial_no, action, manufacturer, batch_id, 'Sent', NULL, ?, NULL
                   FROM _instr ORDER BY instruction_id""",
        [sim.now],
    )
    con.execute(
        """
        UPDATE devices SET enrolment_status = CASE i.action WHEN 'enrol' THEN 'Enrolment Requested'
                                                   ELSE 'Unenrolment Requested' END, status_changed_at = ?
        FROM _instr i WHERE devices.serial_no = i.serial_no""",
        [sim.now],
    )
    _device_events(
        sim, "_instr", "CASE action WHEN 'enrol' THEN 'Enrolment Requested' ELSE 'Unenrolment Requested' END"
    )
    return n


def _device_events(sim, table: str, activity_sql: str) -> None:
    sim.store.record_events(
        f"""
        SELECT ?::TIMESTAMP AS ts, 'device' AS object_type, serial_no AS object_id,
               {activity_sql} AS activity, ? AS job, instruction_id AS detail FROM {table}""",
        [sim.now, sim.current_job],
    )


def manufacturer_step(sim) -> int:
    """Every manufacturer collects new instruction files and answers what is due."""
    handled = 0
    for maker in sim.scenario["manufacturers"]:
        handled += _collect(sim, maker) + _answer(sim, maker)
    return handled


def _collect(sim, maker) -> int:
    mid = maker["id"]
    frames = [
        pl.DataFrame(document["instructions"]).with_columns(file_name=pl.lit(name))
        for name, document in collect_outbound(sim, "enrolment-request", mid)
    ]
    if not frames:
        return 0
    rows = pl.concat(frames).sort("instructionId")
    rng = sim.rng(f"manufacturer.{mid}")
    delay_s = np.round(draw(maker["response_delay_hours"], rng, rows.height) * 3600).astype(np.int64)
    rejected = rng.random(rows.height) < maker["reject_rate"]
    rows = rows.with_columns(delay_s=pl.Series(delay_s), rejected=pl.Series(rejected))
    sim.con.register("_received", rows.to_arrow())
    sim.con.execute(
        """
        INSERT INTO mf_requests
        SELECT ?, file_name, instructionId, serialNumber, action, ?::TIMESTAMP, ?::TIMESTAMP + to_seconds(delay_s),
               CASE WHEN rejected THEN 'rejected' ELSE 'accepted' END,
               CASE WHEN rejected THEN (CASE action WHEN 'enrol' THEN ? ELSE ? END) END, NULL
        FROM _received ORDER BY instructionId""",
        [mid, sim.now, sim.now, REJECT_REASONS["enrol"], REJECT_REASONS["unenrol"]],
    )
    return rows.height


def _answer(sim, maker) -> int:
    mid = maker["id"]
    name = f"enrolment-response__{mid}__{sim.now.strftime('%Y%m%d_%H%M')}.json.enc"
    due = sim.con.execute(
        """
        UPDATE mf_requests SET answered_in = ? WHERE manufacturer = ? AND answered_in IS NULL AND answer_at <= ?
        RETURNING instruction_id, serial_no, action, outcome, reason_code""",
        [name, mid, sim.now],
    ).fetchall()
    if not due:
        return 0
    results = [
        {"instructionId": i, "serialNumber": s, "action": a, "outcome": o, **({"reasonCode": r} if r else {})}
        for i, s, a, o, r in sorted(due)
    ]
    deliver_inbound(
        sim,
        "enrolment-response",
        mid,
        name,
        {
            "fileType": "enrolment-response",
            "manufacturer": mid,
            "answeredAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"),
            "results": results,
        },
    )
    return len(results)


def _stage_response(sim, file_id: str, document: dict) -> int:
    rows = pl.DataFrame(document["results"], infer_schema_length=None)
    if "reasonCode" not in rows.columns:
        rows = rows.with_columns(reasonCode=pl.lit(None, pl.Utf8))
    staged = rows.select(
        file_id=pl.lit(file_id),
        instruction_id="instructionId",
        serial_no="serialNumber",
        action="action",
        outcome="outcome",
        reason_code="reasonCode",
        answered_at=parse_timestamps(pl.Series([document["answeredAt"]] * rows.height), "answeredAt"),
        applied=pl.lit(None, pl.Utf8),
    )
    return sim.store.insert("enrolment_responses", staged)


ENROLMENT_RESPONSE = InboundKind(
    kind="enrolment-response", schema="enrolment-response.schema.json", stage=_stage_response
)


def load_enrolment_responses_step(sim) -> int:
    return load_inbound(sim, ENROLMENT_RESPONSE)


def enrolment_response_step(sim) -> int:
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _resp AS
        SELECT r.*, CASE WHEN i.instruction_id IS NULL THEN 'ignored: unknown instruction'
                         WHEN i.status <> 'Sent' THEN 'ignored: instruction already ' || i.status
                         WHEN i.serial_no <> r.serial_no OR i.action <> r.action
                             THEN 'ignored: does not match the instruction'
                         WHEN row_number() OVER (PARTITION BY r.instruction_id ORDER BY r.file_id) > 1
                             THEN 'ignored: answered twice'
                         ELSE 'applied' END AS verdict
        FROM enrolment_responses r LEFT JOIN enrolment_instructions i USING (instruction_id)
        WHERE r.applied IS NULL""")
    n = sim.store.scalar("SELECT count(*) FROM _resp")
    if n == 0:
        return 0
    con.execute("""UPDATE enrolment_responses SET applied = r.verdict FROM _resp r
                   WHERE enrolment_responses.file_id = r.file_id
                     AND enrolment_responses.instruction_id = r.instruction_id""")
    con.execute("CREATE OR REPLACE TEMP TABLE _ok AS SELECT * FROM _resp WHERE verdict = 'applied' ORDER BY serial_no")
    con.execute(
        """UPDATE enrolment_instructions
           SET status = CASE r.outcome WHEN 'accepted' THEN 'Accepted' ELSE 'Rejected' END,
                   reason = r.reason_code, answered_at = ? FROM _ok r
                   WHERE enrolment_instructions.instruction_id = r.instruction_id""",
        [sim.now],
    )
    _apply_to_devices(sim)
    return n


def _apply_to_devices(sim) -> None:
    con = sim.con
    spec = sim.scenario["enrolment"]
    newly = sim.store.frame(
        "SELECT serial_no FROM _ok WHERE action = 'enrol' AND outcome = 'accepted' ORDER BY serial_no"
    )
    rng = sim.rng("enrolment.unenrol")
    leaves = rng.random(newly.height) < spec["unenrol_rate"]
    after_s = np.round(draw(spec["unenrol_after_days"], rng, newly.height) * 86400).astype(np.int64)
    newly = newly.with_columns(unenrol_after_s=pl.Series(np.where(leaves, after_s, -1))).with_columns(
        pl.col("unenrol_after_s").replace(-1, None)
    )
    con.register("_leaving", newly.to_arrow())
    con.execute(
        """
        UPDATE devices SET status_changed_at = ?,
               enrolment_status = CASE WHEN r.action = 'enrol' AND r.outcome = 'accepted' THEN 'Enrolled'
                                       WHEN r.action = 'enrol' THEN 'Enrolment Failed'
                                       WHEN r.outcome = 'accepted' THEN 'Unenrolled' ELSE 'Enrolled' END,
               unenrol_at = CASE WHEN r.action = 'enrol' AND r.outcome = 'accepted'
                                 THEN ?::TIMESTAMP + to_seconds(l.unenrol_after_s) END
        FROM _ok r LEFT JOIN _leaving l USING (serial_no) WHERE devices.serial_no = r.serial_no""",
        [sim.now, sim.now],
    )
    _device_events(
        sim,
        "_ok",
        """CASE WHEN action = 'enrol' AND outcome = 'accepted' THEN 'Device Enrolled'
                                       WHEN action = 'enrol' THEN 'Enrolment Failed'
                                       WHEN outcome = 'accepted' THEN 'Device Unenrolled'
                                       ELSE 'Unenrolment Rejected' END""",
    )
