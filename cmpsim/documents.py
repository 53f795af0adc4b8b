"""Documents: bills (later letters and reports) rendered from templates in `reports/` to HTML and PDF.

Templates run in jinja2's immutable sandbox with autoescaping and strict undefined variables, so
the same machinery serves the project's templates and untrusted template text (`render_string`):
a template can read the context it is given, never reach Python internals, never change the data.

The sandbox also bounds what one render may cost, so a template cannot hang or swamp a run: its
loops may run LOOP_ITERATIONS_MAX times in all and its macros be called MACRO_CALLS_MAX times;
no output, captured block or value it makes may be longer than TEXT_CHARS_MAX characters, and that
is checked before the text is made; `range` gives at most RANGE_MAX numbers. These bounds count
work, not time, so a template is refused the same way on any machine. A wall-clock limit
(RENDER_SECONDS_MAX) is the last resort for work they do not count; no project template comes near
it. A template over a bound raises RenderBoundExceeded (a jinja2 TemplateError) with a one-line reason.

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
import math
import os
import re
import sys
import time
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from babel.dates import format_date
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
    select_autoescape,
)
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import BlockReference, LoopContext, Macro, Undefined
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace
from markupsafe import Markup, soft_str
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from cmpsim import formats
from cmpsim.paths import REPORT_DIR

log = logging.getLogger("cmpsim.documents")

#: The stylesheets (paths under reports/) each folder of templates is printed with.
PRINT_STYLESHEETS: dict[str, tuple[str, ...]] = {"bills": ("styles/bill.css",),
                                                  "analysis": ("styles/report-fonts.css",),
                                                  "comms": ("styles/letter.css",)}

TEMPLATE_SOURCE_CHARS_MAX = 100_000  # untrusted template text given to render_string
# The bounds of one render. A bill of 5,000 lines runs 5,000 loop iterations and 15,000 macro calls and is
# 1.6 million characters of HTML; the analysis reports are far smaller.
LOOP_ITERATIONS_MAX = 100_000  # iterations of all {% for %} loops together, recursive ones included
MACRO_CALLS_MAX = 100_000  # calls of macros (and caller, blocks)
TEXT_CHARS_MAX = 5_000_000  # the output, and any text, captured block or list a template makes
RANGE_MAX = 10_000  # numbers in one range(); also the most pieces one slice or padded batch makes
INT_BITS_MAX = 10_000  # the largest integer a template may compute (about 3,000 digits)
RENDER_SECONDS_MAX = 20  # the last resort, for work the bounds above do not count
ASSET_BYTES_MAX = 8 * 1024 * 1024  # one file weasyprint may read from reports/ (fonts are < 1 MiB)

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
    cmpsim: a float, or anything but a Decimal or an int, is a TypeError. The same formatter as every
    report (`cmpsim.formats`).
    """
    return formats.amount(value)


def rate(value: Decimal) -> str:
    """A tax rate as a percentage, no trailing zeros: 0.2000 → "20%", 0.175 → "17.5%", 0 → "0%"."""
    return f"{(_exact_number(value, 'rate') * 100).normalize():f}%"


def quantity(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 1.000 → "1", 1200 → "1,200", 2.50 → "2.5"."""
    return f"{_exact_number(value, 'quantity').normalize():,f}"


def date(value: dt.date) -> str:
    """A day as a customer reads it: "8 Jan 2026" (`cmpsim.formats.day`)."""
    if not isinstance(value, dt.date):
        raise TypeError(f"date must be a datetime.date, found {type(value).__name__}: {value!r}")
    return formats.day(value)


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
        return _unbroken(format_date(start, "d MMM", locale=formats.LOCALE)) + f" – {last}"
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


class RenderBoundExceeded(SecurityError):
    """A template went over a bound of one render (see the module docstring); the message says which, on one line."""


def _environment() -> SandboxedEnvironment:
    """The sandbox every template runs in; the immutable variant also stops templates changing lists
    and dicts of the context (a user template must not alter the bill it is printing)."""
    env = _BoundedSandbox(
        loader=FileSystemLoader(REPORT_DIR),
        autoescape=select_autoescape(disabled_extensions=("txt", "txt.j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        finalize=_printable,
    )
    env.filters.update(_SIZED_FILTERS)
    env.filters.update(money=money, rate=rate, quantity=quantity, date=date)
    env.filters = {name: _bounded_filter(name, function) for name, function in env.filters.items()}
    env.globals.update(period=period, range=_range)
    del env.globals["lipsum"]  # lorem ipsum of any length, and no use to a document
    del env.filters["random"]  # a draw no seed governs: the same input must give the same document
    return env


def render_html(template_name: str, context: dict[str, Any]) -> str:
    """The HTML of the template `template_name` (a path under reports/) filled with `context`."""
    return _ENV.get_template(template_name).render(context)


def render_string(source: str, context: dict[str, Any]) -> str:
    """Untrusted template text rendered in the same sandbox, autoescaped.

    Reaching outside the context (e.g. `''.__class__`) raises jinja2.exceptions.SecurityError; a
    missing variable raises UndefinedError; going over a bound of the render raises
    RenderBoundExceeded. It may include or extend the templates in reports/.
    """
    if len(source) > TEMPLATE_SOURCE_CHARS_MAX:
        raise ValueError(f"template text of {len(source):,} characters, at most {TEMPLATE_SOURCE_CHARS_MAX:,} allowed")
    return _ENV.from_string(source).render(context)


# --- Bounds of a render --------------------------------------------------------------------------


class _Budget:
    """What one render may still spend. Loop iterations and macro calls are counted because they are
    what makes a render long: between them a template runs only its own text, once."""

    __slots__ = ("iterations", "calls", "deadline")

    def __init__(self) -> None:
        self.iterations = LOOP_ITERATIONS_MAX
        self.calls = MACRO_CALLS_MAX
        self.deadline = time.monotonic() + RENDER_SECONDS_MAX

    def iterate(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise RenderBoundExceeded(f"template loops ran more than {LOOP_ITERATIONS_MAX:,} times")
        self._in_time()

    def call(self) -> None:
        self.calls -= 1
        if self.calls < 0:
            raise RenderBoundExceeded(f"template macros were called more than {MACRO_CALLS_MAX:,} times")
        self._in_time()

    def _in_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderBoundExceeded(f"template took more than {RENDER_SECONDS_MAX} seconds to render")


_RENDER_BUDGET: ContextVar[_Budget | None] = ContextVar("cmpsim_render_budget", default=None)


def _budget() -> _Budget:
    """The budget of the render under way; a fresh one for a macro or loop run outside any render."""
    return _RENDER_BUDGET.get() or _Budget()


class _BoundedTemplate(Template):
    """A template whose render, with everything it includes, extends and imports, spends one budget."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        if _RENDER_BUDGET.get() is not None:
            return super().render(*args, **kwargs)
        token = _RENDER_BUDGET.set(_Budget())
        try:
            return super().render(*args, **kwargs)
        finally:
            _RENDER_BUDGET.reset(token)

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        """The rendered text in one piece: a render spends its budget in one go, not between the
        pieces a caller asks for."""
        yield self.render(*args, **kwargs)


class _CountedItems:
    """The iterable of a loop, charging each item it hands out to the render's budget. It keeps the
    iterable's length, so `loop.length` need not read the items ahead."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)  # a TypeError for an iterator, which LoopContext expects

    def __iter__(self) -> Iterator[Any]:
        budget = _budget()
        for item in self.items:
            budget.iterate()
            yield item


class _TextBuffer(list):
    """The output a template captures (a macro's, a {% set %}, {% filter %} or recursive loop's),
    refused as soon as it holds more than TEXT_CHARS_MAX characters rather than when it is joined."""

    chars = 0  # set on the instance by the first piece: a buffer is made for every macro call

    def append(self, piece: str) -> None:
        self.chars += len(piece)
        if self.chars > TEXT_CHARS_MAX:
            _check_chars(self.chars, "captured output")
        super().append(piece)

    def extend(self, pieces: Iterable[str]) -> None:
        pieces = tuple(pieces)
        self.chars += sum(map(len, pieces))
        if self.chars > TEXT_CHARS_MAX:
            _check_chars(self.chars, "captured output")
        super().extend(pieces)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles a template so that its loops charge the render's budget, its captured output is a
    _TextBuffer and the pieces of `~` are measured before they are joined. Everything else compiles
    as jinja2 compiles it."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.text_buffer()")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """The loop as jinja2 compiles it, over `environment.loop_items(iterable)`."""
        if not _is_counted(node.iter):
            counter = nodes.EnvironmentAttribute("loop_items", lineno=node.lineno)
            node.iter = nodes.Call(counter, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}(environment.joinable_pieces((")
        for piece in node.nodes:
            self.visit(piece, frame)
            self.write(", ")
        self.write(")))")


#: The operators that can make a value much bigger than their operands; `-`, `/` and `//` cannot.
_BINOP_RESULTS = {operator: f"'{operator}' result" for operator in ("+", "*", "**", "%")}


def _is_counted(iterable: nodes.Expr) -> bool:
    return (isinstance(iterable, nodes.Call) and isinstance(iterable.node, nodes.EnvironmentAttribute)
            and iterable.node.name == "loop_items")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with the bounds of a render: the budget (loops, macro calls, time)
    and the size of what a template makes, checked where it could grow without bound in one step —
    the `+ * ** %` operators, `~`, string formatting, string methods given a width or a count,
    captured output and the output itself. Filters are bounded by `_bounded_filter`."""

    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate
    text_buffer = _TextBuffer
    intercepted_binops = frozenset(_BINOP_RESULTS)

    def concat(self, pieces: Iterable[str]) -> str:
        """Joins a render's output and captured output, refusing it once it is too long."""
        if isinstance(pieces, _TextBuffer):  # measured as it was filled
            return "".join(pieces)
        joined: list[str] = []
        chars = 0
        for piece in pieces:
            chars += len(piece)
            _check_chars(chars, "template output")
            joined.append(piece)
        return "".join(joined)

    def loop_items(self, items: Iterable[Any]) -> _CountedItems:
        return _CountedItems(items)

    def joinable_pieces(self, pieces: tuple[Any, ...]) -> tuple[Any, ...]:
        _joinable(pieces, 0, "'~' result")
        return pieces

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        what = _BINOP_RESULTS[operator]
        if operator == "*":
            _check_product(left, right, what)
        elif operator == "**":
            _check_power(left, right, what)
        elif operator == "+" and isinstance(left, _SEQUENCES) and isinstance(right, Collection):
            _check_chars(len(left) + len(right), what)
        elif operator == "%" and isinstance(left, str):
            _check_chars(_percent_size(left, right), what)
        return _check_made(self.binop_table[operator](left, right), what)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, _MACROS):  # its output is a bounded _TextBuffer
            _budget().call()
            return super().call(context, obj, *args, **kwargs)
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (_CountedItems(args[0]), *args[1:])
        else:
            args = _checked_method_args(obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        problem = _oversize(result)
        if problem:
            raise RenderBoundExceeded(f"the result of {getattr(obj, '__name__', type(obj).__name__)}() would be "
                                      f"{problem}")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `str.format_map` as the sandbox runs them (SandboxedEnvironment.wrap_str_format),
        with a formatter that also bounds widths, the values and the result."""
        if (not isinstance(value, types.MethodType | types.BuiltinMethodType)
                or value.__name__ not in ("format", "format_map") or not isinstance(value.__self__, str)):
            return None
        text: str = value.__self__
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                args, kwargs = (), args[0]
            formatter = (_BoundedEscapeFormatter(self, escape=text.escape) if isinstance(text, Markup)
                         else _BoundedFormatter(self))
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(wrapper, value)


class _BoundedFormatting:
    """The part of a sandboxed formatter that refuses a width or precision over TEXT_CHARS_MAX, a
    value that would print longer, and a result that would be longer."""

    chars = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        _check_printable(value, "a value given to str.format()")
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        for digits in _DIGITS.findall(format_spec):
            _check_chars(_digits_value(digits), "a field of str.format()")
        text = super().format_field(value, format_spec)
        self.chars += len(text)
        _check_chars(self.chars, "the result of str.format()")
        return text


class _BoundedFormatter(_BoundedFormatting, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_BoundedFormatting, SandboxedEscapeFormatter):
    pass


def _range(*args: int) -> range:
    """range() as templates have it: at most RANGE_MAX numbers."""
    numbers = range(*args)
    try:
        too_many = len(numbers) > RANGE_MAX
    except OverflowError:  # more numbers than an index can count
        too_many = True
    if too_many:
        raise RenderBoundExceeded(f"range() of more than {RANGE_MAX:,} numbers")
    return numbers


def _printable(value: Any) -> Any:
    """Every value a template prints, refused before it is turned into text that would be too long."""
    if not isinstance(value, str) or len(value) > TEXT_CHARS_MAX:
        _check_printable(value, "a printed value")
    return value


# Sizes. A value's size is about how long it prints: a list shared many times in a structure is
# counted each time it would print, which is what `str()` of the structure would cost.

_OPAQUE_CHARS = 16  # what an object that is not text, a number or a container is counted as printing
# Type tuples, not unions: isinstance() on a tuple is twice as fast, and these run on every value.
_TEXTS = (str, bytes)
_LISTS = (list, tuple)
_SEQUENCES = _TEXTS + _LISTS
_OPAQUE = (range, Undefined)
_MACROS = (Macro, BlockReference)
_METHOD_OWNERS = (str, bytes, int)  # methods a template may call with a width or count
_DIGITS = re.compile(r"[0-9]+")
_PERCENT_SPEC = re.compile(r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|[0-9]+)?(?:\.(?P<precision>\*|[0-9]*))?"
                           r"[hlL]?(?P<kind>.?)", re.DOTALL)


def _size(value: Any, limit: int = TEXT_CHARS_MAX) -> int:
    """About how many characters `value` prints as, counting stopped once past `limit`, so that measuring
    costs no more than printing would."""
    chars, pending = 0, [value]
    while pending and chars <= limit:
        item = pending.pop()
        if isinstance(item, _TEXTS):
            chars += len(item)
        elif isinstance(item, int):
            chars += item.bit_length() // 3 + 1
        elif isinstance(item, _OPAQUE):
            chars += _OPAQUE_CHARS
        elif isinstance(item, Mapping):
            chars += 4 * len(item) + 2
            if chars <= limit:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, Collection):
            chars += 2 * len(item) + 2
            if chars <= limit:
                pending.extend(item)
        elif isinstance(item, Namespace):
            pending.append(item._Namespace__attrs)  # what its repr prints
        else:
            chars += _OPAQUE_CHARS
    return chars


def _check_chars(chars: int, what: str) -> None:
    if chars > TEXT_CHARS_MAX:
        raise RenderBoundExceeded(f"{what} would be longer than {TEXT_CHARS_MAX:,} characters")


def _check_printable(value: Any, what: str) -> None:
    _check_chars(len(value) if isinstance(value, str) else _size(value), what)


def _oversize(value: Any) -> str | None:
    """What is too big about a value a template has made, if anything (checked on every result: cheap)."""
    if isinstance(value, _TEXTS) and len(value) > TEXT_CHARS_MAX:
        return f"longer than {TEXT_CHARS_MAX:,} characters"
    if isinstance(value, _LISTS) and len(value) > TEXT_CHARS_MAX:
        return f"longer than {TEXT_CHARS_MAX:,} items"
    if isinstance(value, int) and value.bit_length() > INT_BITS_MAX:
        return f"a number of more than {INT_BITS_MAX:,} bits"
    return None


def _check_made(value: Any, what: str) -> Any:
    if isinstance(value, str) and len(value) <= TEXT_CHARS_MAX:
        return value
    problem = _oversize(value)
    if problem:
        raise RenderBoundExceeded(f"{what} would be {problem}")
    return value


def _number(value: Any) -> int:
    """A width or count given as an int, as a size; 0 for anything else (Python refuses it anyway)."""
    return abs(value) if isinstance(value, int) else 0


def _digits_value(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else sys.maxsize


def _joinable(items: Iterable[Any], separator_chars: int, what: str) -> list[Any]:
    """`items` as a list, refused as soon as they and the separators between them would print too long."""
    joined: list[Any] = []
    chars = -separator_chars
    for item in items:
        chars += separator_chars + _size(item, TEXT_CHARS_MAX - chars)
        _check_chars(chars, what)
        joined.append(item)
    return joined


def _check_product(left: Any, right: Any, what: str) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > INT_BITS_MAX + 1:
            raise RenderBoundExceeded(f"{what} would be a number of more than {INT_BITS_MAX:,} bits")
        return
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(times, int) and times > 0 and isinstance(sequence, _SEQUENCES):
        size = len(sequence) if isinstance(sequence, _TEXTS) else _size(sequence, TEXT_CHARS_MAX // times)
        _check_chars(size * times, what)


def _check_power(base: Any, exponent: Any, what: str) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > INT_BITS_MAX or exponent * math.log2(abs(base)) > INT_BITS_MAX:
            raise RenderBoundExceeded(f"{what} would be a number of more than {INT_BITS_MAX:,} bits")


def _percent_size(template: str, values: Any) -> int:
    """About how long `template % values` is, before it is made: its text, widths and precisions, and
    each value as it prints."""
    positional = list(values) if isinstance(values, tuple) else [values]
    chars = len(template)
    for spec in _PERCENT_SPEC.finditer(template):
        if spec["kind"] == "%":
            continue
        for part in (spec["width"], spec["precision"]):
            if part == "*":
                chars += _number(positional.pop(0)) if positional else 0
            elif part:
                chars += _digits_value(part)
        if spec["key"] is not None:
            chars += _size(values.get(spec["key"])) if isinstance(values, Mapping) else 0
        elif positional:
            chars += _size(positional.pop(0))
        if chars > TEXT_CHARS_MAX:
            break
    return chars


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    """How long `text.replace(old, new, count)` is, before it is made."""
    if not (isinstance(text, _TEXTS) and isinstance(old, type(text)) and isinstance(new, type(text))):
        return 0  # not a replacement Python makes
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _checked_method_args(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The arguments of a call from a template, refused when the call is a method of text or of an int
    that would make something too big; the items given to `join` come back as a measured list."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, _METHOD_OWNERS):
        return args
    name = getattr(method, "__name__", "")
    what = f"the result of {name}()"
    if isinstance(owner, int) and name == "to_bytes":
        _check_chars(_number(args[0] if args else kwargs.get("length", 1)), what)
    elif not isinstance(owner, _TEXTS):
        pass
    elif name in _PADDING_METHODS and args:
        _check_chars(_number(args[0]), what)
    elif name == "expandtabs":
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
        _check_chars(len(owner) + tabs * _number(args[0] if args else kwargs.get("tabsize", 8)), what)
    elif name == "join" and args:
        return (_joinable(args[0], len(owner), what), *args[1:])
    elif name == "replace" and len(args) >= 2:
        _check_chars(_replaced_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1), what)
    elif name == "translate" and args and isinstance(owner, str):
        table = args[0]
        table = table.values() if isinstance(table, Mapping) else table if isinstance(table, _LISTS) else ()
        _check_chars(len(owner) * max([len(r) for r in table if isinstance(r, str)] + [1]), what)
    return args


# Filters. Every filter is wrapped by _bounded_filter; those that take a width or a count, or join
# many values into one, are replaced by the versions below, which measure first.

#: Filters that turn their value into text: a list or dict given to them is measured first.
_PRINTING_FILTERS = frozenset({"capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
                               "pprint", "replace", "safe", "string", "striptags", "title", "tojson", "trim",
                               "truncate", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr"})


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (the filter `name`) refusing a result that is too big and, for a filter that prints its
    value, a value that would print too long. The wrapper takes the context, so jinja2 never runs a
    filter while compiling (it folds constant expressions): every filter runs inside the render and its bounds."""
    passed = getattr(getattr(function, "jinja_pass_arg", None), "name", None)
    prints = name in _PRINTING_FILTERS
    what = f"the {name} filter's result"

    @pass_context
    @functools.wraps(function)
    def bounded(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if prints:
            _check_printable(value, f"the value given to the {name} filter")
        if passed == "context":
            args = (context, value, *args)
        elif passed == "eval_context":
            args = (context.eval_ctx, value, *args)
        elif passed == "environment":
            args = (context.environment, value, *args)
        else:
            args = (value, *args)
        return _check_made(function(*args, **kwargs), what)

    return bounded


def _center(value: Any, width: int = 80) -> str:
    _check_chars(_number(width), "the center filter's result")
    return jinja_filters.do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = soft_str(s)
    indention = len(width) if isinstance(width, str) else _number(width)
    _check_chars(len(text) + (text.count("\n") + 2) * indention, "the indent filter's result")
    return jinja_filters.do_indent(s, width, first, blank)


@pass_environment
def _wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
              wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    text = soft_str(s)
    separator = environment.newline_sequence if wrapstring is None else soft_str(wrapstring)
    lines = 2 * len(text) // max(_number(width), 1) + text.count("\n") + 1  # a line and the next word pass width
    _check_chars(len(text) + lines * len(separator), "the wordwrap filter's result")
    return jinja_filters.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    _check_chars(_percent_size(soft_str(value), kwargs or args), "the format filter's result")
    return jinja_filters.do_format(value, *args, **kwargs)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    if attribute is not None:
        value = map(jinja_filters.make_attrgetter(eval_ctx.environment, attribute), value)
    return jinja_filters.sync_do_join(eval_ctx, _joinable(value, len(soft_str(d)), "the join filter's result"), d)


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    size = _replaced_size(soft_str(s), soft_str(old), soft_str(new), -1 if count is None else count)
    _check_chars(size, "the replace filter's result")
    return jinja_filters.do_replace(eval_ctx, s, old, new, count)


def _check_pieces(count: Any, what: str) -> None:
    if isinstance(count, int) and count > RANGE_MAX:
        raise RenderBoundExceeded(f"{what} of more than {RANGE_MAX:,} pieces")


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if fill_with is not None:  # the last batch is padded to linecount items
        _check_pieces(linecount, "a padded batch")
    return jinja_filters.do_batch(value, linecount, fill_with)


def _slice(value: Collection[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_pieces(slices, "a slice")
    return jinja_filters.sync_do_slice(value, slices, fill_with)


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    if isinstance(start, _SEQUENCES):  # sum() joins lists and tuples
        if attribute is not None:
            iterable = map(jinja_filters.make_attrgetter(environment, attribute), iterable)
        items: list[Any] = []
        length = len(start)
        for item in iterable:
            length += len(item) if isinstance(item, Collection) else 1
            _check_chars(length, "the sum filter's result")
            items.append(item)
        iterable, attribute = items, None
    return jinja_filters.sync_do_sum(environment, iterable, attribute, start)


@pass_eval_context
def _urlize(eval_ctx: Any, value: Any, trim_url_limit: int | None = None, nofollow: bool = False,
            target: str | None = None, rel: str | None = None, extra_schemes: Iterable[str] | None = None) -> str:
    attributes = len(soft_str(target or "")) + len(soft_str(rel or ""))  # written into every link
    if attributes:
        _check_chars(len(soft_str(value)) * (1 + attributes), "the urlize filter's result")
    return jinja_filters.do_urlize(eval_ctx, value, trim_url_limit, nofollow, target, rel, extra_schemes)


@pass_context
def _map(context: Any, value: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """Mapping a filter makes a new value of each item (mapping an attribute does not): together they are
    bounded, or `|map('list')|list` over a list that shares one long text could fill the memory."""
    mapped = jinja_filters.sync_do_map(context, value, *args, **kwargs)
    return mapped if "attribute" in kwargs else _measured(mapped, "the map filter's result")


def _measured(items: Iterable[Any], what: str) -> Iterator[Any]:
    chars = 0
    for item in items:
        chars += _size(item, TEXT_CHARS_MAX - chars)
        _check_chars(chars, what)
        yield item


_SIZED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _center, "indent": _indent, "wordwrap": _wordwrap, "format": _format, "join": _join, "replace": _replace,
    "batch": _batch, "slice": _slice, "sum": _sum, "urlize": _urlize, "map": _map,
}


_ENV = _environment()


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
