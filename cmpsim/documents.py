"""Documents: bills (later letters and reports) rendered from templates in `reports/` to HTML and PDF.

Templates run in jinja2's immutable sandbox with autoescaping and strict undefined variables, so
the same machinery serves the project's templates and untrusted template text (`render_string`):
a template can read the context it is given, never reach Python internals, never change the data.

PDFs are made by weasyprint from the rendered HTML. Relative links resolve against `reports/` and
weasyprint may fetch nothing but files under that folder (and `data:` URIs): any other URL is
refused, logged on "cmpsim.documents" and reported to the caller, and the document renders without
it. A PDF depends only on its template, its context and the bundled fonts: the same input gives the
same bytes, whenever and wherever it is rendered.

Rendering is not thread-safe: the font configuration and parsed stylesheets are shared by every
document of the process (that sharing is what makes a batch fast), and SOURCE_DATE_EPOCH is set in
the environment while a PDF is written (see `_font_timestamps_fixed`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from cmpsim.paths import REPORT_DIR

log = logging.getLogger("cmpsim.documents")

#: The stylesheets (paths under reports/) each folder of templates is printed with.
PRINT_STYLESHEETS: dict[str, tuple[str, ...]] = {"bills": ("styles/bill.css",),
                                                  "analysis": ("styles/report-fonts.css",),
                                                  "comms": ("styles/letter.css",)}

TEMPLATE_SOURCE_CHARS_MAX = 100_000  # untrusted template text given to render_string
ASSET_BYTES_MAX = 8 * 1024 * 1024  # one file weasyprint may read from reports/ (fonts are < 1 MiB)

CENT = Decimal("0.01")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MEDIA_TYPES = {
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}


# --- Filters -------------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    """An amount to the cent with thousands separators: Decimal("-1234.5") → "-1,234.50".

    Half a cent rounds away from zero (the project's one rounding rule). Money is never float in
    cmpsim: a float, or anything but a Decimal or an int, is a TypeError.
    """
    cents = _exact_number(value, "money").quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{abs(cents) if cents.is_zero() else cents:,.2f}"  # never "-0.00"


def rate(value: Decimal) -> str:
    """A tax rate as a percentage, no trailing zeros: 0.2000 → "20%", 0.175 → "17.5%", 0 → "0%"."""
    return f"{(_exact_number(value, 'rate') * 100).normalize():f}%"


def quantity(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 1.000 → "1", 1200 → "1,200", 2.50 → "2.5"."""
    return f"{_exact_number(value, 'quantity').normalize():,f}"


def date(value: dt.date) -> str:
    """A day as a customer reads it: "8 Jan 2026" (English month names, whatever the locale)."""
    if not isinstance(value, dt.date):
        raise TypeError(f"date must be a datetime.date, found {type(value).__name__}: {value!r}")
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def period(start: dt.date | None, end: dt.date | None) -> str:
    """Days from `start` to `end`, both included, as short as is unambiguous: "1–31 Jan 2026",
    "15 Jan – 14 Feb 2026", "1 Dec 2025 – 31 Jan 2026"; "from 1 Jan 2026" when open-ended, "" when
    neither end is known. Spaces inside a date are non-breaking, so a narrow column wraps at the dash."""
    if start is None and end is None:
        return ""
    if end is None:
        return f"from {_unbroken(date(start))}"
    if start is None:
        return f"until {_unbroken(date(end))}"
    first, last = _unbroken(date(start)), _unbroken(date(end))
    if start == end:
        return first
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{last}"
    if start.year == end.year:
        return _unbroken(f"{start.day} {MONTHS[start.month - 1]}") + f" – {last}"
    return f"{first} – {last}"


def _unbroken(text: str) -> str:
    return text.replace(" ", "\u00a0")


def _exact_number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be a Decimal, found {type(value).__name__}: {value!r}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number, found {value}")
    return value


# --- Templates -----------------------------------------------------------------------------------


def _environment() -> SandboxedEnvironment:
    """The sandbox every template runs in; the immutable variant also stops templates changing lists
    and dicts of the context (a user template must not alter the bill it is printing)."""
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(REPORT_DIR),
        autoescape=select_autoescape(disabled_extensions=("txt", "txt.j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
    )
    env.filters.update(money=money, rate=rate, quantity=quantity, date=date)
    env.globals.update(period=period)
    return env


_ENV = _environment()


def render_html(template_name: str, context: dict[str, Any]) -> str:
    """The HTML of the template `template_name` (a path under reports/) filled with `context`."""
    return _ENV.get_template(template_name).render(context)


def render_string(source: str, context: dict[str, Any]) -> str:
    """Untrusted template text rendered in the same sandbox, autoescaped.

    Reaching outside the context (e.g. `''.__class__`) raises jinja2.exceptions.SecurityError; a
    missing variable raises UndefinedError. It may include or extend the templates in reports/.
    """
    if len(source) > TEMPLATE_SOURCE_CHARS_MAX:
        raise ValueError(f"template text of {len(source):,} characters, at most {TEMPLATE_SOURCE_CHARS_MAX:,} allowed")
    return _ENV.from_string(source).render(context)


# --- Fetching ------------------------------------------------------------------------------------


class ReportFetcher(URLFetcher):
    """Gives weasyprint the files under reports/ and `data:` URIs, and nothing else.

    Any other URL (another scheme, a file outside reports/ reached by `..` or a symlink, a missing or
    oversized file) is refused: logged as a warning, appended to `refused` when given, and left out
    of the document.
    """

    def __init__(self, refused: list[str] | None = None):
        super().__init__(allowed_protocols=("data",))  # weasyprint's own fetching serves data: only
        self.refused = refused

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        if urlsplit(url).scheme.lower() == "data":
            return super().fetch(url, headers)
        path = report_file(url)
        if path is None:
            log.warning("refused to fetch %s: documents may use only files under %s", url, REPORT_DIR)
            if self.refused is not None:
                self.refused.append(url)
            raise PermissionError(f"not a file under reports/: {url}")
        media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": media_type})


def report_file(url: str) -> Path | None:
    """The file under reports/ that a file: URL names, after resolving `..` and symlinks; else None."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(url2pathname(parts.path)).resolve()
        if path.is_relative_to(REPORT_DIR.resolve()) and path.is_file() and path.stat().st_size <= ASSET_BYTES_MAX:
            return path
    except (OSError, ValueError):  # e.g. a NUL byte in the path
        pass
    return None


# --- PDF -----------------------------------------------------------------------------------------


class _Press:
    """What every PDF of the process shares: one font configuration, and the stylesheets parsed once
    against it (their @font-face rules live in that configuration)."""

    def __init__(self) -> None:
        self.font_config = FontConfiguration()
        self._stylesheets: dict[tuple[str, int], CSS] = {}

    def stylesheet(self, name: str) -> CSS:
        """The parsed stylesheet reports/`name`, parsed again only when the file has changed."""
        path = REPORT_DIR / name
        key = (name, path.stat().st_mtime_ns)
        if key not in self._stylesheets:
            self._stylesheets[key] = CSS(url=path.as_uri(), url_fetcher=ReportFetcher(), font_config=self.font_config)
        return self._stylesheets[key]


@functools.cache
def _press() -> _Press:
    return _Press()


def html_to_pdf(html: str, *, stylesheets: Sequence[str] = (), refused: list[str] | None = None) -> bytes:
    """The PDF of `html`; relative links resolve against reports/, and only files there are fetched.

    `stylesheets` are paths under reports/ applied to the document; URLs that were refused are
    appended to `refused`.
    """
    press = _press()
    document = HTML(string=html, base_url=REPORT_DIR.as_uri() + "/", url_fetcher=ReportFetcher(refused))
    with _font_timestamps_fixed():
        return document.write_pdf(
            stylesheets=[press.stylesheet(name) for name in stylesheets],
            font_config=press.font_config,
            pdf_identifier=True,  # the file identifier is a hash of the content, not a random one
        )


def render_pdf(template_name: str, context: dict[str, Any], *, refused: list[str] | None = None) -> bytes:
    """The PDF of the template `template_name` filled with `context`, printed with the stylesheets of
    its folder (PRINT_STYLESHEETS). URLs that were refused are appended to `refused`."""
    return html_to_pdf(render_html(template_name, context), stylesheets=_print_stylesheets(template_name),
                       refused=refused)


def render_pdfs(template_name: str, contexts: Iterable[dict[str, Any]], *,
                refused: list[str] | None = None) -> list[bytes]:
    """One PDF per context, in order; the same as `render_pdf` for each, sharing fonts and parsed
    stylesheets. URLs refused in any of the documents are appended to `refused`."""
    stylesheets = _print_stylesheets(template_name)
    template = _ENV.get_template(template_name)
    return [html_to_pdf(template.render(context), stylesheets=stylesheets, refused=refused) for context in contexts]


def _print_stylesheets(template_name: str) -> tuple[str, ...]:
    folder = template_name.split("/", 1)[0] if "/" in template_name else ""
    if folder not in PRINT_STYLESHEETS:
        raise ValueError(f"no print stylesheet for templates in reports/{folder}: add one to PRINT_STYLESHEETS")
    return PRINT_STYLESHEETS[folder]


@contextmanager
def _font_timestamps_fixed() -> Iterator[None]:
    """Keep the wall-clock time out of embedded fonts.

    Without the HarfBuzz-subset library, weasyprint subsets fonts with fontTools, which stamps each
    font it writes with the current time unless SOURCE_DATE_EPOCH is set (the reproducible-builds
    convention). Set it to 0 while rendering, unless the caller has chosen a value.
    """
    if "SOURCE_DATE_EPOCH" in os.environ:
        yield
        return
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        yield
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
