"""The Comms Monitor job: gathers what each new header needs and writes its Comms Request Detail.

For every header Requested (and every Waiting one whose case has been resolved) it chooses the one
target of the communication — the e-mail address, phone number, device token, postal address of
the customer, or the probe recipient — and gathers the data its template merges (the account, the
order, the invoice, the overdue amount, the alert, the case) as canonical JSON. A channel the
customer has no contact for falls back to a letter (every account has a postal address), with the
reason kept; a staff alert without a target fails.
"""

from __future__ import annotations

ACCOUNT = """struct_pack(account_id := a.account_id, name := a.name, address_line1 := a.address_line1,
                        city := a.city, postcode := a.postcode, country := a.country, email := a.email,
                        phone := a.phone)"""
REQUEST = """struct_pack(request_id := c.request_id, trigger := c.trigger, created_at := c.created_at,
                        channel := c.channel)"""
# What each trigger merges beside the account and the request (the keys of cmpsim.comms.render): per
# key, the triggers it is merged for and a query of (request_id, s) over `c`, the headers gathered in
# this wake-up, joined to the rows of their objects only (a wake-up's cost stays that of its headers,
# however long the run's history). Each query ends with its FROM clause: the filter on the triggers
# is appended to it (comms_monitor_step).
SUBJECTS = {
    "order": (("order_dispatched", "order_error"), """
        SELECT c.request_id, struct_pack(order_id := o.order_id, kind := o.kind, status := o.status,
                                         status_reason := o.status_reason, created_at := o.created_at,
                                         completed_at := o.completed_at, lines := l.lines) AS s
        FROM c JOIN orders o ON o.order_id = c.object_id
             LEFT JOIN (SELECT l.order_id, list(struct_pack(product := coalesce(p.name, sp.name, l.product_id),
                                                            quantity := l.quantity) ORDER BY l.line_no) AS lines
                        FROM order_lines l LEFT JOIN products p ON p.product_id = l.product_id
                             LEFT JOIN service_products sp ON sp.product_id = l.product_id
                        WHERE l.order_id IN (SELECT object_id FROM c) GROUP BY l.order_id) l
                 ON l.order_id = o.order_id"""),
    # From invoice_documents, as the bill PDF: the period by its first and last day billed.
    "invoice": (("invoice_produced",), """
        SELECT c.request_id, struct_pack(invoice_id := i.invoice_id, invoice_date := i.invoice_date,
                                         due_date := i.due_date, gross_amount := i.gross_amount::VARCHAR,
                                         currency := i.currency, period_start := i.period_first_day,
                                         period_end := i.period_last_day,
                                         has_bill_pdf := EXISTS (SELECT 1 FROM bill_documents d
                                                                 WHERE d.doc_id = i.invoice_id
                                                                    OR d.doc_id = i.statement_id)) AS s
        FROM c JOIN invoice_documents i ON i.invoice_id = c.object_id"""),
    "overdue": (("payment_overdue",), """
        SELECT c.request_id, struct_pack(invoice_id := s.invoice_id, due_date := s.due_date,
                                         outstanding := s.outstanding::VARCHAR,
                                         days_overdue := (c.created_at::DATE - s.due_date), currency := i.currency) AS s
        FROM c JOIN invoice_status s ON s.invoice_id = c.object_id JOIN invoices i USING (invoice_id)"""),
    "alert": (("probe_alert",), """
        SELECT c.request_id, (SELECT struct_pack(probe := r.probe, kind := r.kind, evaluated_at := r.evaluated_at,
                                                 value := r.value::VARCHAR, target := r.target, message := pa.message)
                              FROM probe_alerts pa JOIN probe_results r ON r.probe = pa.probe
                                                                        AND r.evaluated_at = pa.evaluated_at
                              WHERE pa.probe || ' @ ' || strftime(pa.evaluated_at, '%Y-%m-%d %H:%M') = c.object_id
                                AND pa.recipient = c.target LIMIT 1) AS s
        FROM c"""),
    "case": (("workflow_event",), """
        SELECT c.request_id, struct_pack(case_id := w.case_id, kind := w.kind, subject := w.subject,
                                         state := CASE WHEN w.resolved_at IS NULL THEN 'opened' ELSE 'resolved' END,
                                         opened_at := w.opened_at, resolved_at := w.resolved_at,
                                         object_id := w.object_id) AS s
        FROM c JOIN wf_cases w ON w.case_id = c.object_id"""),
}


def comms_monitor_step(sim) -> int:
    """Gather the details of every header ready for it; returns headers gathered."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _cm_ready AS
        SELECT c.* FROM comms c WHERE c.status = 'Requested'
        UNION ALL
        SELECT c.* FROM comms c JOIN wf_cases w ON w.case_id = c.object_id
        WHERE c.status = 'Waiting' AND w.resolved_at <= ?""", [sim.now])
    n = sim.store.scalar("SELECT count(*) FROM _cm_ready")
    if not n:
        return 0
    chosen = _choose_targets(sim)
    subjects = ", ".join(
        f"s_{key} AS ({query} WHERE c.trigger IN ({', '.join(repr(t) for t in triggers)}))"
        for key, (triggers, query) in SUBJECTS.items())
    con.execute(f"""
        INSERT INTO comms_details
        WITH c AS (SELECT c.* REPLACE (t.channel AS channel, t.target AS target)  -- as chosen, not as requested
                   FROM _cm_ready c JOIN comms t USING (request_id) WHERE t.status = 'Gathered'),
             a AS (SELECT a.account_id, a.name, {ACCOUNT} AS account FROM accounts a
                   WHERE a.account_id IN (SELECT account_id FROM c)),
             {subjects}
        SELECT c.request_id, ?, to_json(struct_pack(
                   account := a.account,
                   recipient := struct_pack(name := coalesce(a.name, c.target), target := c.target),
                   request := {REQUEST}, {", ".join(f'"{key}" := s_{key}.s' for key in SUBJECTS)}))::VARCHAR
        FROM c LEFT JOIN a USING (account_id) {" ".join(f"LEFT JOIN s_{key} USING (request_id)" for key in SUBJECTS)}
        ORDER BY c.request_id""", [sim.now])
    sim.store.record_events_at(
        sim.now, "comm", [request_id for request_id, *_ in chosen],
        ["Comm Gathered" if status == "Gathered" else "Comm Failed" for _, status, *_ in chosen], sim.current_job,
        [f"{channel} to {'(no target)' if target is None else target}{'' if reason is None else f': {reason}'}"
         for _, _, channel, target, reason in chosen])
    return n


def _choose_targets(sim) -> list[tuple]:
    """One target per communication, by channel; no contact on that channel: a letter, reason kept.
    Returns (request_id, status, channel, target, reason) of each."""
    return sim.con.execute("""
        UPDATE comms SET channel = x.channel, target = x.target, status = x.status, reason = x.reason,
               updated_at = ?
        FROM (SELECT r.request_id,
                     CASE WHEN t.target IS NULL AND p.postal_address IS NOT NULL THEN 'letter' ELSE r.channel END
                         AS channel,
                     coalesce(t.target, p.postal_address) AS target,
                     CASE WHEN coalesce(t.target, p.postal_address) IS NULL THEN 'Failed' ELSE 'Gathered' END
                         AS status,
                     CASE WHEN t.target IS NOT NULL THEN NULL
                          WHEN p.postal_address IS NOT NULL THEN 'no ' || r.channel || ' contact: sent by letter'
                          ELSE 'no target for ' || r.channel END AS reason
              FROM _cm_ready r LEFT JOIN comms_preferences p USING (account_id),
                   LATERAL (SELECT CASE r.channel WHEN 'email' THEN coalesce(r.target, p.email)
                                                  WHEN 'sms' THEN p.phone WHEN 'push_handset' THEN p.device_token
                                                  WHEN 'push_external' THEN r.target
                                                  WHEN 'letter' THEN p.postal_address END AS target) t) x
        WHERE comms.request_id = x.request_id
        RETURNING comms.request_id, comms.status, comms.channel, comms.target, comms.reason""", [sim.now]).fetchall()
