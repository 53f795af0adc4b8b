"""The run database: DuckDB as the single source of truth.

The store creates the tables every process shares (the public data model of DESIGN.md, accounts,
products, generic files, counters) and offers the few bulk primitives the steps use: allocate ids,
append events, insert a frame. Each process module declares its own tables beside it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from cmpsim.journal import Journal, will_write

CORE_DDL = """
CREATE TABLE IF NOT EXISTS run_info (
    key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    name VARCHAR NOT NULL, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    account_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
    address_line1 VARCHAR NOT NULL, city VARCHAR NOT NULL, postcode VARCHAR NOT NULL,
    country VARCHAR NOT NULL, email VARCHAR, phone VARCHAR,
    bill_cycle_day INTEGER NOT NULL, price_list VARCHAR NOT NULL, hardware_charges VARCHAR);
CREATE TABLE IF NOT EXISTS products (
    product_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, product_class VARCHAR NOT NULL,
    unit_price DECIMAL(18,2) NOT NULL, tax_code VARCHAR NOT NULL, tax_rate DECIMAL(6,4) NOT NULL,
    serialised BOOLEAN NOT NULL, manufacturer VARCHAR NOT NULL, enrolable BOOLEAN NOT NULL,
    price_list VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_id VARCHAR, kind VARCHAR NOT NULL, order_type VARCHAR NOT NULL,
    account_id VARCHAR NOT NULL, status VARCHAR NOT NULL, status_reason VARCHAR,
    priority INTEGER NOT NULL, price_list VARCHAR, created_at TIMESTAMP NOT NULL,
    generated_at TIMESTAMP, completed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, product_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL, price_list VARCHAR, quantity INTEGER NOT NULL,
    unit_price DECIMAL(18,2) NOT NULL, status VARCHAR NOT NULL, status_reason VARCHAR,
    completed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS charges (
    charge_id VARCHAR, account_id VARCHAR NOT NULL, source_type VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL, line_no INTEGER NOT NULL, product_id VARCHAR NOT NULL,
    product_class VARCHAR NOT NULL, description VARCHAR NOT NULL, quantity INTEGER NOT NULL,
    unit_price DECIMAL(18,2) NOT NULL, net_amount DECIMAL(18,2) NOT NULL,
    tax_rate DECIMAL(6,4) NOT NULL, tax_amount DECIMAL(18,2) NOT NULL,
    gross_amount DECIMAL(18,2) NOT NULL, billing_mode VARCHAR NOT NULL,
    charge_date TIMESTAMP NOT NULL, status VARCHAR NOT NULL, invoice_id VARCHAR);
CREATE TABLE IF NOT EXISTS generic_files (
    file_id VARCHAR, kind VARCHAR NOT NULL, direction VARCHAR NOT NULL,
    party VARCHAR NOT NULL, name VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    records INTEGER, status VARCHAR NOT NULL, reason VARCHAR, batch_id VARCHAR,
    registered_at TIMESTAMP NOT NULL, duplicate_of VARCHAR);
CREATE TABLE IF NOT EXISTS faults_injected (
    fault_no INTEGER NOT NULL, kind VARCHAR NOT NULL, file_kind VARCHAR NOT NULL,
    injected_at TIMESTAMP NOT NULL, file_name VARCHAR NOT NULL, detail VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT, ts TIMESTAMP NOT NULL, object_type VARCHAR NOT NULL,
    object_id VARCHAR NOT NULL, activity VARCHAR NOT NULL, job VARCHAR NOT NULL, detail VARCHAR);
CREATE TABLE IF NOT EXISTS file_moves (
    move_no BIGINT, source VARCHAR NOT NULL, target VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS wakeups (
    wake_no BIGINT, at_s BIGINT NOT NULL, step VARCHAR NOT NULL, processed BIGINT);
CREATE TABLE IF NOT EXISTS job_runs (
    run_no BIGINT, job VARCHAR NOT NULL, component VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP NOT NULL, processed BIGINT NOT NULL,
    status VARCHAR NOT NULL, detail VARCHAR);
"""


class WorkingState(Protocol):
    """A process's open work kept in memory between flushes (docs/engine.md, "Working state").

    The record is what was written; the state is loaded from it when a process first needs it (at a
    run's start, or a resumed run's first real wake-up), and `write` brings the record up to date at
    every commit. `mark` and `restore` follow a transaction: a rolled-back one leaves the state as it
    was at its beginning."""

    def write(self, con: duckdb.DuckDBPyConnection) -> None: ...
    def mark(self) -> None: ...
    def restore(self) -> None: ...


# Events held as rows: the fragment they make in a query, and the order they are numbered in.
EVENT_ROWS = ("SELECT unnest(?::TIMESTAMP[]) AS ts, unnest(?::VARCHAR[]) AS object_type, "
              "unnest(?::VARCHAR[]) AS object_id, unnest(?::VARCHAR[]) AS activity, unnest(?::VARCHAR[]) AS job, "
              "unnest(?::VARCHAR[]) AS detail")
EVENT_ROWS_SCHEMA = {"ts": pl.Datetime("us"), "object_type": pl.String, "object_id": pl.String,
                     "activity": pl.String, "job": pl.String, "detail": pl.String}


class Store:
    """A DuckDB run database plus the bulk primitives every step uses."""

    def __init__(self, path: Path | str, read_only: bool = False):
        self.path = Path(path)
        # Checkpoint at the end of a run (and at day ends later), not whenever the WAL passes 16 MB.
        config = {} if read_only else {"checkpoint_threshold": "4GB"}
        self.con = duckdb.connect(str(path), read_only=read_only, config=config)
        # Files the database refers to (archived usage) are named relative to the run folder, so a
        # run folder can be moved or copied and still be queried whole.
        folder = str(self.path.resolve().parent).replace("'", "''")
        self.con.execute(f"SET file_search_path = '{folder}'")
        if not read_only:
            self.con.execute(CORE_DDL)
        # Counters are read once and written back with each transaction that moved them; between
        # transactions the table and this mirror are equal, so a resumed run continues exactly.
        self._counters = dict(self.con.execute("SELECT name, value FROM counters").fetchall())
        self._stored = set(self._counters)
        self._moved: set[str] = set()
        # This wake-up's events, numbered when it ends: (query, its parameters) or (None, a frame of rows).
        self._pending_events: list[tuple[str | None, list | pl.DataFrame]] = []
        # Numbered, not written yet (write_events): each frame with its first seq and its activities.
        self._events: list[tuple[pl.DataFrame, int, frozenset[str]]] = []
        self._events_written = 0  # bumped whenever `events` changes (written, or rolled back): `has_events_since`
        self._events_seen: dict[tuple, tuple[int, bool]] = {}
        self._pending_moves: list[tuple[str, str]] = []
        self._snapshot: dict[str, int] = dict(self._counters)
        self._later: dict[str, list[tuple]] = {}  # bookkeeping rows kept for the flush
        self._row_sql: dict[str, str] = {}  # the insert of a table's kept rows, one list per column
        self.window = False  # a flush window is open (see open_window)
        self.journal = Journal(self.path.parent)
        self._working: dict[str, WorkingState] = {}  # the processes' open work in memory (`working`)

    def working(self, name: str, load: Callable[[Store], WorkingState]) -> WorkingState:
        """The working state `name` of a process, loaded from the record (`load`) the first time it is
        asked for; written back at every commit from then on."""
        state = self._working.get(name)
        if state is None:
            state = self._working[name] = load(self)
            state.mark()
        return state

    def _mark(self) -> None:
        """A transaction or window begins: what to go back to if it is rolled back."""
        self._snapshot = dict(self._counters)
        for state in self._working.values():
            state.mark()

    def close(self) -> None:
        self.con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One atomic step: everything inside commits together or not at all (see `commit_so_far`).

        Inside a flush window (`open_window`) it is one wake-up of the window instead: its events are
        numbered and its file moves made when it ends, and it commits with the window at the flush."""
        if self.window:
            yield self.con
            self._flush_moves()
            self.number_events()
            self._apply_moves()
            return
        self._mark()
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
            self._write_pending()
        except BaseException:
            self.con.execute("ROLLBACK")
            self._forget()
            raise
        self.con.execute("COMMIT")
        self._apply_moves()

    def commit_so_far(self) -> None:
        """Commit what the open transaction has written and go on in a new one: a job that crashes
        after this point keeps its work up to here (a crash half-way, see engine.Simulation.checkpoint)."""
        self._write_pending()
        self.con.execute("COMMIT")
        self._apply_moves()
        self._mark()
        self.con.execute("BEGIN TRANSACTION")

    def _write_pending(self) -> None:
        """What a transaction kept for its commit: the working states written, moves recorded, events
        numbered, bookkeeping rows appended, counters written (a window's moves and events are written as
        each wake-up ends)."""
        self.write_working()
        self._flush_moves()
        self.number_events()
        self.write_events()
        self._append_later()
        self._flush_counters()

    def write_working(self) -> None:
        """Bring the record up to date with the processes' working states, as every commit does."""
        for state in self._working.values():
            state.write(self.con)

    def open_window(self) -> None:
        """Begin a flush window: the wake-ups that follow commit together at the next `flush`. Their
        file changes are journaled (cmpsim.journal), so a killed run resumes from the last flush."""
        self._mark()
        self.con.execute("BEGIN TRANSACTION")
        self.window = True
        self.journal.activate()

    def flush(self, reopen: bool = True) -> None:
        """Commit the window in one transaction — the bookkeeping rows kept for it appended in bulk, the
        counters written — clear the journal, and (with `reopen`) begin the next window."""
        self._write_pending()
        self.con.execute("COMMIT")
        self.window = False
        self.journal.deactivate()
        self.journal.clear()
        if reopen:
            self.open_window()

    def abort_window(self) -> None:
        """Give up the open window (a stopped or failed run): the database stays at the last flush, the
        files as they are, for `resume` to undo with the journal."""
        if not self.window:
            return
        self.window = False
        self.journal.deactivate()
        with contextlib.suppress(duckdb.Error):  # an interrupted connection may refuse: the run stops anyway
            self.con.execute("ROLLBACK")
            self._forget()

    def _forget(self) -> None:
        """What a rolled-back transaction or window had kept in memory."""
        self._counters, self._moved, self._pending_events, self._events = self._snapshot, set(), [], []
        self._events_written += 1
        self._pending_moves, self._later = [], {}
        for state in self._working.values():
            state.restore()
        self._stored = set(dict(self.con.execute("SELECT name, value FROM counters").fetchall()))

    def append(self, table: str, row: tuple) -> None:
        """Append a row of bookkeeping (`job_runs`, `wakeups`): kept in memory within a flush window and
        appended in bulk with the others at the flush; written at once outside one."""
        self._later.setdefault(table, []).append(row)
        if not self.window:
            self._append_later()

    def _append_later(self) -> None:
        later, self._later = self._later, {}
        for table, rows in later.items():
            if table not in self._row_sql:
                types = self.con.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = ? "
                                         "ORDER BY column_index", [table]).fetchall()
                self._row_sql[table] = f"INSERT INTO {table} SELECT " + ", ".join(
                    f"unnest(?::{t}[])" for (t,) in types)
            self.con.execute(self._row_sql[table], [list(c) for c in zip(*rows, strict=True)])

    def move_file(self, source: Path, target: Path) -> None:
        """Move a file of the run folder when the step's work is done, never before: recorded in
        `file_moves` with that work. Outside a flush window the move follows the commit (a crash
        between the two is repaired on resume by `finish_moves`); inside one it follows the wake-up,
        journaled first, and a crash before the flush is undone on resume (cmpsim.journal). Paths are
        relative to the database's folder."""
        base = self.path.parent
        rows = [str(Path(source).relative_to(base)), str(Path(target).relative_to(base))]
        self._pending_moves.append((rows[0], rows[1]))

    def _apply_moves(self) -> None:
        moves, self._pending_moves = self._pending_moves, []
        base = self.path.parent
        for source, target in moves:
            if self.window:
                self.journal.will_move(base / source, base / target)
            _move(base, source, target)

    def _flush_moves(self) -> None:
        if not self._pending_moves:
            return
        base = self.allocate("file_move", len(self._pending_moves))
        self.con.execute("INSERT INTO file_moves SELECT ? + unnest(range(1, ?)), unnest(?), unnest(?)",
                         [base, len(self._pending_moves) + 1, [m[0] for m in self._pending_moves],
                          [m[1] for m in self._pending_moves]])

    def finish_moves(self) -> int:
        """After a crash: make every committed move that did not happen (source still there, target
        not). Returns how many it made."""
        done = 0
        for source, target in self.con.execute("SELECT source, target FROM file_moves ORDER BY move_no").fetchall():
            done += _move(self.path.parent, source, target)
        return done

    def _flush_counters(self) -> None:
        if not self._moved:
            return
        old, new = sorted(self._moved & self._stored), sorted(self._moved - self._stored)
        if old:
            self.con.execute(
                "UPDATE counters SET value = v.value FROM (SELECT unnest(?) AS name, "
                "unnest(?) AS value) v WHERE counters.name = v.name",
                [old, [self._counters[n] for n in old]],
            )
        if new:
            self.con.execute(
                "INSERT INTO counters SELECT unnest(?), unnest(?)", [new, [self._counters[n] for n in new]]
            )
            self._stored.update(new)
        self._moved = set()

    def allocate(self, name: str, n: int) -> int:
        """Reserve `n` consecutive numbers of counter `name`; returns the last number used before."""
        last = self._counters.get(name, 0)
        if n:
            self._counters[name] = last + n
            self._moved.add(name)
        return last

    def insert(self, table: str, frame: pl.DataFrame) -> int:
        """Append a frame to a table in one statement, columns matched by name."""
        if frame.height == 0:
            return 0
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with registered(self.con, "_frame", frame.to_arrow()):
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _frame")
        return frame.height

    def record_events(self, select_sql: str, params: list | None = None) -> None:
        """Add the events produced by a query of (ts, object_type, object_id, activity, job, detail).

        The queries of one transaction are evaluated together when it commits, in one insert, so
        they must read what stays put until then (the step's own temporary tables, or rows the
        step will not change again). Sequence numbers follow (ts, object_type, object_id, order of
        recording, activity, detail), so the log is identical from run to run.
        """
        self._pending_events.append((select_sql, list(params or [])))

    def record_event_frame(self, events: pl.DataFrame, job: str) -> None:
        """`record_events` for events the step holds already: a frame of ts, object_type, object_id,
        activity and detail (detail may be null), the events of `job`, numbered with the rest."""
        if events.height:
            rows = events.select("ts", "object_type", "object_id", "activity", job=pl.lit(job), detail="detail")
            self._pending_events.append((None, rows.cast(EVENT_ROWS_SCHEMA)))

    def record_events_at(self, ts: dt.datetime | list, object_type: str, object_ids: list, activity: str | list,
                         job: str, detail: list | None = None) -> None:
        """`record_event_frame` for events of one object type (and one activity, unless given one each),
        at one moment or one each, from the objects a step holds or read back (an `UPDATE … RETURNING`)."""
        if not isinstance(ts, list):
            ts = [ts] * len(object_ids)
        self.record_event_frame(pl.DataFrame({"ts": ts, "object_id": object_ids}, schema_overrides={
            "ts": pl.Datetime("us"), "object_id": pl.String}).with_columns(
                object_type=pl.lit(object_type),
                activity=pl.Series(activity, dtype=pl.String) if isinstance(activity, list) else pl.lit(activity),
                detail=pl.Series(detail, dtype=pl.String) if detail is not None else pl.lit(None, pl.String)), job)

    @property
    def last_event(self) -> int:
        """The sequence number of the last event numbered (0: none yet)."""
        return self._counters.get("event", 0)

    def number_events(self) -> frozenset[str]:
        """Number the events recorded by the wake-up (or transaction) so far, and return their
        activities: at its end, and where the triggers it invokes look at them (engine.OnEvents). When
        they are all rows the step held, they are numbered here and kept in memory, to reach `events` in
        bulk at the next commit, or sooner when a step reads the log (`write_events`): no statement at
        all. Events of queries are evaluated and appended in one statement."""
        if not self._pending_events:
            return frozenset()
        pending, self._pending_events = self._pending_events, []
        base = self._counters.get("event", 0)
        if all(sql is None for sql, _ in pending):
            # Numbered in the order DuckDB sorts them below: text byte by byte, NULL last.
            events = pl.concat([frame.with_columns(_frag=pl.lit(frag)) for frag, (_, frame) in enumerate(pending)])
            events = events.sort("ts", "object_type", "object_id", "_frag", "activity", "detail", nulls_last=True,
                                 maintain_order=True)
            events = events.select(pl.int_range(base + 1, base + 1 + events.height, dtype=pl.Int64).alias("seq"),
                                   *EVENT_ROWS_SCHEMA)
            self.allocate("event", events.height)
            activities = frozenset(events["activity"].unique().to_list())
            self._events.append((events, base + 1, activities))
            return activities
        # The fragment's position orders events of one moment and object that were recorded one after
        # the other (Suspended, then the line changes, then Resumed), whatever their names. Written at
        # once: one statement evaluates the queries and appends their rows.
        union = " UNION ALL ".join(f"(SELECT *, {i} AS _frag FROM ({sql or EVENT_ROWS}))"
                                   for i, (sql, _) in enumerate(pending))
        params = [p for sql, given in pending
                  for p in (given if sql is not None else [given[c].to_list() for c in EVENT_ROWS_SCHEMA])]
        logged = self.con.execute(
            "INSERT INTO events SELECT ? + row_number() OVER (ORDER BY ts, object_type, object_id, _frag, "
            f"activity, detail), ts, object_type, object_id, activity, job, detail FROM ({union}) RETURNING activity",
            [base] + params).fetchall()
        self.allocate("event", len(logged))
        self._events_written += 1
        return frozenset(activity for (activity,) in logged)

    def write_events(self) -> None:
        """Append the events numbered since the last write to `events`, in one statement: at every
        commit, and before a step reads the log within a flush window (the comms trigger, the workflow)."""
        if not self._events:
            return
        events, self._events = self._events, []
        self.insert("events", pl.concat([frame for frame, _, _ in events]))
        self._events_written += 1

    def held_events(self, after_seq: int, activities: tuple[str, ...]) -> pl.DataFrame:
        """The events numbered after `after_seq` with one of `activities` that are held in memory, not in
        `events` yet (seq and the table's columns): a step reading the log within a window reads them
        beside the table's, with no insert (the Comms Trigger)."""
        wanted = frozenset(activities)
        frames = [_after(frame, first, after_seq, wanted) for frame, first in self._unread(after_seq, wanted)]
        return pl.concat(frames) if frames else pl.DataFrame(schema={"seq": pl.Int64, **EVENT_ROWS_SCHEMA})

    def has_events_since(self, after_seq: int, activities: tuple[str, ...]) -> bool:
        """Whether the log has an event numbered after `after_seq` with one of `activities`, counting the
        events held in memory without writing them (a due look that reads the log costs no insert). What
        the table holds is asked again only after it changed."""
        wanted = frozenset(activities)
        for frame, first in self._unread(after_seq, wanted):
            if first > after_seq or _after(frame, first, after_seq, wanted).height:  # all unread: no filter
                return True
        key = (after_seq, wanted)
        seen = self._events_seen.get(key)
        if seen is None or seen[0] != self._events_written:
            found = bool(self.scalar("SELECT count(*) FROM events WHERE seq > ? AND activity IN (SELECT unnest(?))",
                                     [after_seq, sorted(wanted)]))
            seen = (self._events_written, found)
            self._events_seen = {k: v for k, v in self._events_seen.items() if v[0] == seen[0]} | {key: seen}
        return seen[1]

    def _unread(self, after_seq: int, wanted: frozenset[str]) -> Iterator[tuple[pl.DataFrame, int]]:
        """The frames of events held in memory (and their first number) that may hold an event numbered
        after `after_seq` with one of the `wanted` activities: none of the others can."""
        for frame, first, held in self._events:
            if held & wanted and first + frame.height - 1 > after_seq:
                yield frame, first

    def frame(self, sql: str, params: list | None = None) -> pl.DataFrame:
        return self.con.sql(sql, params=params or None).pl()

    def scalar(self, sql: str, params: list | None = None):
        rows = self.con.execute(sql, params or []).fetchall()  # fetch all: DuckDB 2 wants results drained
        return rows[0][0] if rows else None

    def set_info(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO run_info VALUES (?, ?)", [key, value])


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: Any) -> Iterator[None]:
    """`table` (Arrow, polars) visible to the connection's statements as `name` within the block.

    When the block fails, its own error is the one raised: a statement that failed or was interrupted
    (Ctrl-C) aborts the transaction, and the connection then refuses even to unregister the name."""
    con.register(name, table)
    try:
        yield
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)
        raise
    con.unregister(name)


def _move(base: Path, source: str, target: str) -> int:
    """Move base/source to base/target unless that already happened; 1 when it moved something.

    Never through a symbolic link: whether source and target are there is asked of the entries
    themselves (a dangling link is there). A link or a special file (named pipe, socket, device)
    moved into the run's folders does not stay one: it is replaced there by a regular file that
    describes it (`describe_entry`), so no entry of the run folder leads outside it or blocks whoever
    opens it. The move is witnessed by the target, so it is done once, even when a crash came between
    the move and the replacement (made here the next time, by `finish_moves`)."""
    src, dst = base / source, base / target
    moved = 0
    if not os.path.lexists(dst) and os.path.lexists(src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        moved = 1
    try:
        mode = os.lstat(dst).st_mode
    except FileNotFoundError:
        return moved
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        write_whole(dst, describe_entry(dst))
    return moved


OWN_TEMPORARY = ".cmpsim-tmp"


def temporary_path(path: Path) -> Path:
    """Where cmpsim writes `path` before renaming it into place: `.<name>.cmpsim-tmp`, hidden and
    with a suffix no partner uses, so a crash's leftover is recognisably cmpsim's own (removed on
    resume: files.remove_own_temporaries) and a partner's upload in progress (`*.part`) never is."""
    return path.with_name(f".{path.name}{OWN_TEMPORARY}")


def write_whole(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (its folder must exist): the bytes go to `temporary_path`,
    created afresh and never through a link (whatever was there under that name is removed first),
    then renamed over `path`, which replaces the entry there, a link itself included, never what a
    link points to."""
    will_write(path)
    tmp = temporary_path(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    with open(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


_ENTRY_TYPES = ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"),
                (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                (stat.S_ISBLK, "block device"))


def entry_type(mode: int) -> str:
    """What an entry is, from its `lstat` mode: "regular file", "directory", "symbolic link", ..."""
    return next((name for test, name in _ENTRY_TYPES if test(mode)), "special file")


def describe_entry(path: Path) -> bytes:
    """A directory entry described without opening it or following it, as canonical JSON: its type,
    the size of a regular file, the target text of a link (bytes that are not UTF-8 as \\xNN), nothing
    that changes from run to run (no times, no inode). It stands in the register for an inbox entry
    that is no generic file (files.py), and replaces a link or special file moved into the run's folders."""
    info = os.lstat(path)
    description: dict[str, str | int] = {"entry": entry_type(info.st_mode)}
    if stat.S_ISREG(info.st_mode):
        description["bytes"] = info.st_size
    if stat.S_ISLNK(info.st_mode):
        description["target"] = os.readlink(os.fsencode(path)).decode("utf-8", "backslashreplace")
    return json.dumps(description, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def table_checksum(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A checksum of a table's content, independent of physical row order."""
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    order = ", ".join(f'"{c}"' for c in cols)
    rows = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(row).encode())
    return digest.hexdigest()


def ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _after(frame: pl.DataFrame, first: int, after_seq: int, wanted: frozenset[str]) -> pl.DataFrame:
    """The events of a held frame (numbered from `first`) numbered after `after_seq` with a `wanted` activity."""
    return frame.slice(max(after_seq + 1 - first, 0)).filter(pl.col("activity").is_in(list(wanted)))
