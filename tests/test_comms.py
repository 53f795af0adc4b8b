"""Customer communications (seed 003) on real runs: every trigger, one target per communication,
retries and final failure, documents in the outbox and in storage, status updates applied once,
and untrusted templates that can neither escape the sandbox nor make the renderer fetch anything."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import shutil

import cmpsim
from cmpsim.billing import BILLING_RUN_JOBS
from cmpsim.comms import LocalFolderStorage, update_status
from cmpsim.scenario import load
from conftest import TESTS
from pdftext import pdf_text

LEDGER_SMALL = TESTS / "scenarios" / "ledger-small.yaml"


def test_every_trigger_raises_communications(billing_run):
    triggers = set(billing_run.sql("SELECT DISTINCT trigger FROM comms")["trigger"])
    assert triggers == {"order_dispatched", "order_error", "invoice_produced", "payment_overdue", "probe_alert",
                        "workflow_event"}
    # Each trigger's object: the order dispatched, the invoice produced, the overdue invoice, the case.
    mismatched = billing_run.sql("""
        SELECT c.request_id FROM comms c
        LEFT JOIN orders o ON o.order_id = c.object_id LEFT JOIN invoice_status s ON s.invoice_id = c.object_id
        LEFT JOIN wf_cases w ON w.case_id = c.object_id
        WHERE (c.trigger = 'order_dispatched' AND (o.status <> 'Complete' OR o.kind <> 'hardware'))
           OR (c.trigger = 'order_error' AND o.status NOT IN ('Error', 'Failed', 'Rejected'))
           OR (c.trigger = 'payment_overdue' AND (s.due_date + 7 > c.created_at::DATE OR s.invoice_id IS NULL))
           OR (c.trigger = 'workflow_event' AND w.case_id IS NULL)""")
    assert mismatched.height == 0
    produced = billing_run.sql("SELECT count(*) AS n FROM invoices")["n"][0]
    assert billing_run.sql("SELECT count(*) AS n FROM comms WHERE trigger = 'invoice_produced'")["n"][0] == produced


CAUSES = {"order_dispatched": ("Order Complete",), "order_error": ("Order Error", "Order Failed", "Order Rejected"),
          "invoice_produced": ("Invoice Produced",), "workflow_event": ("Case Opened",)}


def invoking_work(run) -> list[dict]:
    """Each header of an event trigger with the event that caused it (the last of its activities on its
    object logged before the header's own event), the wake-up that logged it (a job_runs row of the
    event's job starting at the header's moment), when that work was over (for a job of the billing run,
    the run's end) and when the Comms Monitor gathered the header."""
    causes = " OR ".join(f"(c.trigger = '{t}' AND e.activity IN {tuple(a) if len(a) > 1 else f'({a[0]!r})'})"
                         for t, a in CAUSES.items())
    return run.sql(f"""
        WITH cause AS (
            SELECT c.request_id, c.trigger, c.status, c.created_at, r.ts AS requested_ts, max(e.seq) AS seq
            FROM comms c JOIN events r ON r.object_id = c.request_id AND r.activity = 'Comm Requested'
                 JOIN events e ON e.object_id = c.object_id AND e.seq < r.seq AND ({causes})
            GROUP BY ALL)
        SELECT c.*, e.job, e.ts AS event_ts, w.started_at AS work_start,
               CASE WHEN e.job IN {BILLING_RUN_JOBS} THEN (
                   SELECT max(b.ended_at) FROM job_runs b WHERE b.job IN {BILLING_RUN_JOBS}
                      AND b.started_at >= w.started_at AND b.started_at::DATE = w.started_at::DATE)
                    ELSE w.ended_at END AS work_end,
               d.gathered_at
        FROM cause c JOIN events e USING (seq)
             LEFT JOIN job_runs w ON w.job = e.job AND w.started_at = c.created_at
             LEFT JOIN comms_details d USING (request_id)""").rows(named=True)


def test_a_header_is_created_when_the_work_logging_its_event_invokes_the_trigger(billing_run):
    """Seed 003: "When a trigger is invoked, CMP creates an entry in ... the Comms Request Header table",
    and "When an entry is created in the Comms Request Header table, the Comms Monitor Job is triggered".
    The step whose work logs the event (or raises the probe alert) invokes the trigger: the header carries
    that wake-up's moment — the moment of the event, where a daemon polling the log made it minutes
    later — and the Comms Monitor gathers it as soon as that work is over (for an invoice, the billing
    run's: its bill is printed by then)."""
    headers = invoking_work(billing_run)
    assert {h["trigger"] for h in headers} == set(CAUSES) and len(headers) > 500
    assert [h for h in headers if h["work_start"] is None] == []  # each made by the wake-up that logged its event
    assert [h for h in headers if not h["created_at"] == h["requested_ts"] == h["event_ts"]] == []
    gathered = [h for h in headers if h["status"] != "Waiting" and h["trigger"] != "workflow_event"]
    assert gathered and all(h["gathered_at"] is not None for h in gathered)
    late = [h for h in gathered if not h["work_end"] <= h["gathered_at"] <= h["work_end"] + dt.timedelta(minutes=1)]
    assert late == []
    alerts = billing_run.sql("""SELECT c.created_at, a.evaluated_at, d.gathered_at FROM comms c
                                JOIN probe_alerts a ON c.object_id = a.probe || ' @ ' || strftime(a.evaluated_at,
                                                                                                  '%Y-%m-%d %H:%M')
                                                   AND c.target = a.recipient
                                LEFT JOIN comms_details d USING (request_id)""").rows()
    assert alerts and all(created == evaluated <= gathered <= evaluated + dt.timedelta(minutes=1)
                          for created, evaluated, gathered in alerts)


def test_each_triggering_event_makes_its_header_once(billing_run):
    """One header per rule for each event that triggers it and per recipient of each probe alert: none
    missed, none twice."""
    for trigger, activities in CAUSES.items():
        hardware = "AND o.kind = 'hardware'" if trigger == "order_dispatched" else ""
        logged = billing_run.sql(f"""
            SELECT e.object_id FROM events e LEFT JOIN orders o ON o.order_id = e.object_id
            WHERE e.activity IN (SELECT unnest(?)) {hardware} ORDER BY 1""", [list(activities)])["object_id"]
        made = billing_run.sql("SELECT object_id FROM comms WHERE trigger = ? ORDER BY 1", [trigger])["object_id"]
        assert made.to_list() == logged.to_list(), trigger
    alerts = billing_run.sql("""SELECT a.probe, a.recipient, a.status, count(c.request_id) AS headers
                                FROM probe_alerts a LEFT JOIN comms c ON c.trigger = 'probe_alert'
                                    AND c.object_id = a.probe || ' @ ' || strftime(a.evaluated_at, '%Y-%m-%d %H:%M')
                                    AND c.target = a.recipient GROUP BY ALL""").rows()
    assert alerts and all(status == "Requested" and headers == 1 for *_, status, headers in alerts)


def test_each_communication_goes_to_exactly_one_target_on_its_channel(billing_run):
    rows = billing_run.sql("""SELECT c.channel, c.target, c.status, p.email, p.phone, p.device_token, p.postal_address
                              FROM comms c LEFT JOIN comms_preferences p USING (account_id)
                              WHERE c.status <> 'Waiting'""").rows(named=True)
    assert len(rows) > 500
    for r in rows:
        expected = {"email": r["email"], "sms": r["phone"], "push_handset": r["device_token"],
                    "letter": r["postal_address"]}.get(r["channel"])
        if r["email"] is None and r["channel"] == "email":  # staff: the probe recipient
            assert "@" in r["target"]
        elif r["channel"] == "push_external":
            assert r["target"] == "hook:ops-chat"
        else:
            assert r["target"] == expected is not None
    channels = set(billing_run.sql("SELECT DISTINCT channel FROM comms")["channel"])
    assert channels == {"email", "sms", "push_handset", "push_external", "letter"}


def test_the_gathered_details_name_the_target_and_channel_chosen(billing_run):
    """The Comms Request Detail carries the one target the Comms Monitor chose and the channel it goes
    by (a letter in place of a channel the customer has no contact for), not the header as it was
    requested: before, a customer's recipient had no target at all."""
    details = billing_run.sql("""
        SELECT c.channel, c.target, c.reason, json_extract_string(d.data, '$.recipient.target') AS merged_target,
               json_extract_string(d.data, '$.request.channel') AS merged_channel
        FROM comms c JOIN comms_details d USING (request_id)""").rows(named=True)
    assert len(details) > 500 and all(d["target"] is not None for d in details)
    assert [d for d in details if (d["merged_target"], d["merged_channel"]) != (d["target"], d["channel"])] == []


def test_a_workflow_event_communication_waits_for_the_case_to_be_resolved(billing_run):
    cases = billing_run.sql("""SELECT c.request_id, c.created_at, w.opened_at, w.resolved_at, d.gathered_at
                               FROM comms c JOIN wf_cases w ON w.case_id = c.object_id
                               LEFT JOIN comms_details d USING (request_id)
                               WHERE c.trigger = 'workflow_event'""").rows(named=True)
    assert len(cases) > 5
    for c in cases:
        assert c["created_at"] - c["opened_at"] <= dt.timedelta(minutes=15)  # the header when the case opens
        if c["resolved_at"] is None:
            assert c["gathered_at"] is None
        else:
            assert c["gathered_at"] >= c["resolved_at"]  # gathered and sent once resolved (OnResolve)


def test_emails_and_letters_are_real_documents_with_copies_in_storage(billing_run):
    documents = billing_run.sql("""SELECT c.request_id, c.channel, c.account_id, c.document, c.stored_uri, c.target,
                                          d.kind, d.sha256 FROM comms c JOIN comms_documents d USING (request_id)
                                   WHERE c.status NOT IN ('Rendered', 'Failed')""").rows(named=True)
    kinds = {d["kind"] for d in documents}
    assert kinds == {"eml", "pdf", "print-data"}
    storage = LocalFolderStorage(billing_run.run_dir / "storage")
    for d in documents:
        data = (billing_run.run_dir / d["document"]).read_bytes()
        assert d["document"].startswith(f"comms/outbox/{d['channel']}/") and d["stored_uri"] is not None
        assert storage.get(d["stored_uri"]) == data
        assert d["stored_uri"] in storage.list(d["account_id"] or "staff")
    mail = next(d for d in documents if d["kind"] == "eml")
    parsed = email.message_from_bytes((billing_run.run_dir / mail["document"]).read_bytes(),
                                      policy=email.policy.default)
    assert parsed["To"] == mail["target"] and parsed["Message-ID"] == f"<{mail['request_id']}@cmpsim.example>"
    assert parsed.get_body(("plain",)) is not None and parsed.get_body(("html",)) is not None


def test_the_bill_ready_email_of_a_rendered_bill_carries_the_pdf(billing_run):
    row = billing_run.sql("""SELECT c.document, i.invoice_id FROM comms c JOIN invoices i ON i.invoice_id = c.object_id
                             JOIN bill_documents b ON b.doc_id = i.statement_id
                             WHERE c.trigger = 'invoice_produced' AND c.channel = 'email' LIMIT 1""").rows()
    if not row:  # the demo account's preferred channel decides; its letters and bills are checked elsewhere
        return
    document, invoice = row[0]
    parsed = email.message_from_bytes((billing_run.run_dir / document).read_bytes(), policy=email.policy.default)
    attached = [p for p in parsed.iter_attachments()]
    assert [a.get_filename() for a in attached] == [f"bill-{invoice}.pdf"]
    assert invoice in pdf_text(attached[0].get_content())


def test_a_letter_pdf_reads_back_with_the_customer_and_the_merged_fields(billing_run):
    letters = billing_run.sql("""SELECT c.document, c.trigger, c.object_id, a.name, a.postcode FROM comms c
                                 JOIN accounts a USING (account_id) JOIN comms_documents d USING (request_id)
                                 WHERE d.kind = 'pdf'""").rows(named=True)
    assert letters
    for letter in letters:
        text = pdf_text((billing_run.run_dir / letter["document"]).read_bytes())
        assert letter["name"] in text and letter["postcode"] in text and letter["object_id"] in text


def run_with(tmp_path, comms: dict, days: int = 10, **overrides) -> cmpsim.Run:
    scenario = load(LEDGER_SMALL, overrides={"horizon_days": days, "comms": comms, **overrides})
    return cmpsim.run(scenario, out=tmp_path / "run")


def test_retries_with_back_off_and_a_final_failure(tmp_path):
    comms = {"preferences": {"email": 0, "sms": 1, "push_handset": 0, "letter": 0},
             "gateways": {"sms": {"failure_rate": 0.6, "invalid_rate": 0.0}},
             "retry": {"attempts_max": 3, "backoff_minutes": [15, 60]}}
    with run_with(tmp_path, comms, days=16) as run:
        sms = run.sql("SELECT * FROM comms WHERE channel = 'sms'")
        assert sms.height > 20
        attempts = run.sql("""SELECT request_id, list(outcome ORDER BY attempt) AS outcomes,
                                     list(attempted_at ORDER BY attempt) AS at FROM comms_attempts GROUP BY ALL""")
        assert {len(o) for o in attempts["outcomes"].to_list()} == {1, 2, 3}
        for outcomes, at in attempts.select("outcomes", "at").rows():
            assert all(o == "retry" for o in outcomes[:-1]) and len(outcomes) <= 3
            assert outcomes[-1] in ("accepted", "gave up", "retry", "invalid")
            gaps = [(b - a).total_seconds() / 60 for a, b in zip(at, at[1:], strict=False)]
            assert gaps == [15, 60][: len(gaps)]  # back-off 15 then 60 minutes, on the daemon's poll
        failed = run.sql("SELECT reason, attempts FROM comms WHERE channel = 'sms' AND status = 'Failed'").rows()
        assert failed and all(r == "sms-gateway unavailable at each of 3 attempts" and n == 3 for r, n in failed)
        assert run.sql("SELECT count(*) AS n FROM comms WHERE status = 'Retrying'")["n"][0] <= 5


def test_a_status_update_applied_twice_changes_nothing_the_second_time(billing_run, tmp_path):
    shutil.copytree(billing_run.run_dir, tmp_path / "copy")
    with cmpsim.open_run(tmp_path / "copy", writable=True) as run:
        request = run.sql("SELECT request_id, sent_at FROM comms WHERE status = 'Delivered' AND channel = 'email' "
                          "ORDER BY request_id LIMIT 1").row(0, named=True)
        update = {"request_id": request["request_id"], "status": "read",
                  "at": request["sent_at"] + dt.timedelta(days=3, seconds=7)}
        assert update_status(run, [update]) == 1
        after_first = run.sql("SELECT * FROM comms ORDER BY request_id")
        assert after_first.filter(after_first["request_id"] == request["request_id"])["status"][0] == "Read"
        assert update_status(run, [update]) == 0
        assert run.sql("SELECT * FROM comms ORDER BY request_id").equals(after_first)
        verdicts = run.sql("SELECT applied FROM comms_status_updates WHERE source = 'api' ORDER BY rowid")["applied"]
        assert verdicts.to_list() == ["applied", "ignored: already applied"]
    # The providers' own files were applied the same way: each update once.
    twice = billing_run.sql("SELECT update_key FROM comms_status_updates WHERE applied = 'applied' GROUP BY ALL "
                            "HAVING count(*) > 1")
    assert twice.height == 0


def test_untrusted_templates_cannot_escape_or_fetch(tmp_path, caplog):
    templates = {"bill-ready": {"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                                "letter": '<p>Dear {{ account.name }}</p><img src="file:///etc/passwd">'
                                          '<link rel="stylesheet" href="http://example.com/x.css">'},
                 "order-dispatched": {}}
    comms = {"preferences": {"email": 0, "sms": 1, "push_handset": 0, "letter": 1}, "templates": templates,
             "letters": {"mode": "all", "sample_rate": 1.0, "accounts": [], "documents_per_run_max": 1000}}
    with caplog.at_level("WARNING", logger="cmpsim.documents"), run_with(tmp_path, comms) as run:
        refused = run.sql("SELECT reason FROM comms WHERE channel = 'sms' AND trigger = 'invoice_produced'")
        assert refused.height > 0 and all("unsafe" in r and "__class__" in r for r in refused["reason"])
        assert set(run.sql("SELECT status FROM comms WHERE channel = 'sms'")["status"]) == {"Failed"}
        letters = run.sql("""SELECT c.document, d.refused_urls, a.name FROM comms c JOIN comms_documents d
                             USING (request_id) JOIN accounts a USING (account_id) WHERE d.kind = 'pdf'""").rows()
        assert letters
        for document, urls, name in letters:
            assert sorted(urls) == ["file:///etc/passwd", "http://example.com/x.css"]
            text = pdf_text((run.run_dir / document).read_bytes())
            assert f"Dear {name}" in text and "root:" not in text
    assert any("file:///etc/passwd" in r.getMessage() for r in caplog.records)


def _plain(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def test_the_bill_its_email_and_the_database_agree_on_period_amount_and_due_date(billing_run):
    """The e-mail said "Period: 8 Dec 2025 – 8 Jan 2026" of a bill that said "8 Dec 2025 – 7 Jan 2026":
    every document now reads the invoice from one view (invoice_documents)."""
    assert bills_disagreeing_with_their_emails(billing_run, sample=8) == []


def bills_disagreeing_with_their_emails(run, sample: int) -> list[str]:
    """For `sample` bills with a bill-ready e-mail: the e-mail as sent, the bill PDF as Bill Print
    renders it, and the database; what one says of period, amount or due date and another does not."""
    import polars as pl

    from cmpsim import documents
    from cmpsim.billing.printing import bill_contexts
    from cmpsim.comms.render import amount

    rows = run.sql(f"""
        SELECT d.invoice_id, d.statement_id, d.account_id, d.currency, d.gross_amount, d.due_date,
               d.period_first_day, d.period_last_day, c.document AS email
        FROM invoice_documents d
        JOIN comms c ON c.object_id = d.invoice_id AND c.trigger = 'invoice_produced' AND c.channel = 'email'
        WHERE c.document IS NOT NULL AND d.period_first_day IS NOT NULL AND d.statement_id IS NOT NULL
        ORDER BY d.invoice_id LIMIT {sample}""").rows(named=True)
    assert len(rows) == sample, "too few bills with an e-mail to compare"
    chosen = pl.DataFrame({"doc_type": ["bill"] * len(rows), "doc_id": [r["statement_id"] for r in rows],
                           "account_id": [r["account_id"] for r in rows],
                           "invoice_id": [r["invoice_id"] for r in rows]})
    contexts = bill_contexts(run.con, run.scenario, chosen)
    pdfs = documents.render_pdfs("bills/bill.html.j2", [contexts[r["statement_id"]] for r in rows])
    problems = []
    for row, pdf in zip(rows, pdfs, strict=True):
        billed = _plain(documents.period(row["period_first_day"], row["period_last_day"]))
        total, due = _plain(amount(row["gross_amount"], row["currency"])), _plain(documents.date(row["due_date"]))
        parsed = email.message_from_bytes((run.run_dir / row["email"]).read_bytes(), policy=email.policy.default)
        said = {"e-mail text": _plain(parsed.get_body(("plain",)).get_content()),
                "e-mail HTML": _plain(parsed.get_body(("html",)).get_content()), "bill PDF": _plain(pdf_text(pdf))}
        wanted = {"e-mail text": [f"Period: {billed} Amount: {total}"] + [f"Due by: {due}"] * (row["gross_amount"] > 0),
                  "e-mail HTML": [billed, total], "bill PDF": [f"Billing period {billed}", _plain(
                      documents.money(row["gross_amount"])), due]}
        problems += [f"{row['invoice_id']}: {where} lacks {text!r}" for where, texts in wanted.items()
                     for text in texts if text not in said[where]]
    return problems
