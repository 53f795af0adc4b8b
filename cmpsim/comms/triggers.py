"""Triggers: what creates an entry in the Comms Request Header (`comms`).

The Comms Trigger daemon reads the event log from where it stopped (`comms_cursor`) and creates one
header per rule (`comms.rules`) whose trigger matches: a hardware order dispatched (Order Complete),
an order in error, failed or rejected, an invoice produced, a customer service case opened. It also
turns each pending probe alert into one header per recipient. A daily job adds the invoices
overdue by the rule's `after_days`. A workflow event makes its header when it is created, whatever
its WhenToCreate (seed 003); with OnResolve the header waits (status Waiting) until the case is
resolved.

The channel is the rule's, or the customer's preferred one (`preferred`), or follows the probe
recipient (`recipient`: an address with @ by e-mail, anything else by push to external). Each
communication goes to exactly one target, chosen when the Comms Monitor gathers its details.
"""

from __future__ import annotations

import polars as pl

from cmpsim.comms.tables import cursor_sql, move_cursor
from cmpsim.store import registered

ACTIVITIES = ("Order Complete", "Order Error", "Order Failed", "Order Rejected", "Invoice Produced", "Case Opened")
EVENT_TRIGGERS = {
    "order_dispatched": "e.object_type = 'order' AND e.activity = 'Order Complete' AND o.kind = 'hardware'",
    "order_error": "e.object_type = 'order' AND e.activity IN ('Order Error', 'Order Failed', 'Order Rejected')",
    "invoice_produced": "e.object_type = 'invoice' AND e.activity = 'Invoice Produced'",
    "workflow_event": "e.object_type = 'case' AND e.activity = 'Case Opened'",
}
OBJECT_TYPE = {"order_dispatched": "order", "order_error": "order", "invoice_produced": "invoice",
               "workflow_event": "case", "payment_overdue": "invoice", "probe_alert": "probe_alert"}


def rules(sim, trigger: str) -> list[tuple[int, dict]]:
    return [(i, r) for i, r in enumerate(sim.scenario["comms"]["rules"]) if r["trigger"] == trigger]


def comms_trigger_due(sim) -> bool:
    """Anything that triggers since the last wake-up: an event of interest (in the log, or held in memory
    for it: the look writes nothing), or a pending probe alert."""
    cursor, alerts = sim.con.execute(f"""
        SELECT coalesce({cursor_sql('events')}, 0), (SELECT count(*) FROM probe_alerts WHERE status = 'Pending')"""
                                     ).fetchall()[0]
    return bool(alerts) or sim.store.has_events_since(cursor, ACTIVITIES)


def comms_trigger_step(sim) -> int:
    """Headers for the events logged since the last wake-up and for pending probe alerts."""
    cursor, top, alerts = sim.con.execute(
        f"SELECT {cursor_sql('events')}, (SELECT max(seq) FROM events), "
        "(SELECT count(*) FROM probe_alerts WHERE status = 'Pending' AND evaluated_at <= ?)", [sim.now]).fetchall()[0]
    last, top = cursor or 0, top or 0
    parts = []
    for trigger, condition in EVENT_TRIGGERS.items():
        for rule_no, _ in rules(sim, trigger):
            parts.append(f"""
                SELECT {rule_no} AS rule_no, e.object_id,
                       COALESCE(o.account_id, i.account_id, w.account_id) AS account_id,
                       NULL AS recipient, e.seq AS sort
                FROM _cm_events e LEFT JOIN orders o ON e.object_type = 'order' AND o.order_id = e.object_id
                     LEFT JOIN invoices i ON e.object_type = 'invoice' AND i.invoice_id = e.object_id
                     LEFT JOIN wf_cases w ON e.object_type = 'case' AND w.case_id = e.object_id
                WHERE {condition}""")
    for rule_no, _ in rules(sim, "probe_alert"):
        parts.append(f"""
            SELECT {rule_no}, probe || ' @ ' || strftime(evaluated_at, '%Y-%m-%d %H:%M'), NULL, recipient,
                   epoch(evaluated_at)::BIGINT
            FROM probe_alerts WHERE status = 'Pending' AND evaluated_at <= TIMESTAMP '{sim.now}'""")
    events = f"SELECT * FROM events WHERE seq > {last} AND seq <= {top} AND activity IN {ACTIVITIES}"
    created = _create(sim, " UNION ALL ".join(parts), f"_cm_events AS MATERIALIZED ({events})") if parts else 0
    if alerts:
        sim.con.execute("UPDATE probe_alerts SET status = 'Requested' WHERE status = 'Pending' AND evaluated_at <= ?",
                        [sim.now])
    if cursor is None or top != last:  # the cursor moves (or is set) only when it changes
        move_cursor(sim.con, "events", top)
    return created


def payment_overdue_step(sim) -> int:
    """Headers for the invoices still unpaid `after_days` after their due date (once per invoice)."""
    parts = [f"""
        SELECT {rule_no} AS rule_no, s.invoice_id AS object_id, s.account_id, NULL AS recipient, 0 AS sort
        FROM invoice_status s
        WHERE s.outstanding > 0 AND s.due_date + {int(rule.get('after_days', 0))} <= DATE '{sim.today}'
          AND NOT EXISTS (SELECT 1 FROM comms c WHERE c.rule_no = {rule_no} AND c.object_id = s.invoice_id)"""
             for rule_no, rule in rules(sim, "payment_overdue")]
    return _create(sim, " UNION ALL ".join(parts)) if parts else 0


def _create(sim, candidates_sql: str, with_sql: str | None = None) -> int:
    """Insert one header per candidate (rule_no, object_id, account_id, recipient), channel resolved;
    `with_sql` names what the candidates read (a WITH clause's list)."""
    found = sim.store.frame(f"{f'WITH {with_sql} ' if with_sql else ''}SELECT * FROM ({candidates_sql}) "
                            "ORDER BY sort, rule_no, object_id, recipient")
    if found.height == 0:
        return 0
    spec = sim.scenario["comms"]
    rule = pl.DataFrame([{"rule_no": i, "trigger": r["trigger"], "template": r["template"],
                          "rule_channel": r["channel"]} for i, r in enumerate(spec["rules"])])
    found = found.join(rule, on="rule_no").with_columns(
        object_type=pl.col("trigger").replace_strict(OBJECT_TYPE),
        waiting=(pl.col("trigger") == "workflow_event") & pl.lit(spec["workflow"]["when_to_create"] == "OnResolve"))
    base = sim.store.allocate("comms_request", found.height)
    found = found.with_columns(
        request_id=pl.format("CR-{}", (pl.int_range(1, found.height + 1) + base).cast(pl.Utf8).str.zfill(8)))
    with registered(sim.con, "_cm_new", found.to_arrow()):
        created = sim.con.execute("""
            INSERT INTO comms
            SELECT n.request_id,
                   CASE n.rule_channel WHEN 'preferred' THEN coalesce(p.channel, 'letter')
                                       WHEN 'recipient' THEN CASE WHEN n.recipient LIKE '%@%' THEN 'email'
                                                                  ELSE 'push_external' END
                                       ELSE n.rule_channel END,
                   CASE WHEN n.waiting THEN 'Waiting' ELSE 'Requested' END, ?, n.trigger, n.template, n.account_id,
                   n.object_type, n.object_id, n.recipient, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?,
                   n.rule_no, NULL
            FROM _cm_new n LEFT JOIN comms_preferences p USING (account_id) ORDER BY n.request_id
            RETURNING request_id, trigger, object_id, channel, status""", [sim.now, sim.now]).fetchall()
    sim.store.record_events_at(
        sim.now, "comm", [request_id for request_id, *_ in created], "Comm Requested", sim.current_job,
        [f"{trigger} {object_id} by {channel}{' (waits for the case to be resolved)' if status == 'Waiting' else ''}"
         for _, trigger, object_id, channel, status in created])
    return found.height
