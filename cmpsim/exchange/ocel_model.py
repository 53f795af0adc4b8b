"""What the OCEL 2.0 export calls an object, and how events and objects relate (docs/exchange.md).

Every object type is a table of the run database (`KINDS`): one object per row, with the row's
columns as attributes. An object's `status` changes over time: each event that moves it (`STATUS`)
stamps the new value with the event's time. Objects whose type has such events but none of their
own (an installed-base asset never touched) keep the table's value as a constant.

Events are the rows of `events`, one OCEL event each. Each relates to its own object and to every
object the database ties to it (`EVENT_OBJECT_SQL`): the customer, the order lines an item event
names, the orders in a file, the charges an invoice billed, the postings and journals of a posted
document, the order a communication is about… Objects relate to objects through their foreign keys
(`OBJECT_OBJECT_SQL`): a line is part of its order, a revision revises its base order, a journal
books a posting. All of it is SQL over whole tables, reading the temporary tables `_ocel_events`
and `_ocel_objects` that `cmpsim.exchange.ocel` builds first.
"""

from __future__ import annotations

from dataclasses import dataclass

STRING, INTEGER, FLOAT, TIME = "string", "integer", "float", "time"


@dataclass(frozen=True)
class Attribute:
    name: str
    sql: str  # over the kind's source
    kind: str = STRING  # OCEL 2.0 attribute type


@dataclass(frozen=True)
class ObjectKind:
    """One OCEL object type: where its objects come from and what they carry."""

    name: str
    source: str  # a FROM clause: one row per object
    id_sql: str  # the object's OCEL id
    attributes: tuple[Attribute, ...]
    status_sql: str | None = None  # the table's own status, for objects no event moved


def _attrs(*specs: str) -> tuple[Attribute, ...]:
    """Attributes from "column" or "column:type" (the column is also the name)."""
    out = []
    for spec in specs:
        name, _, kind = spec.partition(":")
        out.append(Attribute(name, name, kind or STRING))
    return tuple(out)


# Events name their object by (object_type, object_id); a few ids are shared by two things (a refund
# and its payout) or are plain names (probes, jobs), so those get a prefix to stay unique in the log.
EVENT_OBJECT_TYPES = {
    "order": ("order", ""), "device": ("device", ""), "charge": ("charge", ""),
    "generic_file": ("generic file", ""), "asset": ("asset", ""), "invoice": ("invoice", ""),
    "statement": ("statement", ""), "document": ("bill document", ""), "payment": ("payment", ""),
    "payment_reversal": ("payment reversal", ""), "refund": ("refund", ""),
    "refund_payout": ("refund payout", "payout:"), "posting": ("posting", ""), "probe": ("probe", "probe:"),
    "job": ("job", "job:"), "comm": ("communication", ""), "case": ("case", ""),
}

KINDS: tuple[ObjectKind, ...] = (
    ObjectKind("account", "accounts", "account_id",
               _attrs("name", "city", "postcode", "country", "bill_cycle_day:integer", "price_list")),
    ObjectKind("order", "orders", "order_id",
               _attrs("kind", "order_type", "account_id", "priority:integer", "price_list", "status_reason",
                      "created_at:time", "completed_at:time"), "status"),
    ObjectKind("order line", "order_lines ol LEFT JOIN service_lines sl USING (order_id, line_no)",
               "ol.order_id || '/' || ol.line_no",
               (Attribute("order_id", "ol.order_id"), Attribute("line_no", "ol.line_no", INTEGER),
                Attribute("line_ref", "sl.line_ref"), Attribute("product_id", "ol.product_id"),
                Attribute("action", "ol.action"), Attribute("quantity", "ol.quantity", INTEGER),
                Attribute("unit_price", "ol.unit_price", FLOAT), Attribute("price_list", "ol.price_list"),
                Attribute("status", "ol.status"), Attribute("status_reason", "ol.status_reason"))),
    ObjectKind("warehouse batch", "warehouse_batches", "batch_id",
               _attrs("warehouse_id", "status", "lines:integer", "created_at:time")),
    ObjectKind("generic file", "generic_files", "file_id",
               _attrs("kind", "direction", "party", "name", "records:integer", "reason", "registered_at:time"),
               "status"),
    ObjectKind("device", "devices", "serial_no",
               _attrs("product_id", "manufacturer", "order_id", "dispatched_at:time"), "enrolment_status"),
    ObjectKind("charge", "charges", "charge_id",
               _attrs("source_type", "source_id", "product_id", "description", "quantity:integer",
                      "net_amount:float", "tax_amount:float", "gross_amount:float", "billing_mode",
                      "charge_date:time", "status", "invoice_id")),
    ObjectKind("asset", "assets", "asset_id", _attrs("product_id", "location", "price_list", "created_by"), "state"),
    ObjectKind("invoice", "invoices", "invoice_id",
               _attrs("invoice_type", "invoice_date:time", "due_date:time", "currency", "lines:integer",
                      "net_amount:float", "tax_amount:float", "gross_amount:float"), "status"),
    ObjectKind("statement", "statements", "statement_id",
               _attrs("statement_date:time", "previous_balance:float", "invoiced:float", "paid:float",
                      "adjustments:float", "new_balance:float", "items:integer")),
    ObjectKind("bill document", "bill_documents", "document_id", _attrs("doc_type", "doc_id", "path", "bytes:integer")),
    ObjectKind("payment", "payments", "payment_id",
               _attrs("invoice_id", "amount:float", "received_on:time", "bank_ref"), "status"),
    ObjectKind("payment reversal", "payment_reversals", "reversal_id",
               _attrs("payment_id", "amount:float", "returned_on:time", "reason")),
    ObjectKind("refund", "refunds", "refund_id", _attrs("amount:float", "requested_on:time", "paid_on:time"),
               "status"),
    ObjectKind("refund payout", "refunds WHERE paid_on IS NOT NULL", "'payout:' || refund_id",
               (Attribute("refund_id", "refund_id"), Attribute("amount", "amount", FLOAT),
                Attribute("paid_on", "paid_on", TIME), Attribute("bank_ref", "bank_ref"))),
    ObjectKind("posting", "postings", "posting_id",
               _attrs("ledger", "doc_type", "doc_id", "period", "amount:float", "status", "attempts:integer",
                      "reject_code", "reason")),
    ObjectKind("ledger journal", "gl_journals", "journal_id",
               _attrs("posting_id", "doc_type", "doc_id", "period", "posted_at:time", "total_debit:float",
                      "total_credit:float", "lines:integer", "source_file")),
    ObjectKind("communication", "comms", "request_id",
               _attrs("channel", "trigger", "template", "account_id", "attempts:integer", "reason"), "status"),
    ObjectKind("case", "wf_cases", "case_id", _attrs("kind", "subject", "opened_at:time", "resolved_at:time")),
    # Probes and jobs are objects as far as the log names them: the ones that raised or did something.
    ObjectKind("probe", """(SELECT DISTINCT object_id AS probe FROM events WHERE object_type = 'probe')
                           LEFT JOIN (SELECT probe, min(kind) AS kind FROM probe_results GROUP BY probe)
                           USING (probe)""",
               "'probe:' || probe", _attrs("probe", "kind")),
    ObjectKind("job", """(SELECT job FROM events UNION SELECT object_id FROM events WHERE object_type = 'job')
                         LEFT JOIN (SELECT job, min(component) AS component FROM job_runs GROUP BY job) USING (job)""",
               "'job:' || job", _attrs("job", "component")),
)

# Steps take no simulated time, so one second often holds several events of one object; the run's
# log orders such ties by name. The export orders them as they happen in the seeds' processes, so a
# process map shows "Order Created" before "Item Added" (activities not listed come after, by name).
LIFECYCLE = (
    "Order Created", "Item Added", "Order Generated", "Order Request Generated", "Fraud Check Passed",
    "Fraud Check Failed", "File Extracted", "File Transmitted", "File Loaded", "File Quarantined", "File Duplicate",
    "Item Dispatched", "Item Failed", "Charge Created",
    "Enrolment Requested", "Device Enrolled", "Enrolment Failed", "Unenrolment Requested", "Device Unenrolled",
    "Unenrolment Rejected",
    "Order Submitted", "Revision Submitted", "Order Rejected", "Future-Dated Orders On Asset",
    "Future State Conflict", "Order Received", "Order Released", "Fulfilment Started",
    "Fulfilment Suspended", "Line Added", "Line Removed", "Line Redo", "Line Repriced", "Revision Applied",
    "Revision Rejected", "Revision Discarded", "Fulfilment Resumed", "Line Complete", "Line Failed", "Line Fallout",
    "Fallout Retried", "Fallout Fixed", "Fallout Cancelled", "Asset Active",
    "Asset Suspended", "Asset Moving", "Asset Disconnected", "Order Complete", "Order Error", "Order Failed",
    "Invoice Produced", "Statement Produced", "Bill Rendered", "Posted To Sales Ledger", "Posted To General Ledger",
    "Document Posted", "Posting Rejected", "Posting Reposted", "Payment Received", "Payment Returned",
    "Refund Requested", "Refund Paid",
    "Probe Alert Raised", "SLA Breached", "Job Failed",
    "Case Opened", "Comm Requested", "Comm Gathered", "Comm Rendered", "Comm Retry Scheduled", "Comm Sent",
    "Comm Stored", "Comm Delivered", "Comm Read", "Comm Bounced", "Comm Failed", "Case Resolved",
)

# (events.object_type, activity, the status it gives the object)
STATUS = (
    [("order", a, s) for a, s in (
        ("Order Created", "New"), ("Order Generated", "Awaiting Generation"),
        ("Order Request Generated", "Awaiting Dispatch"), ("Order Complete", "Complete"), ("Order Error", "Error"),
        ("Order Submitted", "Submitted"), ("Order Rejected", "Rejected"), ("Revision Submitted", "Pending"),
        ("Revision Applied", "Applied"), ("Revision Rejected", "Rejected"), ("Revision Discarded", "Discarded"),
        ("Fulfilment Started", "In Progress"), ("Order Failed", "Failed"))]
    + [("generic_file", f"File {s}", s) for s in ("Extracted", "Transmitted", "Loaded", "Quarantined", "Duplicate")]
    + [("device", a, s) for a, s in (
        ("Enrolment Requested", "Enrolment Requested"), ("Device Enrolled", "Enrolled"),
        ("Enrolment Failed", "Enrolment Failed"), ("Unenrolment Requested", "Unenrolment Requested"),
        ("Device Unenrolled", "Unenrolled"), ("Unenrolment Rejected", "Enrolled"))]
    + [("asset", f"Asset {s}", s) for s in ("Active", "Suspended", "Moving", "Disconnected")]
    + [("invoice", a, s) for a, s in (
        ("Invoice Produced", "Produced"), ("Posted To Sales Ledger", "Posted"),
        ("Posted To General Ledger", "Posted"), ("Document Posted", "Posted"))]
    + [("payment", "Payment Received", "Received"), ("payment", "Payment Returned", "Returned"),
       ("refund", "Refund Requested", "Requested"), ("refund", "Refund Paid", "Paid"),
       ("case", "Case Opened", "Open"), ("case", "Case Resolved", "Resolved")]
    + [("comm", a, s) for a, s in (
        ("Comm Requested", "Requested"), ("Comm Gathered", "Gathered"), ("Comm Retry Scheduled", "Retrying"),
        ("Comm Rendered", "Rendered"), ("Comm Sent", "Sent"), ("Comm Delivered", "Delivered"), ("Comm Read", "Read"),
        ("Comm Bounced", "Bounced"), ("Comm Failed", "Failed"))]
)

# The OCEL id of a financial document named by (doc_type, doc_id), as postings and statements name them.
DOC_ID = "CASE {t} WHEN 'refund_payout' THEN 'payout:' || {i} ELSE {i} END"

# Who each object belongs to: every event of the object also relates to this customer.
OWNERS_SQL = """
    SELECT order_id AS ocel_id, account_id FROM orders
    UNION ALL SELECT charge_id, account_id FROM charges
    UNION ALL SELECT asset_id, account_id FROM assets
    UNION ALL SELECT serial_no, account_id FROM devices
    UNION ALL SELECT invoice_id, account_id FROM invoices
    UNION ALL SELECT statement_id, account_id FROM statements
    UNION ALL SELECT document_id, account_id FROM bill_documents
    UNION ALL SELECT payment_id, account_id FROM payments
    UNION ALL SELECT reversal_id, account_id FROM payment_reversals
    UNION ALL SELECT refund_id, account_id FROM refunds
    UNION ALL SELECT 'payout:' || refund_id, account_id FROM refunds
    UNION ALL SELECT posting_id, account_id FROM postings
    UNION ALL SELECT journal_id, account_id FROM gl_journals
    UNION ALL SELECT request_id, account_id FROM comms
    UNION ALL SELECT case_id, account_id FROM wf_cases"""

# What a generic file carried: the objects its events also relate to.
FILE_CONTENT_SQL = """
    SELECT file_id, batch_id AS ocel_id, 'batch' AS qualifier FROM warehouse_batches
    UNION ALL SELECT DISTINCT wb.file_id, rl.order_id, 'order'
              FROM request_lines rl JOIN warehouse_batches wb USING (batch_id)
    UNION ALL SELECT DISTINCT db.file_id, dl.order_id, 'order'
              FROM dispatch_lines dl JOIN dispatch_batches db USING (batch_id)
    UNION ALL SELECT file_id, posting_id, 'posting' FROM posting_attempts
    UNION ALL SELECT file_id, posting_id, 'posting' FROM posting_responses
    UNION ALL SELECT eb.file_id, ei.serial_no, 'device'
              FROM enrolment_instructions ei JOIN enrolment_batches eb USING (batch_id)
    UNION ALL SELECT file_id, serial_no, 'device' FROM enrolment_responses
    UNION ALL SELECT file_id, payment_id, 'payment' FROM payments
    UNION ALL SELECT file_id, reversal_id, 'reversal' FROM payment_reversals
    UNION ALL SELECT instruction_file_id, refund_id, 'refund' FROM refunds
    UNION ALL SELECT file_id, request_id, 'communication' FROM comms_status_updates"""

# Each query gives (event_id, object_id, qualifier) over `_ocel_events e` (see ocel.py).
EVENT_OBJECT_SQL = (
    # the event's own object and the job (or outside party) that made the change
    "SELECT e.event_id, e.object_ocel_id, e.ocel_type FROM _ocel_events e",
    "SELECT e.event_id, 'job:' || e.job, 'job' FROM _ocel_events e",
    f"""SELECT e.event_id, w.account_id, 'customer' FROM _ocel_events e
        JOIN ({OWNERS_SQL}) w ON w.ocel_id = e.object_ocel_id""",
    # hardware items are named `<line>: …` in the detail; service lines by their reference
    """SELECT e.event_id, e.object_id || '/' || regexp_extract(e.detail, '^(\\d+):', 1), 'item'
       FROM _ocel_events e WHERE e.object_type = 'order' AND regexp_matches(e.detail, '^\\d+:')""",
    """SELECT e.event_id, l.order_id || '/' || l.line_no, 'item' FROM _ocel_events e
       JOIN service_lines l ON l.order_id = e.object_id
        AND l.line_ref = regexp_extract(e.detail, '^([0-9]+(\\.[0-9]+)?)', 1)
       WHERE e.object_type = 'order' AND e.activity LIKE 'Line %'""",
    """SELECT e.event_id, l.asset_id, 'asset' FROM _ocel_events e
       JOIN service_lines l ON l.order_id = e.object_id
        AND l.line_ref = regexp_extract(e.detail, '^([0-9]+(\\.[0-9]+)?)', 1)
       WHERE e.object_type = 'order' AND e.activity = 'Line Complete' AND l.asset_id IS NOT NULL""",
    """SELECT e.event_id, c.charge_id, 'charge' FROM _ocel_events e
       JOIN service_lines l ON l.order_id = e.object_id
        AND l.line_ref = regexp_extract(e.detail, '^([0-9]+(\\.[0-9]+)?)', 1)
       JOIN charges c ON c.source_type = 'service_order' AND c.source_id = l.order_id AND c.line_no = l.line_no
       WHERE e.object_type = 'order' AND e.activity = 'Line Complete'""",
    """SELECT e.event_id, l.order_id || '/' || l.line_no, 'item' FROM _ocel_events e
       JOIN order_lines l ON l.order_id = e.object_id
       WHERE e.object_type = 'order' AND e.activity IN ('Order Submitted', 'Revision Submitted', 'Order Rejected')""",
    """SELECT e.event_id, b.batch_id, 'batch' FROM _ocel_events e
       JOIN (SELECT DISTINCT rl.order_id, rl.batch_id, wb.warehouse_id
             FROM request_lines rl JOIN warehouse_batches wb USING (batch_id)) b
         ON b.order_id = e.object_id AND b.warehouse_id = e.detail
       WHERE e.object_type = 'order' AND e.activity = 'Order Request Generated'""",
    """SELECT e.event_id, regexp_extract(e.detail, 'serial (\\S+)', 1), 'device' FROM _ocel_events e
       WHERE e.object_type = 'order' AND e.activity = 'Item Dispatched' AND regexp_matches(e.detail, 'serial \\S+')""",
    f"""SELECT e.event_id, f.ocel_id, f.qualifier FROM _ocel_events e
        JOIN ({FILE_CONTENT_SQL}) f ON f.file_id = e.object_id WHERE e.object_type = 'generic_file'""",
    # billing: what an invoice billed, what a statement listed, what a bill document renders
    """SELECT e.event_id, x.ocel_id, x.qualifier FROM _ocel_events e JOIN (
           SELECT invoice_id, charge_id AS ocel_id, 'charge' AS qualifier FROM charges WHERE invoice_id IS NOT NULL
           UNION SELECT invoice_id, source_id, 'order' FROM charges
                 WHERE invoice_id IS NOT NULL AND source_type IN ('sales_order', 'service_order')
           UNION SELECT invoice_id, source_id, 'asset' FROM invoice_lines WHERE line_type IN ('recurring', 'usage')
       ) x ON x.invoice_id = e.object_id
       WHERE e.object_type = 'invoice' AND e.activity = 'Invoice Produced'""",
    f"""SELECT e.event_id, {DOC_ID.format(t='s.doc_type', i='s.doc_id')}, replace(s.doc_type, '_', ' ')
        FROM _ocel_events e
        JOIN statement_items s ON s.statement_id = e.object_id WHERE e.object_type = 'statement'""",
    """SELECT e.event_id, d.doc_id, CASE d.doc_type WHEN 'bill' THEN 'statement' ELSE d.doc_type END
       FROM _ocel_events e JOIN bill_documents d ON d.document_id = e.object_id WHERE e.object_type = 'document'""",
    """SELECT e.event_id, p.invoice_id, 'invoice' FROM _ocel_events e
       JOIN payments p ON p.payment_id = e.object_id WHERE e.object_type = 'payment'""",
    """SELECT e.event_id, r.reversal_id, 'reversal' FROM _ocel_events e
       JOIN payment_reversals r ON r.payment_id = e.object_id
       WHERE e.object_type = 'payment' AND e.activity = 'Payment Returned'""",
    """SELECT e.event_id, 'payout:' || e.object_id, 'payout' FROM _ocel_events e
       WHERE e.object_type = 'refund' AND e.activity = 'Refund Paid'""",
    # ledgers: a posted document's postings and journals; a posting's document and journal
    """SELECT e.event_id, x.ocel_id, x.qualifier FROM _ocel_events e JOIN (
           SELECT p.doc_type, p.doc_id, p.ledger, p.posting_id AS ocel_id, 'posting' AS qualifier FROM postings p
           UNION ALL SELECT p.doc_type, p.doc_id, p.ledger, j.journal_id, 'journal'
                     FROM postings p JOIN gl_journals j USING (posting_id)
       ) x ON x.doc_type = e.object_type AND x.doc_id = e.object_id
          AND x.ledger = CASE WHEN e.activity LIKE '%Sales Ledger%' THEN 'SL'
                              WHEN e.activity LIKE '%General Ledger%' THEN 'GL' ELSE x.ledger END
       WHERE e.activity LIKE 'Posted To %' OR e.activity = 'Document Posted'""",
    f"""SELECT e.event_id, {DOC_ID.format(t='p.doc_type', i='p.doc_id')}, 'document' FROM _ocel_events e
        JOIN postings p ON p.posting_id = e.object_id WHERE e.object_type = 'posting'""",
    """SELECT e.event_id, j.journal_id, 'journal' FROM _ocel_events e
       JOIN gl_journals j ON j.posting_id = e.object_id WHERE e.object_type = 'posting'""",
    # communications and cases: what they are about
    """SELECT e.event_id, CASE c.object_type WHEN 'probe_alert' THEN 'probe:' || split_part(c.object_id, ' @ ', 1)
                              ELSE c.object_id END, 'about'
       FROM _ocel_events e JOIN comms c ON c.request_id = e.object_id WHERE e.object_type = 'comm'""",
    """SELECT e.event_id, c.object_id, 'about' FROM _ocel_events e
       JOIN wf_cases c ON c.case_id = e.object_id WHERE e.object_type = 'case'""",
    # charges, assets and devices: the order line they come from
    """SELECT e.event_id, x.ocel_id, x.qualifier FROM _ocel_events e JOIN (
           SELECT charge_id, source_id || '/' || line_no AS ocel_id, 'item' AS qualifier FROM charges
           WHERE source_type IN ('sales_order', 'service_order')
           UNION ALL SELECT charge_id, source_id, 'order' FROM charges
                     WHERE source_type IN ('sales_order', 'service_order')
       ) x ON x.charge_id = e.object_id WHERE e.object_type = 'charge'""",
    """SELECT e.event_id, regexp_extract(e.detail, '^(\\S+) line ', 1), 'order' FROM _ocel_events e
       WHERE e.object_type = 'asset' AND regexp_matches(e.detail, '^\\S+ line [0-9.]+ ')""",
    """SELECT e.event_id, l.order_id || '/' || l.line_no, 'item' FROM _ocel_events e
       JOIN service_lines l ON l.order_id = regexp_extract(e.detail, '^(\\S+) line ', 1)
        AND l.line_ref = regexp_extract(e.detail, '^\\S+ line ([0-9.]+) ', 1)
       WHERE e.object_type = 'asset'""",
    """SELECT e.event_id, d.order_id || '/' || d.line_no, 'item' FROM _ocel_events e
       JOIN devices d ON d.serial_no = e.object_id WHERE e.object_type = 'device'""",
)

# Each query gives (source_id, target_id, qualifier).
OBJECT_OBJECT_SQL = (
    "SELECT order_id || '/' || line_no, order_id, 'part of' FROM order_lines",
    "SELECT order_id, account_id, 'placed by' FROM orders",
    """SELECT s.order_id, s.base_order_id, CASE o.order_type WHEN 'supplemental' THEN 'revises'
                                                  WHEN 'follow-on' THEN 'follows' ELSE 'based on' END
       FROM service_orders s JOIN orders o USING (order_id) WHERE s.base_order_id IS NOT NULL""",
    "SELECT DISTINCT order_id || '/' || line_no, batch_id, 'batched in' FROM request_lines WHERE batch_id IS NOT NULL",
    "SELECT batch_id, file_id, 'sent as' FROM warehouse_batches WHERE file_id IS NOT NULL",
    "SELECT file_id, duplicate_of, 'repeats' FROM generic_files WHERE duplicate_of IS NOT NULL",
    "SELECT serial_no, order_id || '/' || line_no, 'dispatched for' FROM devices",
    """SELECT charge_id, source_id || '/' || line_no, 'charged for' FROM charges
       WHERE source_type IN ('sales_order', 'service_order')""",
    "SELECT charge_id, invoice_id, 'billed on' FROM charges WHERE invoice_id IS NOT NULL",
    "SELECT asset_id, account_id, 'owned by' FROM assets",
    "SELECT asset_id, created_by, 'created by' FROM assets WHERE created_by IS NOT NULL",
    "SELECT invoice_id, account_id, 'billed to' FROM invoices",
    "SELECT invoice_id, statement_id, 'stated on' FROM invoices WHERE statement_id IS NOT NULL",
    "SELECT statement_id, account_id, 'for' FROM statements",
    "SELECT document_id, doc_id, 'renders' FROM bill_documents",
    "SELECT payment_id, invoice_id, 'pays' FROM payments WHERE invoice_id IS NOT NULL",
    "SELECT payment_id, account_id, 'paid by' FROM payments",
    "SELECT reversal_id, payment_id, 'reverses' FROM payment_reversals",
    "SELECT refund_id, account_id, 'to' FROM refunds",
    "SELECT 'payout:' || refund_id, refund_id, 'pays out' FROM refunds WHERE paid_on IS NOT NULL",
    f"SELECT posting_id, {DOC_ID.format(t='doc_type', i='doc_id')}, 'posts' FROM postings",
    "SELECT journal_id, posting_id, 'books' FROM gl_journals",
    "SELECT request_id, account_id, 'to' FROM comms WHERE account_id IS NOT NULL",
    """SELECT request_id, CASE object_type WHEN 'probe_alert' THEN 'probe:' || split_part(object_id, ' @ ', 1)
                                ELSE object_id END, 'about' FROM comms WHERE object_id IS NOT NULL""",
    "SELECT case_id, account_id, 'for' FROM wf_cases",
    "SELECT case_id, object_id, 'about' FROM wf_cases WHERE object_id IS NOT NULL",
)
