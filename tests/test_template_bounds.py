"""Template bounds: a template that would hang a run or fill its memory (loops without end, huge
ranges, gigabytes of text made in one step) is refused quickly, with its reason, by every caller of
the sandbox; the project's templates render exactly as they do in jinja2's own sandbox."""

from __future__ import annotations

import datetime as dt
import signal
import time
import tracemalloc
from contextlib import contextmanager
from decimal import Decimal as D

import pytest
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from cmpsim import documents
from cmpsim.comms.render import TemplateRefused, render_message
from cmpsim.documents import RenderBoundExceeded, render_html, render_string
from cmpsim.paths import REPORT_DIR

SECONDS_MAX = 5  # a refusal takes well under a second here; the margin is for a slow, busy machine
TRACED_BYTES_MAX = 64 * 1024 * 1024  # a refused text of gigabytes allocates a few MB at most
KB100 = "x" * 100_000


def tree(depth: int, width: int) -> list:
    """Nested lists `depth` deep, each `width` references to one list: width**depth leaves in little memory."""
    level: list = [0] * width
    for _ in range(depth - 1):
        level = [level] * width
    return level


#: Templates that run without end, and the reason each is refused with.
ENDLESS = {
    "two nested range(100000) loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}", {},
        "range() of more than 10,000 numbers"),
    "two nested range(10000) loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}", {},
        "template loops ran more than 100,000 times"),
    "nested loops over 1,000 items of the context": (
        "{% for a in items %}{% for b in items %}{{ a }}{{ b }}{% endfor %}{% endfor %}", {"items": list(range(1000))},
        "template loops ran more than 100,000 times"),
    "a recursive loop over a million leaves": (
        "{% for node in tree recursive %}{% if node is iterable %}{{ loop(node) }}{% endif %}{% endfor %}",
        {"tree": tree(6, 10)}, "template loops ran more than 100,000 times"),
    "a macro calling itself twice, 40 deep": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}", {},
        "template macros were called more than 100,000 times"),
    "loops of an imported project macro": (
        "{% from 'bills/macros.html.j2' import letterhead %}"
        "{% for i in range(1000) %}{% set page = letterhead(provider) %}{% endfor %}",
        {"provider": {"name": "Nimbus", "address": ["line"] * 1000, "vat_number": "IE1"}},
        "template loops ran more than 100,000 times"),
    "lipsum(n=100000)": ("{{ lipsum(n=100000) }}", {}, "'lipsum' is undefined"),
}

#: Templates that make gigabytes of text, and the reason each is refused with.
HUGE = {
    "a 100 kB text printed 10,000 times": (
        "{% for i in range(10000) %}{{ text }}{% endfor %}", {"text": KB100},
        "template output would be longer than 5,000,000 characters"),
    "a 100 kB text captured 10,000 times": (
        "{% set page %}{% for i in range(10000) %}{{ text }}{% endfor %}{% endset %}{{ page|length }}",
        {"text": KB100}, "captured output would be longer than 5,000,000 characters"),
    "a macro returning a 100 kB text 10,000 times": (
        "{% macro page() %}{% for i in range(10000) %}{{ text }}{% endfor %}{% endmacro %}{{ page()|length }}",
        {"text": KB100}, "captured output would be longer than 5,000,000 characters"),
    "a text doubled 40 times": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        "{{ ns.s|length }}", {}, "'~' result would be longer than 5,000,000 characters"),
    "'x' * 10**9": ("{{ ('x' * 10**9)|length }}", {}, "'*' result would be longer than 5,000,000 characters"),
    "a list of a 100 kB text, 1,000 times": (
        "{{ ([text] * 1000)|length }}", {"text": KB100}, "'*' result would be longer than 5,000,000 characters"),
    "10 ** (10 ** 7)": ("{{ (10 ** (10 ** 7)) % 7 }}", {}, "'**' result would be a number of more than 10,000 bits"),
    "'%1000000000d' % 1": ("{{ ('%1000000000d' % 1)|length }}", {},
                           "'%' result would be longer than 5,000,000 characters"),
    "'{:>1000000000}'.format(1)": ("{{ '{:>1000000000}'.format(1)|length }}", {},
                                   "a field of str.format() would be longer than 5,000,000 characters"),
    "' '|center(10**9)": ("{{ (' '|center(10**9))|length }}", {},
                          "the center filter's result would be longer than 5,000,000 characters"),
    "'x'|indent(10**9)": ("{{ ('x'|indent(10**9))|length }}", {},
                          "the indent filter's result would be longer than 5,000,000 characters"),
    "wordwrap joining 2,000 lines with a 100 kB string": (
        "{{ (text|wordwrap(1, wrapstring=text))|length }}", {"text": "x " * 1000},
        "the wordwrap filter's result would be longer than 5,000,000 characters"),
    "'x'.ljust(10**9)": ("{{ 'x'.ljust(10**9)|length }}", {},
                         "the result of ljust() would be longer than 5,000,000 characters"),
    "a 100 kB text joined 100 times": ("{{ (texts|join)|length }}", {"texts": [KB100] * 100},
                                       "the join filter's result would be longer than 5,000,000 characters"),
    "every gap of a 100 kB text replaced by 1 kB": (
        "{{ (text|replace('', 'y' * 1000))|length }}", {"text": KB100},
        "the replace filter's result would be longer than 5,000,000 characters"),
    "a printed list holding one 100 kB text 60 times": (
        "{{ [" + ", ".join(["text"] * 60) + "] }}", {"text": KB100},
        "a printed value would be longer than 5,000,000 characters"),
}


@contextmanager
def at_most(seconds: float):
    """Fail rather than hang: a template the bounds missed would otherwise stop the test run."""
    def expire(signum, frame):
        raise TimeoutError(f"still rendering after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refusal(source: str, context: dict) -> tuple[str, float]:
    """The reason `source` is refused with, and the seconds it took to refuse it."""
    started = time.perf_counter()
    with at_most(30), pytest.raises(TemplateError) as refused:
        render_string(source, context)
    return str(refused.value), time.perf_counter() - started


@pytest.mark.parametrize(("source", "context", "reason"), ENDLESS.values(), ids=ENDLESS)
def test_a_template_that_would_run_without_end_is_refused_quickly(source, context, reason):
    refused, seconds = refusal(source, context)
    assert refused == reason
    assert seconds < SECONDS_MAX


@pytest.mark.parametrize(("source", "context", "reason"), HUGE.values(), ids=HUGE)
def test_a_template_that_would_make_gigabytes_is_refused_before_it_makes_them(source, context, reason):
    tracemalloc.start()
    try:
        refused, seconds = refusal(source, context)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused == reason
    assert seconds < SECONDS_MAX
    assert peak < TRACED_BYTES_MAX


def test_the_bound_errors_are_template_errors():
    with pytest.raises(RenderBoundExceeded):
        render_string("{{ 'x' * 10**9 }}", {})


def test_the_wall_clock_is_the_last_resort(monkeypatch):
    """Ten thousand iterations of a heavy body: within every counted bound, stopped by the clock."""
    monkeypatch.setattr(documents, "RENDER_SECONDS_MAX", 0.05)
    refused, seconds = refusal("{% for i in range(10000) %}{% set loud = text|upper %}{% endfor %}", {"text": KB100})
    assert refused == "template took more than 0.05 seconds to render"
    assert seconds < SECONDS_MAX


@pytest.mark.parametrize(("override", "reason"), [
    ("{% for i in range(10000) %}{% for j in range(10000) %}.{% endfor %}{% endfor %}",
     "template loops ran more than 100,000 times"),
    ("{{ 'x' * 10**9 }}", "'*' result would be longer than 5,000,000 characters"),
    ("{{ lipsum(n=100000) }}", "'lipsum' is undefined"),
])
def test_a_communication_over_a_bound_is_refused_with_the_reason(override, reason):
    for channel in ("sms", "push_handset"):
        with at_most(30), pytest.raises(TemplateRefused) as refused:
            render_message("bill-ready", channel, {}, {"bill-ready": {"text": override}})
        assert str(refused.value) == f"template bill-ready/text: {reason}"


# --- what renders as before ----------------------------------------------------------------------


def plain_sandbox() -> ImmutableSandboxedEnvironment:
    """jinja2's own sandbox set up as cmpsim.documents sets up its own, without the bounds."""
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(REPORT_DIR),
        autoescape=select_autoescape(disabled_extensions=("txt", "txt.j2"), default_for_string=True, default=True),
        undefined=StrictUndefined)
    env.filters.update(money=documents.money, rate=documents.rate, quantity=documents.quantity, date=documents.date)
    env.globals.update(period=documents.period)
    return env


EVERY_KIND_OF_LOOP = """{%- from 'comms/macros.txt.j2' import items as order_items -%}
{% macro row(k, v) %}<{{ k }}={{ v }}>{% endmacro -%}
{% for k, v in d.items() %}{{ row(k, v) }}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}
{% for x in [] %}never{% else %}empty{% endfor %}
{% for x in xs if x is odd %}{{ loop.cycle('a', 'b') }}{{ x }}{{ loop.revindex }}{% endfor %}
{% for x in xs|select('even') %}{{ loop.length }}{{ loop.previtem if not loop.first }}{% endfor %}
{% for n in tree recursive %}[{{ n.name }}{{ loop.depth }}{{ loop(n.children) if n.children }}]{% endfor %}
{% for i in range(300) %}{% for j in range(300) %}{% if i == j == 299 %}{{ i * j }}{% endif %}{% endfor %}{% endfor %}
{{ 'a' ~ 1 ~ none ~ '<b>' }} {{ '%s-%05.1f' % ('x', 2.5) }} {{ '{:>6}|{!r}'.format('ab', 'c') }} {{ [1, 2] * 2 }}
{{ 2 ** 10 }} {{ 'x' * 3 }}{{ (1, 2) + (3,) }} {{ xs|join(', ') }} {{ xs|map('string')|join }} {{ 'Hi'|center(8) }}|
{{ 'a b c d'|wordwrap(3) }} {{ 'a\nb'|indent(2, true) }} {{ 'aXb'|replace('X', '&') }} {{ xs|batch(2, 0)|list }}
{{ [1,2,3]|slice(2)|list }} {{ [[1], [2]]|sum(start=[]) }} {{ 'go to www.a.com'|urlize(target='_blank') }}
{{ "%d items"|format(3) }} {{ xs|sum }} {{ range(3)|list }} {% set ns = namespace(t=0) %}
{%- for x in xs %}{% set ns.t = ns.t + x %}{% endfor %}{{ ns.t }}
{% set block %}{% for x in xs %}{{ x }}{% endfor %}{% endset %}{{ block }}
{% filter upper %}up {{ xs|length }}{% endfilter %}
{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}{{ row('c', 1) }}{% endcall %}{{ order_items(lines) }}
{{ 'a,b'.split(',')|join('+') }} {{ 'abc'.upper().center(5, '*') }} {{ cycler('x', 'y').next() }}{{ joiner(',')() }}
{{ dict(a=1) }} {{ d|dictsort }} {{ 'ab'.translate({97: 'zz'}) }} {{ 'a\tb'.expandtabs(4) }}
"""


def test_loops_macros_and_filters_render_as_in_jinja2s_own_sandbox():
    context = {"d": {"a": 1, "b": "<x>"}, "xs": [1, 2, 3, 4, 5],
               "tree": [{"name": "r", "children": [{"name": "c1", "children": []},
                                                   {"name": "c2", "children": [{"name": "g", "children": []}]}]}],
               "lines": [{"product": "SIM", "quantity": 2}, {"product": "X1", "quantity": 1}]}
    rendered = render_string(EVERY_KIND_OF_LOOP, context)
    assert rendered == plain_sandbox().from_string(EVERY_KIND_OF_LOOP).render(context)
    assert "<a=1>1/2,<b=&lt;x&gt;>2/2\nempty\na13b32a51\n222\n[r1[c12][c22[g3]]]\n89401\n" in rendered


def bill(lines: int) -> dict:
    """The context of a bill whose invoice has `lines` lines."""
    period = {"period_from": dt.date(2026, 1, 1), "period_to": dt.date(2026, 1, 31)}
    return {
        "currency": "EUR",
        "provider": {"name": "Nimbus Mobile", "address": ["1 Quay Street", "Dublin 2"], "vat_number": "IE1234567T",
                     "support": "support@nimbus.example"},
        "account": {"account_id": "ACC-0042", "name": "Aoife Byrne", "address_line1": "12 Harbour Road",
                    "city": "Cork", "postcode": "T12 X7Y2", "country": "Ireland", "email": "aoife@example.org"},
        "statement": {"statement_id": "ST-1", "statement_date": dt.date(2026, 2, 1), "due_date": dt.date(2026, 2, 15),
                      "previous_balance": D("0"), "paid": D("0"), "adjustments": D("0"), "invoiced": D("15") * lines,
                      "new_balance": D("15") * lines,
                      "items": [{"doc_date": dt.date(2026, 2, 1), "doc_type": "invoice", "doc_id": "INV-1",
                                 "description": "Invoice for January", "amount": D("15") * lines}]},
        "invoice": {"invoice_id": "INV-1", "invoice_type": "cycle", "invoice_date": dt.date(2026, 2, 1),
                    "period_start": dt.date(2026, 1, 1), "period_end": dt.date(2026, 1, 31),
                    "due_date": dt.date(2026, 2, 15), "net_amount": D("12.50") * lines,
                    "tax_amount": D("2.50") * lines, "gross_amount": D("15") * lines,
                    "lines": [{"line_no": n, "line_type": "usage", "description": f"Roaming data, day {n}",
                               "quantity": D("1250"), "net_amount": D("12.50"), "tax_rate": D("0.2"),
                               "tax_amount": D("2.50"), "gross_amount": D("15.00"), **period}
                              for n in range(1, lines + 1)],
                    "tax_summary": [{"tax_rate": D("0.2"), "net_amount": D("12.50") * lines,
                                     "tax_amount": D("2.50") * lines}]},
    }


def test_a_bill_of_5000_lines_renders_as_in_jinja2s_own_sandbox():
    context = bill(5000)
    html = render_html("bills/bill.html.j2", context)
    assert html == plain_sandbox().get_template("bills/bill.html.j2").render(context)
    assert "Roaming data, day 5000" in html and "75,000.00" in html


def test_a_template_cannot_draw_at_random():
    with pytest.raises(TemplateError, match="random"):
        documents.render_string("{{ [1, 2, 3]|random }}", {})
