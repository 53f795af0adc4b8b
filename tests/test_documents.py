"""Documents: a bill rendered to PDF reads back with every figure a customer checks; rendering is
sandboxed, deterministic and fetches nothing but the project's own files."""

from __future__ import annotations

import io
import logging
import time
from datetime import date
from decimal import Decimal as D

import pytest
from jinja2.exceptions import SecurityError
from pypdf import PdfReader

from cmpsim import documents
from cmpsim.documents import ReportFetcher, html_to_pdf, money, rate, render_html, render_pdf, render_string
from cmpsim.paths import REPORT_DIR
from pdftext import pdf_text

JAN_FROM, JAN_TO = date(2026, 1, 1), date(2026, 1, 31)


def line(no, line_type, description, quantity, net, tax_rate, tax, gross, period=(JAN_FROM, JAN_TO)) -> dict:
    return {"line_no": no, "line_type": line_type, "description": description, "period_from": period[0],
            "period_to": period[1], "quantity": D(quantity), "net_amount": D(net), "tax_rate": D(tax_rate),
            "tax_amount": D(tax), "gross_amount": D(gross)}


LINES = [
    line(1, "recurring", "Unlimited 5G plan", "1", "30.00", "0.2000", "6.00", "36.00"),
    line(2, "usage", "Roaming data (MB)", "1250", "12.50", "0.2000", "2.50", "15.00"),
    line(3, "one_off", "SIM replacement", "1", "8.00", "0.2000", "1.60", "9.60", period=(None, None)),
    line(4, "discount", "Loyalty discount", "1", "-3.00", "0.2000", "-0.60", "-3.60"),
    line(5, "hardware", "Handset Nimbus X1", "1", "1000.00", "0.1350", "135.00", "1135.00", period=(None, None)),
]


def invoice(**changes) -> dict:
    return {"invoice_id": "INV-000123", "invoice_type": "cycle", "invoice_date": date(2026, 2, 1),
            "period_start": JAN_FROM, "period_end": JAN_TO, "due_date": date(2026, 2, 15),
            "net_amount": D("1047.50"), "tax_amount": D("144.50"), "gross_amount": D("1192.00"), "lines": LINES,
            "tax_summary": [{"tax_rate": D("0.2000"), "net_amount": D("47.50"), "tax_amount": D("9.50")},
                            {"tax_rate": D("0.1350"), "net_amount": D("1000.00"), "tax_amount": D("135.00")}],
            **changes}


def bill_context(**changes) -> dict:
    return {
        "currency": "EUR",
        "provider": {"name": "Nimbus Mobile", "address": ["1 Quay Street", "Dublin 2", "Ireland"],
                     "vat_number": "IE1234567T", "support": "support@nimbus.example · 0800 123 456"},
        "account": {"account_id": "ACC-0042", "name": "Aoife Byrne", "address_line1": "12 Harbour Road",
                    "city": "Cork", "postcode": "T12 X7Y2", "country": "Ireland", "email": "aoife@example.org"},
        "statement": {"statement_id": "ST-2026-02-0042", "statement_date": date(2026, 2, 1),
                      "due_date": date(2026, 2, 15), "previous_balance": D("50.00"), "paid": D("50.00"),
                      "adjustments": D("-5.00"), "invoiced": D("1192.00"), "new_balance": D("1187.00"),
                      "items": [{"doc_date": date(2026, 1, 10), "doc_type": "payment", "doc_id": "PAY-981",
                                 "description": "Direct debit", "amount": D("-50.00")},
                                {"doc_date": date(2026, 2, 1), "doc_type": "invoice", "doc_id": "INV-000123",
                                 "description": "Invoice for January", "amount": D("1192.00")}]},
        "invoice": invoice(),
        **changes,
    }


@pytest.fixture(scope="module")
def bill_pdf() -> bytes:
    refused: list[str] = []
    pdf = render_pdf("bills/bill.html.j2", bill_context(), refused=refused)
    assert refused == []  # the stylesheet, fonts and logo all come from reports/
    return pdf


def test_a_bill_shows_the_statement_then_the_invoice_with_every_line_and_total(bill_pdf):
    text = pdf_text(bill_pdf)
    for fact in ["Aoife Byrne", "ACC-0042", "ST-2026-02-0042", "INV-000123", "Nimbus Mobile", "IE1234567T",
                 "15 Feb 2026", "1–31 Jan 2026"]:
        assert fact in text
    for each in LINES:
        assert each["description"] in text
        assert money(each["gross_amount"]) in text
    assert "-3.60" in text  # the discount, shown negative
    for total in ["1,047.50", "144.50", "1,192.00"]:
        assert total in text
    assert "Balance due (EUR)" in text and "1,187.00" in text
    assert "Page 1 of 2" in text and "Page 2 of 2" in text
    assert "support@nimbus.example" in text
    assert text.index("Your bill") < text.index("Invoice number")  # statement first, invoice after


def test_an_invoice_alone_uses_the_same_look():
    pdf = render_pdf("bills/invoice.html.j2", bill_context(invoice=invoice(invoice_type="immediate")))
    text = pdf_text(pdf)
    assert "INV-000123" in text and "Billed at once" in text and "Handset Nimbus X1" in text
    assert "1,192.00" in text and "Page 1 of 1" in text
    assert "Your bill" not in text


def test_a_statement_without_a_new_invoice_is_one_page():
    context = bill_context(invoice=None)
    context["statement"] = {**context["statement"], "invoiced": D("0.00"), "new_balance": D("-5.00"), "items": []}
    context["account"] = {**context["account"], "name": "<script>alert(1)</script>", "email": None}
    text = pdf_text(render_pdf("bills/bill.html.j2", context))
    assert "ST-2026-02-0042" in text and "Nothing to pay" in text and "-5.00" in text
    assert "Invoice number" not in text and "Page 1 of 1" in text
    assert "<script>alert(1)</script>" in text  # a customer's name is text, whatever it contains
    assert "Sent to" not in text  # no e-mail address on file


def test_the_same_bill_gives_the_same_bytes_at_any_time(bill_pdf, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # a later wall clock for the second render
    assert render_pdf("bills/bill.html.j2", bill_context()) == bill_pdf
    metadata = PdfReader(io.BytesIO(bill_pdf)).metadata
    assert metadata.creation_date.date() == date(2026, 2, 1)  # the statement date, not the rendering time


def test_customer_text_is_escaped_in_the_html():
    context = bill_context(account={**bill_context()["account"], "name": "<script>alert(1)</script>"})
    html = render_html("bills/bill.html.j2", context)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert render_string("Dear {{ name }}", {"name": "<b>Jo</b>"}) == "Dear &lt;b&gt;Jo&lt;/b&gt;"


def test_template_text_cannot_reach_python_internals_or_change_its_data():
    with pytest.raises(SecurityError):
        render_string("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    with pytest.raises(SecurityError):
        render_string("{{ items.append(1) }}", {"items": []})


def test_weasyprint_fetches_only_files_under_reports(caplog):
    html = ('<p>Hello</p><img src="file:///etc/passwd">'
            '<link rel="stylesheet" href="https://example.com/x.css">'
            '<img src="../../../../etc/hostname"><img src="assets/logo.svg">')
    refused: list[str] = []
    with caplog.at_level(logging.WARNING, logger="cmpsim.documents"):
        pdf = html_to_pdf(html, refused=refused)
    text = pdf_text(pdf)
    assert pdf.startswith(b"%PDF-") and "Hello" in text and "root:" not in text
    assert sorted(refused) == ["file:///etc/hostname", "file:///etc/passwd", "https://example.com/x.css"]
    assert all(any(url in message for message in caplog.messages) for url in refused)


def test_the_fetcher_serves_report_files_and_refuses_escapes(tmp_path, monkeypatch):
    logo = ReportFetcher().fetch((REPORT_DIR / "assets" / "logo.svg").as_uri())
    assert logo.content_type == "image/svg+xml" and logo.read().startswith(b"<svg")

    reports = tmp_path / "reports"
    reports.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (reports / "escape.svg").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(documents, "REPORT_DIR", reports)
    refused: list[str] = []
    for url in [(reports / "escape.svg").as_uri(), reports.as_uri() + "/../secret.txt", "ftp://example.com/a.png",
                "file://other-host" + str(reports / "a.svg")]:
        with pytest.raises(PermissionError):
            ReportFetcher(refused).fetch(url)
    assert len(refused) == 4


def test_money_is_decimal_to_the_cent_and_rates_are_percentages():
    assert money(D("-1234.5")) == "-1,234.50"
    assert money(D("0.005")) == "0.01" and money(D("-0.001")) == "0.00"
    with pytest.raises(TypeError):
        money(12.5)
    assert [rate(D("0.2000")), rate(D("0.175")), rate(D("0"))] == ["20%", "17.5%", "0%"]
    assert documents.date(date(2026, 1, 8)) == "8 Jan 2026"


def test_periods_are_as_short_as_is_unambiguous():
    def period(start, end):
        return documents.period(start, end).replace("\u00a0", " ")  # dates themselves never wrap

    assert period(date(2026, 1, 1), date(2026, 1, 31)) == "1–31 Jan 2026"
    assert period(date(2026, 1, 15), date(2026, 2, 14)) == "15 Jan – 14 Feb 2026"
    assert period(date(2025, 12, 1), date(2026, 1, 31)) == "1 Dec 2025 – 31 Jan 2026"
    assert period(date(2026, 1, 8), None) == "from 8 Jan 2026"
    assert period(None, None) == ""
