"""The long fuzz, round two: what an attacker does to a run rather than to a file's content.

Four generators, each run a few derandomized examples in CI and FUZZ_LONG_FACTOR times as many at
random under `CMPSIM_FUZZ=long` (see tests/test_fuzz_inputs.py and docs/trust.md):

- **inbox entries**: whatever a partner leaves in an inbox (folders, links of every kind, named pipes,
  sockets, devices, sparse files of up to 2 GiB, names of any bytes, uploads in progress, several at
  once) is loaded or set aside with its reason in one wake-up; nothing outside the run folder is read
  or changed, no link or special file stays in the run, and the run still passes `cmpsim check`;
- **template bombs**: templates built from loops, ranges, recursion, repetition, concatenation and
  every filter that makes text, nested at random: each renders or is refused with a one-line reason,
  in bounded time and memory, and never raises anything but TemplateRefused;
- **calendar edges**: dates and times at and past the edges of the calendar (leap days, ends of
  years and of the range, hours 24, seconds 60, days 0 and 32) wherever a scenario holds one: a
  scenario or a clear message; runs that start on an edge day run and pass `cmpsim check`;
- **concurrent commands**: runs, resumes and the reading commands started at random moments on one
  run folder (absent, finished, or interrupted): every command ends with exit 0 or a one-line
  message, never a traceback; the folder ends as a run that passes `cmpsim check`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_inputs import EXAMPLE_S_MAX, INBOUND, fuzz
from test_inbox_entries import snapshot
from test_run_folder import cmpsim
from test_scenario_fuzz import BASE
from test_template_bounds import at_most

from cmpsim.check import check
from cmpsim.comms.render import CHANNEL_PARTS, TemplateRefused, render_message
from cmpsim.documents import TEXT_CHARS_MAX
from cmpsim.errors import InputError
from cmpsim.files import INBOX_BYTES_MAX, encode_document, encrypt, is_partner_temporary
from cmpsim.runs import LOCK_NAME
from cmpsim.scenario import load
from conftest import SMALL, live_copy

END = "2026-01-11T00:00:00"
GIB = 1 << 30


# --- inbox entries -------------------------------------------------------------------------------

ENTRY_KINDS = ["order-dispatch", "bank-statement"]


@pytest.fixture(scope="module")
def inboxes(small_run, tmp_path_factory):
    """A writable copy of the small run at its end, beside a folder of the user's that links point into."""
    root = tmp_path_factory.mktemp("entries")
    outside = root / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.json.enc").write_bytes(b"the user's, not for the run")
    sim = live_copy(small_run, root / "run", END)
    sim.outside = outside
    sim.documents = {kind: json.loads(encode_document({"fileType": kind}))
                     for kind in ENTRY_KINDS}  # only its kind: valid names, refused content
    yield sim
    sim.store.close()


NAMES = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=30)
    .map(lambda stem: f"{stem}.json.enc"),
    st.sampled_from(["x.json.enc", ".hidden.json.enc", "x.json", "x.json.enc.part", "x.JSON.ENC", "x", "..json.enc",
                     " .json.enc", "x.json.enc ", "-x.json.enc", "\n.json.enc"]),
    st.binary(min_size=1, max_size=20).filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b".."))
    .map(lambda raw: os.fsdecode(raw + b".json.enc")),  # a name of any bytes, UTF-8 or not
)
LINK_TARGETS = ["/dev/zero", "/dev/null", "/dev/urandom", "/proc/self/mem", "/etc/passwd", "/nonexistent", "/",
                "..", "../..", "../../..", "../../../../outside/secret.json.enc", "self", "outside-file",
                "outside-folder", "inside-archive"]
ENTRY = st.one_of(
    st.tuples(st.just("file"), st.integers(0, 2000)),
    st.tuples(st.just("sparse"), st.sampled_from([INBOX_BYTES_MAX, INBOX_BYTES_MAX + 1, GIB, 2 * GIB])),
    st.tuples(st.just("directory"), st.sampled_from(["empty", "files", "links", "nested"])),
    st.tuples(st.just("link"), st.sampled_from(LINK_TARGETS)),
    st.tuples(st.just("fifo"), st.none()),
    st.tuples(st.just("socket"), st.none()),
    st.tuples(st.just("device"), st.sampled_from([(1, 3), (1, 5), (1, 8)])),  # null, zero, random
)


def make_entry(sim, inbox: Path, name: str, what: tuple) -> bool:
    """Put the entry `what` at inbox/name; False when this machine cannot make it (no right to)."""
    path, (kind, arg) = inbox / name, what
    if kind == "file":  # valid names, refused content: a document of the kind with no record in it
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        path.write_bytes(encrypt(sim.key, inbox.name, shown, encode_document({"fileType": inbox.name}))[:arg or None])
    elif kind == "sparse":
        with open(path, "wb") as out:
            out.truncate(arg)
    elif kind == "directory":
        (path / "deeper" / "deepest").mkdir(parents=True)
        if arg in ("files", "nested"):
            (path / "a.json.enc").write_bytes(b"inside a folder")
            (path / "deeper" / "deepest" / "b.json.enc").write_bytes(b"deep inside")
        if arg in ("links", "nested"):
            os.symlink("/dev/zero", path / "zero.json.enc")
            os.symlink(sim.outside, path / "deeper" / "out")
    elif kind == "link":
        target = {"self": name, "outside-file": sim.outside / "secret.json.enc",
                  "outside-folder": sim.outside / "folder",
                  "inside-archive": next((sim.run_dir / "files" / "archive").rglob("*.json.enc"))}.get(arg, arg)
        os.symlink(target, path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        if len(os.fsencode(path)) > 100:  # the longest path a socket takes
            return False
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(os.fsencode(path))
    else:
        try:
            os.mknod(path, 0o600 | 0o020000, os.makedev(*arg))
        except PermissionError:
            return False
    return True


def within_kept_entry(run_dir: Path, path: Path) -> bool:
    """Whether `path` is inside a folder kept unread in quarantine as a partner left it (links and all)."""
    parts = path.relative_to(run_dir).parts
    return parts[:2] == ("files", "quarantine") and len(parts) > 4 and parts[3].endswith(".entry")


def in_run(sim, name: str) -> list[tuple]:
    return sim.con.execute("SELECT status, reason, path FROM generic_files WHERE direction = 'in' AND name = ?",
                           [name]).fetchall()


@fuzz(12)
@given(kind=st.sampled_from(ENTRY_KINDS),
       entries=st.lists(st.tuples(NAMES, ENTRY), min_size=1, max_size=4, unique_by=lambda e: e[0]))
def test_any_entry_in_an_inbox_is_loaded_or_set_aside_and_nothing_outside_is_touched(inboxes, kind, entries):
    sim, root = inboxes, inboxes.run_dir.parent
    inbox = sim.run_dir / "files" / "in" / kind
    inbox.mkdir(parents=True, exist_ok=True)
    before = snapshot(root, skip=sim.run_dir)
    made = []
    for name, what in entries:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")  # as the register will name it
        if len(os.fsencode(name)) <= 200 and not os.path.lexists(inbox / name) \
                and not in_run(sim, shown) and make_entry(sim, inbox, name, what):
            made.append((name, what))
    began = time.monotonic()
    with at_most(EXAMPLE_S_MAX):
        for step in INBOUND[kind][0]:
            sim.execute(step)  # a defect raises here: the load daemons never may
    assert time.monotonic() - began < EXAMPLE_S_MAX
    for name, what in made:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        if is_partner_temporary(shown):
            assert os.path.lexists(inbox / name), "a partner's upload in progress was taken"
            continue
        assert not os.path.lexists(inbox / name), f"{shown!r}: still in the inbox"
        rows = in_run(sim, shown) or in_run(sim, f"not-utf8-{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}")
        assert len(rows) == 1, f"{shown!r} ({what}): registered {len(rows)} times"
        status, reason, path = rows[0]
        assert status == "Quarantined" and reason, (shown, what, status, reason)
        assert (sim.run_dir / path).is_file() and not (sim.run_dir / path).is_symlink()
    strays = [p for p in sim.run_dir.rglob("*") if (p.is_symlink() or not (p.is_file() or p.is_dir()))
              and not is_partner_temporary(p.name) and not within_kept_entry(sim.run_dir, p)]
    assert strays == [], "a link or a special file stayed in the run folder outside what was kept unread"
    assert snapshot(root, skip=sim.run_dir) == before, "something outside the run folder changed"


def test_the_run_passes_its_check_after_every_entry(inboxes):
    report = check(inboxes.con, run_dir=inboxes.run_dir)
    assert report.ok, report.failures.rows()


# --- template bombs ------------------------------------------------------------------------------

SIZES = st.sampled_from([0, 1, 7, 300, 10_000, 10_001, 100_000, 10**6, 10**9, 10**18])
TEXT = st.sampled_from(["'x'", "text", "(text * 2)", "'ab' * 10", "account.name"])


def expression(depth: int) -> st.SearchStrategy[str]:
    """A jinja2 expression that makes something: text, a number, a list or a range, nested `depth` deep."""
    if depth == 0:
        return TEXT | SIZES.map(str) | SIZES.map(lambda n: f"range({n})") | st.just("items")
    inner, size = expression(depth - 1), SIZES.map(str)
    return st.one_of(
        expression(0),
        st.tuples(inner, inner).map(lambda p: f"({p[0]} ~ {p[1]})"),
        st.tuples(inner, size).map(lambda p: f"({p[0]} * {p[1]})"),
        st.tuples(size, size).map(lambda p: f"({p[0]} ** {p[1]})"),
        st.tuples(inner, size).map(lambda p: f"({p[0]}|string|center({p[1]}))"),
        st.tuples(inner, size).map(lambda p: f"({p[0]}|string|indent({p[1]}, true))"),
        st.tuples(inner, size).map(lambda p: f"({p[0]}|string|wordwrap(1, wrapstring={p[0]}|string))"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}|list|join({p[1]}|string))"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}|string|replace('', {p[1]}|string))"),
        st.tuples(inner, size).map(lambda p: f"({p[0]}|list|batch({p[1]})|list)"),
        inner.map(lambda e: f"({e}|tojson)"), inner.map(lambda e: f"({e}|list|sum)"),
        size.map(lambda n: f"('%{n}d' % 1)"), size.map(lambda n: f"('{{:>{n}}}'.format(1))"),
        size.map(lambda n: f"('x'.ljust({n}))"), inner.map(lambda e: f"[{e}, {e}, {e}]"),
        st.sampled_from(["lipsum(n=100000)", "range(10**9)|list", "cycler(*range(10000))", "items|map('string')|list"]),
    )


def statement(depth: int) -> st.SearchStrategy[str]:
    """A jinja2 template part: output, loops (plain, nested, recursive), captures, macros calling
    themselves, doubling through a namespace, imports of the project's macros."""
    printed = expression(2).map(lambda e: f"{{{{ {e} }}}}")
    if depth == 0:
        return printed
    body = statement(depth - 1)
    return st.one_of(
        printed,
        st.tuples(expression(1), body).map(lambda p: f"{{% for i in {p[0]} %}}{p[1]}{{% endfor %}}"),
        body.map(lambda b: f"{{% set cap %}}{b}{{% endset %}}{{{{ cap ~ cap }}}}"),
        st.tuples(SIZES, st.integers(1, 3)).map(lambda p: "{% macro f(n) %}{% if n %}" + "{{ f(n - 1) }}" * p[1]
                                               + "{% endif %}x{% endmacro %}" + f"{{{{ f({p[0]}) }}}}"),
        SIZES.map(lambda n: "{% set ns = namespace(s='x') %}" + f"{{% for i in range({n}) %}}"
                  "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"),
        body.map(lambda b: "{% for n in tree recursive %}" + b + "{{ loop(n) if n is iterable }}{% endfor %}"),
        st.just("{% from 'comms/macros.txt.j2' import items as order_items %}"
                "{% for i in range(1000) %}{{ order_items(items) }}{% endfor %}"),
        body.map(lambda b: f"{{% filter upper %}}{b}{{% endfilter %}}"),
        st.tuples(body, body).map("".join),
    )


def tree(depth: int, width: int) -> list:
    level: list = [0] * width
    for _ in range(depth - 1):
        level = [level] * width
    return level


BOMB_CONTEXT = {"account": {"name": "Ada " * 1000}, "items": [{"product": "X" * 100, "quantity": 1}] * 1000,
                "tree": tree(5, 10)}
BOMB_BYTES_MAX = 256 * 1024 * 1024  # what a refusal may allocate at most: the bounds stop at a few MB of text
BOMB_SECONDS_MAX = 30  # the render's own last resort is 20 s


@fuzz(10)
@given(source=statement(2), channel=st.sampled_from(["sms", "email", "letter"]))
def test_a_template_bomb_renders_or_is_refused_within_bounds(source, channel):
    parts = {part: "Your bill" if part == "subject" else source for part in CHANNEL_PARTS[channel]}
    context = {**BOMB_CONTEXT, "text": "y" * 100_000}
    tracemalloc.start()
    began = time.monotonic()
    try:
        with at_most(BOMB_SECONDS_MAX + 10):
            message = render_message("bill-ready", channel, context, {"bill-ready": parts})
        assert len(message.text or "") + len(message.html or "") <= 2 * TEXT_CHARS_MAX
    except TemplateRefused as refused:
        reason = str(refused)
        assert any(reason.startswith(f"template bill-ready/{part}: ") for part in parts) and "\n" not in reason
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - began < BOMB_SECONDS_MAX
    assert peak < BOMB_BYTES_MAX, f"{peak:,} bytes allocated"


# --- calendar edges ------------------------------------------------------------------------------

YEARS = [1969, 1970, 1971, 1999, 2000, 2024, 2025, 2026, 2027, 2028, 2100, 2400, 2998, 2999, 3000, 9999, 0, 1]
DAYS = st.one_of(
    st.tuples(st.sampled_from(YEARS), st.integers(0, 13), st.sampled_from([0, 1, 28, 29, 30, 31, 32]))
    .map(lambda d: f"{d[0]:04d}-{d[1]:02d}-{d[2]:02d}"),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(str),
    st.sampled_from(["2026-1-5", "26-01-05", "2026-01-05 ", "２０２６-01-05", "2026/01/05", "+2026-01-05"]))
TIMES = st.one_of(
    st.tuples(st.integers(0, 25), st.integers(0, 61)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}"),
    st.sampled_from(["24:00", "23:59", "00:00", "23:59:60", "7:00", "07:00 ", "٠٧:٠٠", "12:00Z", "12:00+01:00"]))
MOMENTS = st.one_of(
    st.tuples(DAYS, TIMES).map("T".join),
    st.tuples(DAYS, TIMES, st.integers(0, 61)).map(lambda m: f"{m[0]}T{m[1]}:{m[2]:02d}"))
CALENDAR_PATHS = {  # where the baseline holds a day, a time of day or a moment, and what goes there
    ("start_date",): DAYS, ("faults", 0, "date"): DAYS, ("demand", "explicit_orders", 0, "at"): MOMENTS,
    ("service", "explicit_orders", 0, "at"): MOMENTS, ("warehouses", 0, "dispatch_time"): TIMES,
    ("demand", "business_hours", "open"): TIMES, ("demand", "business_hours", "close"): TIMES,
    ("billing", "run_at"): TIMES, ("payments", "bank_statement_at"): TIMES, ("probes", 6, "schedule", "at", 0): TIMES,
    ("schedules", "device_enrolment_request", "at", 0): TIMES,
    ("horizon_days",): st.sampled_from([0, 1, 365, 366, 367, 10**4, 10**6, -1, 2**63]),
}


@fuzz(40)
@given(data=st.data(), where=st.lists(st.sampled_from(sorted(CALENDAR_PATHS, key=str)), min_size=1, max_size=3))
def test_any_calendar_value_gives_a_scenario_or_a_clear_error(tmp_path_factory, data, where):
    document = json.loads(json.dumps(BASE))
    for path in where:
        node = document
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = data.draw(CALENDAR_PATHS[path], label=str(path))
    path = tmp_path_factory.mktemp("calendar") / "s.yaml"
    path.write_text(json.dumps(document, ensure_ascii=False))  # JSON is YAML: no YAML typing of dates
    try:
        with at_most(EXAMPLE_S_MAX):
            load(path)
    except InputError as error:
        text = str(error)
        assert text.startswith(f"{path}") and ": expected " in text and ", found " in text and "\n" not in text


EDGE_DAYS = st.sampled_from(["1970-01-01", "1999-12-31", "2000-02-28", "2000-02-29", "2024-02-29", "2026-12-31",
                             "2027-12-31", "2028-02-28", "2100-02-28", "2999-12-29"])  # the last start for 2 days


@fuzz(1)
@given(start=EDGE_DAYS, days=st.integers(1, 2))
def test_a_run_over_an_edge_of_the_calendar_runs_and_holds(tmp_path_factory, start, days):
    folder = tmp_path_factory.mktemp("edge")
    scenario = folder / "edge.yaml"  # the small scenario moved in time: its dated orders and faults left out
    scenario.write_text(json.dumps({"extends": str(SMALL), "start_date": start, "horizon_days": days,
                                    "demand": {"explicit_orders": []}, "faults": []}))
    done = cmpsim("run", scenario, "--days", days, "--out", folder / "run")
    assert done.returncode == 0, done.stderr[-3000:]
    checked = cmpsim("check", folder / "run")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    con = duckdb.connect(str(folder / "run" / "cmpsim.duckdb"), read_only=True)
    try:
        first, last, orders = con.execute("SELECT min(ts), max(ts), count(DISTINCT object_id) FILTER "
                                          "(object_type = 'order') FROM events").fetchone()
    finally:
        con.close()
    begins = dt.datetime.fromisoformat(start)
    assert begins <= first and last < begins + dt.timedelta(days=days), (first, last)
    assert orders > 0, "no order in the run's days"


# --- concurrent commands -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    done = cmpsim("run", SMALL, "--days", "1", "--out", out)
    assert done.returncode == 0, done.stderr
    return out


COMMANDS = {
    "run": lambda run, n: ["run", SMALL, "--days", "1", "--seed", str(n), "--out", run],
    "resume": lambda run, n: ["run", SMALL, "--resume", run],  # the scenario holds the key, kept nowhere else
    "check": lambda run, n: ["check", run],
    "summary": lambda run, n: ["summary", run],
    "report": lambda run, n: ["report", run, "--out", run.parent / f"report-{n}"],
}


@fuzz(2)
@given(start_as=st.sampled_from(["absent", "finished", "interrupted"]),
       commands=st.lists(st.tuples(st.sampled_from(sorted(COMMANDS)), st.floats(0, 6)), min_size=2, max_size=4))
def test_commands_at_once_on_one_run_folder_end_cleanly_and_leave_a_run(tmp_path_factory, finished_run, start_as,
                                                                       commands):
    root = tmp_path_factory.mktemp("concurrent")
    run = root / "run"
    if start_as != "absent":
        shutil.copytree(finished_run, run)
        if start_as == "interrupted":
            (run / "run.json").unlink()
    began, started = time.monotonic(), []
    for n, (name, delay) in enumerate(sorted(commands, key=lambda c: c[1])):
        time.sleep(max(0.0, began + delay - time.monotonic()))
        started.append((name, subprocess.Popen([sys.executable, "-m", "cmpsim", *map(str, COMMANDS[name](run, n))],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for name, process in started:
        out, err = process.communicate(timeout=600)
        assert "Traceback" not in err + out, f"{name}: {err[-3000:]}"
        assert process.returncode in (0, 2), f"{name} exit {process.returncode}: {err[-3000:]}"
        if process.returncode == 2:
            assert err.startswith("cmpsim: error: ") and err.count("\n") == 1, f"{name}: {err[-3000:]}"
    if not (run / "run.json").is_file() and run.is_dir():  # no writer got through: the run is resumed as a user would
        resumed = cmpsim("run", SMALL, "--resume", run)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
    if run.is_dir():
        checked = cmpsim("check", run)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
        assert (run / LOCK_NAME).is_file()
    else:
        assert start_as == "absent" and all(name not in ("run",) for name, _ in commands)
