"""Communications rendering: every default template reads well on each channel it serves; an e-mail
is a real MIME message, the same bytes every time; a letter is an A4 PDF with the recipient where
the envelope window shows it; template text from a scenario stays inside the sandbox and a letter
fetches nothing outside reports/."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
from decimal import Decimal as D
from pathlib import Path

import pytest
from pypdf import PdfReader

from cmpsim.comms.render import TemplateRefused, email_bytes, letter_pdf, letter_pdfs, render_message
from pdftext import pdf_text

MM = 72 / 25.4  # PDF points per millimetre
A4_HEIGHT_MM = 297

PROVIDER = {"name": "Nimbus Mobile", "address": ["1 Exchange Square", "London EC2A 2BR"],
            "vat_number": "GB 123 4567 89", "support": "help@nimbus.example · 0800 000 0000"}
ACCOUNT = {"account_id": "ACC-0000042", "name": "Aoife Byrne", "address_line1": "12 Harbour Road", "city": "Leeds",
           "postcode": "LS1 4AB", "country": "United Kingdom", "email": "aoife@example.org", "phone": "+447700900123"}
SUBJECTS = {
    "order": {"order_id": "ORD-0000017", "kind": "hardware", "status": "Complete", "status_reason": None,
              "created_at": dt.datetime(2026, 1, 28, 10, 5), "completed_at": dt.datetime(2026, 1, 30, 16, 0),
              "lines": [{"product": "Nimbus X1 handset", "quantity": 1}, {"product": "SIM card", "quantity": 2}]},
    "invoice": {"invoice_id": "INV-000123", "invoice_date": dt.date(2026, 2, 1), "due_date": dt.date(2026, 2, 15),
                "gross_amount": D("1234.5"), "currency": "GBP", "period_start": dt.date(2026, 1, 1),
                "period_end": dt.date(2026, 1, 31), "has_bill_pdf": True},
    "overdue": {"invoice_id": "INV-000100", "due_date": dt.date(2026, 1, 15), "outstanding": D("123.45"),
                "days_overdue": 17, "currency": "GBP"},
    "alert": {"probe": "Billing Run Not Completed", "kind": "alert", "evaluated_at": dt.datetime(2026, 2, 1, 7, 0),
              "value": D("0"), "target": "> 0",
              "message": "Probe 'Billing Run Not Completed' breached at 2026-02-01 07:00: value 0, target > 0"},
    "case": {"case_id": "CASE-0000007", "kind": "order problem", "subject": "Order ORD-0000017 could not be completed",
             "state": "opened", "opened_at": dt.datetime(2026, 1, 30, 12, 0), "resolved_at": None,
             "object_id": "ORD-0000017"},
}
CUSTOMER_CHANNELS = ("sms", "push_handset", "email", "letter")
# Each default template: the trigger, the subject it merges, the channels it serves, a fact it must show.
TEMPLATES = {
    "order-dispatched": ("order_dispatched", "order", CUSTOMER_CHANNELS, "ORD-0000017"),
    "order-problem": ("order_error", "order", CUSTOMER_CHANNELS, "ORD-0000017"),
    "bill-ready": ("invoice_produced", "invoice", CUSTOMER_CHANNELS, "£1,234.50"),
    "payment-reminder": ("payment_overdue", "overdue", CUSTOMER_CHANNELS, "£123.45"),
    "probe-alert": ("probe_alert", "alert", ("sms", "push_external", "email"), "Billing Run Not Completed"),
    "case-update": ("workflow_event", "case", CUSTOMER_CHANNELS, "CASE-0000007"),
}
SENT_AT = dt.datetime(2026, 2, 1, 9, 30)


def merge_data(template: str, channel: str, account: dict | None = ACCOUNT, **subject_changes) -> dict:
    """The merge data the Comms Monitor gathers for one communication of `template` by `channel`."""
    trigger, key, _, _ = TEMPLATES[template]
    target = {"email": "aoife@example.org", "letter": "12 Harbour Road, Leeds LS1 4AB, United Kingdom"}.get(
        channel, "+447700900123")
    recipient = {"name": account["name"], "target": target} if account else {"name": target, "target": target}
    return {"provider": PROVIDER, "account": account, "recipient": recipient,
            "request": {"request_id": "CR-0000001", "trigger": trigger, "created_at": SENT_AT, "channel": channel},
            key: {**SUBJECTS[key], **subject_changes}}


def send(message, **changes) -> bytes:
    """The e-mail of `message` as the Comms Email Monitor writes it."""
    arguments = {"sender": "Nimbus Mobile <noreply@nimbus.example>", "to": "aoife@example.org",
                 "message_id": "<CR-0000001@cmpsim.example>", "date": SENT_AT, **changes}
    return email_bytes(message, **arguments)


def parse(eml: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(eml, policy=email.policy.default)


# --- every template, every channel ---------------------------------------------------------------


@pytest.mark.parametrize(("template", "channel"), [(t, c) for t, (_, _, channels, _) in TEMPLATES.items()
                                                   for c in channels])
def test_every_default_template_renders_the_parts_its_channel_needs(template, channel):
    fact = TEMPLATES[template][3]
    message = render_message(template, channel, merge_data(template, channel))
    if channel == "letter":
        assert message.subject and fact.lstrip("£") in message.html and message.text == ""
    elif channel == "email":
        assert message.subject and "\n" not in message.subject
        assert fact in message.text and fact in message.html and message.html.lstrip().startswith("<!DOCTYPE html>")
    else:
        assert message.subject is None and message.html is None and fact in message.text
        assert len(message.text) <= 240


def test_a_bill_e_mail_says_the_bill_is_attached_only_when_there_is_one():
    with_pdf = render_message("bill-ready", "email", merge_data("bill-ready", "email"))
    without = render_message("bill-ready", "email", merge_data("bill-ready", "email", has_bill_pdf=False))
    assert "Your bill is attached" in with_pdf.text and "Your bill is attached" in with_pdf.html
    assert "attached" not in without.text and "attached" not in without.html
    assert "15 Feb 2026" in with_pdf.text and "1–31 Jan 2026" in with_pdf.text


def test_a_staff_alert_needs_no_account():
    message = render_message("probe-alert", "email", merge_data("probe-alert", "email", account=None))
    assert message.subject == "[ALERT] Billing Run Not Completed – 1 Feb 2026, 07:00"
    assert "Value:      0" in message.text and "Target:     > 0" in message.text


def test_long_text_is_cut_to_four_sms_segments_and_push_to_240_characters():
    overrides = {"bill-ready": {"text": "{% for i in range(100) %}ten chars {% endfor %}"}}
    sms = render_message("bill-ready", "sms", merge_data("bill-ready", "sms"), overrides).text
    push = render_message("bill-ready", "push_handset", merge_data("bill-ready", "push_handset"), overrides).text
    assert len(sms) == 612 and sms.endswith("…") and sms.startswith("ten chars ten")
    assert len(push) == 240 and push.endswith("…")


def test_an_override_replaces_one_part_and_text_parts_are_not_html_escaped():
    data = merge_data("bill-ready", "email", account={**ACCOUNT, "name": "O'Brien & Sons"})
    overrides = {"bill-ready": {"text": "Hi {{ account.name }}, {{ invoice.gross_amount|money }} due.",
                                "subject": "Bill for {{ account.name }}"}}
    message = render_message("bill-ready", "email", data, overrides)
    assert message.text == "Hi O'Brien & Sons, 1,234.50 due."
    assert message.subject == "Bill for O'Brien & Sons"
    assert "O&#39;Brien &amp; Sons" in message.html  # the project's HTML part, escaped


# --- e-mail --------------------------------------------------------------------------------------


def test_an_e_mail_is_a_mime_message_with_text_html_and_the_attachment():
    message = render_message("bill-ready", "email", merge_data("bill-ready", "email"))
    pdf = b"%PDF-1.4\n% a tiny bill\n%%EOF\n"
    mail = parse(send(message, attachments=[("bill-INV-000123.pdf", pdf, "application/pdf")]))
    assert mail["Subject"] == "Your Nimbus Mobile bill INV-000123 is ready"
    assert mail["To"] == "aoife@example.org" and mail["Message-ID"] == "<CR-0000001@cmpsim.example>"
    assert mail["Date"].datetime.replace(tzinfo=None) == SENT_AT
    assert mail.get_content_type() == "multipart/mixed"
    assert "Your bill is attached" in mail.get_body(("plain",)).get_content()
    assert "INV-000123" in mail.get_body(("html",)).get_content()
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "bill-INV-000123.pdf" and attachment.get_content() == pdf


def test_an_e_mail_without_attachments_is_multipart_alternative():
    message = render_message("case-update", "email", merge_data("case-update", "email"))
    mail = parse(send(message))
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert list(mail.iter_attachments()) == []


def test_the_same_e_mail_gives_the_same_bytes():
    def render() -> bytes:
        message = render_message("payment-reminder", "email", merge_data("payment-reminder", "email"))
        return send(message, attachments=[("note.txt", b"hello", "text/plain")])

    first = render()
    assert render() == first
    assert b"=_cmpsim_" in first  # boundaries derived from the Message-ID, not random
    assert send(render_message("payment-reminder", "email", merge_data("payment-reminder", "email")),
                message_id="<CR-0000002@cmpsim.example>") != first


# --- letters -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reminder_letter() -> bytes:
    data = merge_data("payment-reminder", "letter")
    refused: list[str] = []
    pdf = letter_pdf(render_message("payment-reminder", "letter", data), data, refused=refused)
    assert refused == []  # stylesheet, fonts and logo all come from reports/
    return pdf


def test_a_letter_shows_the_recipient_the_merged_facts_and_the_contact(reminder_letter):
    text = pdf_text(reminder_letter)
    for fact in ["Aoife Byrne", "12 Harbour Road", "LS1 4AB", "Nimbus Mobile", "1 Exchange Square", "1 Feb 2026",
                 "Reminder: your payment of £123.45 is overdue", "INV-000100", "123.45", "15 Jan 2026", "17 days",
                 "help@nimbus.example", "ACC-0000042", "CR-0000001"]:
        assert fact in text
    page = PdfReader(io.BytesIO(reminder_letter)).pages[0]
    assert (round(float(page.mediabox.width) / MM), round(float(page.mediabox.height) / MM)) == (210, 297)


def test_the_recipient_sits_in_the_envelope_window(reminder_letter):
    """DIN 5008 form B, folded to DL: the window shows 20–105 mm from the left, 45–90 mm from the top."""
    found: dict[str, tuple[float, float]] = {}

    def visit(text, cm, tm, font, size):
        if text.strip() in ("Aoife Byrne", "United Kingdom"):
            x, y = (tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5])
            found[text.strip()] = (x / MM, A4_HEIGHT_MM - y / MM)

    PdfReader(io.BytesIO(reminder_letter)).pages[0].extract_text(visitor_text=visit)
    assert set(found) == {"Aoife Byrne", "United Kingdom"}
    for x_mm, y_mm in found.values():
        assert 20 <= x_mm <= 105 and 45 <= y_mm <= 90


def test_letters_in_a_batch_are_the_letters_one_by_one(reminder_letter):
    items = [(render_message(t, "letter", merge_data(t, "letter")), merge_data(t, "letter"))
             for t in ("payment-reminder", "bill-ready")]
    batch = letter_pdfs(items)
    assert batch[0] == reminder_letter
    assert "INV-000123" in pdf_text(batch[1]) and "1,234.50" in pdf_text(batch[1])


# --- untrusted template text ---------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ request.created_at.__class__.__subclasses__() }}",
    "{{ provider.address.append('x') }}",  # the immutable sandbox: no changing the merge data
    "{% import 'os' as os %}{{ os.system('id') }}",
    "{% include '/etc/passwd' %}",
    "{% include '../cmpsim/documents.py' %}",
    "{{ account.name ",
    "{{ nobody }}",
    "{{ 1 / 0 }}",
])
def test_template_text_outside_the_sandbox_or_broken_is_refused_with_a_reason(source):
    for part, channel in (("text", "sms"), ("email", "email"), ("letter", "letter")):
        with pytest.raises(TemplateRefused) as refused:
            render_message("bill-ready", channel, merge_data("bill-ready", channel), {"bill-ready": {part: source}})
        reason = str(refused.value)
        assert reason.startswith(f"template bill-ready/{part}: ") and len(reason) > 30 and "\n" not in reason


def test_the_reason_names_what_was_unsafe():
    with pytest.raises(TemplateRefused, match=r"^template bill-ready/text: access to attribute '__class__' of "
                                              r"'str' object is unsafe"):
        render_message("bill-ready", "sms", merge_data("bill-ready", "sms"),
                       {"bill-ready": {"text": "{{ ''.__class__.__mro__ }}"}})


def test_a_missing_template_part_or_subject_is_refused():
    with pytest.raises(TemplateRefused, match="no such part"):
        render_message("welcome-pack", "sms", merge_data("bill-ready", "sms"))
    with pytest.raises(TemplateRefused, match="not a template name"):
        render_message("../bills/bill", "sms", merge_data("bill-ready", "sms"))
    data = {k: v for k, v in merge_data("bill-ready", "email").items() if k != "invoice"}
    with pytest.raises(TemplateRefused, match="^template bill-ready/subject: "):
        render_message("bill-ready", "email", data)


def test_a_letter_fetches_nothing_outside_reports():
    overrides = {"payment-reminder": {"letter": '<p>Please pay {{ overdue.outstanding|money }}.</p>'
                                                '<img src="file:///etc/passwd">'
                                                '<link rel="stylesheet" href="https://example.com/x.css">'}}
    data = merge_data("payment-reminder", "letter")
    refused: list[str] = []
    pdf = letter_pdf(render_message("payment-reminder", "letter", data, overrides), data, refused=refused)
    assert set(refused) == {"file:///etc/passwd", "https://example.com/x.css"}
    text = pdf_text(pdf)
    assert "Please pay 123.45." in text and "Aoife Byrne" in text
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    assert passwd.split(":")[0] + ":" not in text


def poisoned(value, evil: str):
    """`value` with every text in it replaced by `evil` (identifiers and amounts left as they are)."""
    if isinstance(value, dict):
        return {k: v if k.endswith("_id") or k in ("currency", "state", "status", "kind") else poisoned(v, evil)
                for k, v in value.items()}
    if isinstance(value, list):
        return [poisoned(v, evil) for v in value]
    return evil if isinstance(value, str) else value


@pytest.mark.parametrize("template", TEMPLATES)
def test_merged_data_is_text_not_markup(template):
    evil = "<script>alert(1)</script>"
    for channel in ("email", "letter"):
        data = {**poisoned(merge_data(template, channel), evil), "provider": PROVIDER}
        html = render_message(template, channel, data).html
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_letter_prints_merged_markup_as_text():
    evil = "<script>alert(1)</script>"
    data = merge_data("case-update", "letter", account={**ACCOUNT, "name": evil})
    letter = letter_pdf(render_message("case-update", "letter", data), data)
    assert evil in pdf_text(letter)  # printed as the name it is
