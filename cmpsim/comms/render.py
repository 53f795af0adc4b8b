"""Communications rendered from templates: the text of an SMS or a push notification, the subject,
plain text and HTML of an e-mail, the subject and body of a letter; e-mails as MIME bytes, letters
as A4 PDFs.

A template is a folder `reports/comms/<template>/` of parts: `subject.txt.j2`, `text.txt.j2`,
`email.html.j2` and `letter.html.j2`. A scenario may replace any part of any template with its own
text (`overrides[template][part]`). Project parts and overrides run in the same sandbox
(cmpsim.documents): they read the merge data, never Python internals; the HTML parts escape what
they merge, the text parts (subject, text) do not. A template that cannot be used — outside the
sandbox, a syntax error, an undefined variable, a missing part — raises TemplateRefused with a
one-line reason, never a jinja exception.

The same message and the same simulated time give the same bytes: the e-mail's Date is the
simulated moment, its MIME boundaries derive from its Message-ID, and letters are printed by
cmpsim.documents (fixed fonts, no wall-clock time).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import TemplateError, TemplateNotFound, TemplateSyntaxError
from markupsafe import Markup

from cmpsim import documents

#: The parts each channel sends, in the order they are rendered (the subject first: the HTML shows it).
CHANNEL_PARTS: dict[str, tuple[str, ...]] = {"sms": ("text",), "push_handset": ("text",), "push_external": ("text",),
                                             "email": ("subject", "text", "email"), "letter": ("subject", "letter")}
PART_FILES = {"subject": "subject.txt.j2", "text": "text.txt.j2", "email": "email.html.j2",
              "letter": "letter.html.j2"}
TEXT_PARTS = ("subject", "text")  # not HTML: rendered without escaping
#: The longest text each channel carries; longer text is cut, ending with "…".
TEXT_CHARS_MAX = {"sms": 612, "push_handset": 240, "push_external": 240}  # SMS: 4 concatenated segments
#: What the templates may merge; a key the caller leaves out is None (a staff alert has no account).
MERGE_KEYS = ("provider", "account", "recipient", "request", "order", "invoice", "overdue", "alert", "case")
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
LETTER_PAGE = "comms/letter.html.j2"  # the page around a letter's body: letterhead, address, date, contact
TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# Python errors a sandboxed template can still cause (a filter given None, 1/0, deep recursion).
_TEMPLATE_FAULTS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError)
_EMAIL_POLICY = email.policy.SMTP  # CRLF line ends, as on the wire


class TemplateRefused(Exception):
    """A template that cannot be used; the message is a one-line reason naming template and part."""


@dataclass(frozen=True)
class Message:
    """One rendered communication: `subject` (e-mail, letter), `text` (SMS, push, the e-mail's plain
    part; "" for a letter) and `html` (the e-mail's HTML part, or the body of a letter)."""

    subject: str | None
    text: str
    html: str | None


# --- Merging -------------------------------------------------------------------------------------


def render_message(template: str, channel: str, data: Mapping[str, Any],
                   overrides: Mapping[str, Mapping[str, str]] | None = None) -> Message:
    """The parts `channel` needs of `template`, merged with `data` and `channel` (the channel being
    rendered; the subject too, for the HTML parts); a part in `overrides[template]` replaces the
    project's part. SMS and push text too long for the channel is cut. Raises
    TemplateRefused when a part cannot be rendered, ValueError for an unknown channel."""
    if channel not in CHANNEL_PARTS:
        raise ValueError(f"unknown channel {channel!r}: one of {', '.join(CHANNEL_PARTS)}")
    if not TEMPLATE_NAME.fullmatch(template):
        raise TemplateRefused(f"template {template!r}: not a template name (lower-case letters, digits, -)")
    context = {**merge_context(data), "channel": channel}
    chosen = (overrides or {}).get(template) or {}
    parts: dict[str, str] = {}
    for part in CHANNEL_PARTS[channel]:
        parts[part] = _render_part(template, part, chosen.get(part), context)
        if part == "subject":  # the HTML parts may show it (an e-mail's <title>)
            context["subject"] = parts[part]
    return Message(subject=parts.get("subject"), text=_cut(parts.get("text", ""), TEXT_CHARS_MAX.get(channel)),
                   html=parts.get("email", parts.get("letter")))


def merge_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """The template context of merge data: every key of MERGE_KEYS present (None when not given), so a
    template can ask `{% if account %}` and a missing subject reads as a clear refusal; and the
    formatting helpers `amount`, `moment` and `days`.

    The helpers are Python functions rather than template macros because a macro escapes what it
    merges as the template it is defined in does: a function's plain text is escaped by an HTML part
    and left alone by a text part, so text and HTML parts share them safely.
    """
    return {**dict.fromkeys(MERGE_KEYS), **data, "amount": amount, "moment": moment, "days": days}


def amount(value: Decimal | int, currency: str) -> str:
    """An amount with its currency as a customer reads it: "£1,234.50"; "CHF 1,234.50" for a currency
    without a symbol here."""
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{documents.money(value)}" if symbol else f"{currency} {documents.money(value)}"


def moment(value: dt.datetime) -> str:
    """A moment to the minute: "8 Jan 2026, 06:00"."""
    return f"{documents.date(value)}, {value:%H:%M}"


def days(count: int) -> str:
    """A number of days: "1 day", "17 days"."""
    return f"{count} day" if count == 1 else f"{count} days"


def _render_part(template: str, part: str, override: str | None, context: dict[str, Any]) -> str:
    """One part, from the override text when there is one, else from reports/comms/<template>/."""
    where = f"template {template}/{part}"
    name = f"comms/{template}/{PART_FILES[part]}"
    try:
        if override is None:
            rendered = documents.render_html(name, context)
        elif not isinstance(override, str):
            raise TemplateRefused(f"{where}: the override is {type(override).__name__}, not template text")
        elif part in TEXT_PARTS:  # plain text: escaping would turn "&" into "&amp;" in an SMS
            rendered = documents.render_string("{% autoescape false %}" + override + "{% endautoescape %}", context)
        else:
            rendered = documents.render_string(override, context)
    except TemplateNotFound as exc:
        missing = exc.name == name
        raise TemplateRefused(f"{where}: no such part (reports/{name})" if missing
                              else f"{where}: {_reason(exc)}") from None
    except _TEMPLATE_FAULTS as exc:
        raise TemplateRefused(f"{where}: {_reason(exc)}") from None
    return _tidy(rendered, part)


def _reason(exc: Exception) -> str:
    """A one-line reason: the error's first line, with its line number for a syntax error."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if isinstance(exc, TemplateNotFound):
        text = f"template {exc.name!r} not found"
    elif isinstance(exc, TemplateSyntaxError):
        text = f"syntax error on line {exc.lineno}: {text}"
    elif not isinstance(exc, TemplateError):
        text = f"{type(exc).__name__}: {text}"
    return text


def _tidy(rendered: str, part: str) -> str:
    """A subject as one line; text without trailing spaces or runs of blank lines; HTML as rendered."""
    if part == "subject":
        return " ".join(rendered.split())
    if part == "text":
        lines = [line.rstrip() for line in rendered.strip().splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return rendered


def _cut(text: str, chars_max: int | None) -> str:
    if chars_max is None or len(text) <= chars_max:
        return text
    return text[: chars_max - 1] + "…"


# --- E-mail --------------------------------------------------------------------------------------


def email_bytes(message: Message, *, sender: str, to: str, message_id: str, date: dt.datetime,
                attachments: Sequence[tuple[str, bytes, str]] = ()) -> bytes:
    """The e-mail as a MIME message (CRLF line ends): multipart/alternative of the plain text and
    the HTML, inside multipart/mixed with each attachment (file name, content, media type) when
    there are any. Date is the simulated `date` (a naive moment is written with zone -0000, "local
    time unknown"); the same arguments give the same bytes."""
    if message.subject is None or message.html is None:
        raise ValueError("an e-mail needs a subject and an HTML part: render it for the email channel")
    mail = EmailMessage(policy=_EMAIL_POLICY)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = message_id
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    for filename, content, media_type in attachments:
        maintype, _, subtype = media_type.partition("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    _fix_boundaries(mail, message_id)
    for part in itertools.islice(mail.walk(), 1, None):
        del part["MIME-Version"]  # add_alternative puts one on a part; RFC 2045 wants it at the top only
    return mail.as_bytes(policy=_EMAIL_POLICY)


def _fix_boundaries(mail: EmailMessage, message_id: str) -> None:
    """Give every multipart a boundary derived from the Message-ID (the library draws random ones),
    salted again in the unlikely case a part's content contains it."""
    contents = "\n".join(str(part.get_payload()) for part in mail.walk() if not part.is_multipart())
    for salt in itertools.count():
        stem = hashlib.sha256(f"{message_id}\0{salt}".encode()).hexdigest()[:32]
        if stem not in contents:
            break
    for number, part in enumerate(p for p in mail.walk() if p.is_multipart()):
        part.set_boundary(f"=_cmpsim_{stem}_{number}")


# --- Letters -------------------------------------------------------------------------------------


def letter_pdf(message: Message, data: Mapping[str, Any], *, refused: list[str] | None = None) -> bytes:
    """The letter as an A4 PDF (styles/letter.css): the provider's letterhead, the recipient's name and
    address where a window envelope shows it, the date the communication was requested, the subject,
    the body (`message.html`) and the provider's support contact. URLs the body links to that are
    not files under reports/ are left out and appended to `refused`."""
    return letter_pdfs([(message, data)], refused=refused)[0]


def letter_pdfs(items: Iterable[tuple[Message, Mapping[str, Any]]], refused: list[str] | None = None) -> list[bytes]:
    """One PDF per (message, merge data), in order, as `letter_pdf` does for each, sharing fonts and the
    parsed stylesheet. Raises TemplateRefused (before printing any) when the merge data lacks what the
    page shows."""
    pages = [letter_page(message, data) for message, data in items]
    stylesheets = documents.PRINT_STYLESHEETS["comms"]
    return [documents.html_to_pdf(page, stylesheets=stylesheets, refused=refused) for page in pages]


def letter_page(message: Message, data: Mapping[str, Any]) -> str:
    """The HTML of the printed letter (reports/comms/letter.html.j2) around the message's body."""
    try:
        return documents.render_html(LETTER_PAGE, letter_context(message, data))
    except _TEMPLATE_FAULTS as exc:
        raise TemplateRefused(f"letter page: {_reason(exc)}") from None


def letter_context(message: Message, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the letter page merges: the merge data, the subject, and the body as HTML (already merged
    and escaped by its own template, so not escaped again)."""
    if message.html is None:
        raise TemplateRefused("letter page: the message has no body (render it for the letter channel)")
    return {**merge_context(data), "subject": message.subject or "", "body": Markup(message.html)}
