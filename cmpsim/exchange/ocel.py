"""OCEL 2.0 export: a run as an object-centric event log, in the standard's JSON and SQLite forms.

`export_ocel(run, out_dir)` reads the run database and writes `<run>.json` and `<run>.sqlite`
(docs/exchange.md). The log is built once in DuckDB as temporary tables — events, objects, their
relations and attribute values (`cmpsim.exchange.ocel_model` says what each is) — and then written
twice. Both files hold exactly one event per row of `events` and one object per row of each object
table. The output is sorted and has no wall-clock time, so the same run gives byte-identical files.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cmpsim.errors import InputError
from cmpsim.exchange import jsontext as jt
from cmpsim.exchange.ocel_model import (
    EVENT_OBJECT_SQL,
    EVENT_OBJECT_TYPES,
    FLOAT,
    INTEGER,
    KINDS,
    LIFECYCLE,
    OBJECT_OBJECT_SQL,
    STATUS,
    TIME,
    ObjectKind,
)

FORMATS = ("json", "sqlite")
EPOCH_SQLITE = "1970-01-01 00:00:00"
TIME_SQLITE = "%Y-%m-%d %H:%M:%S"
SQLITE_TYPES = {INTEGER: "INTEGER", FLOAT: "REAL", TIME: "TIMESTAMP"}
TEMP_TABLES = ("_ocel_events", "_ocel_objects", "_ocel_status", "_ocel_e2o", "_ocel_o2o", "_ocel_status_json",
               "_ocel_o2o_json",
               *(f"_ocel_kind_{i}" for i in range(len(KINDS))))


@dataclass
class OcelExport:
    """What an export wrote: the files and the figures a user checks them by."""

    paths: list[Path]
    events: int
    objects: dict[str, int]
    event_objects: int
    object_objects: int
    seconds: float = 0.0
    event_types: list[str] = field(default_factory=list)


def export_ocel(run, out_dir: str | Path, formats: tuple[str, ...] = FORMATS) -> OcelExport:
    """Write the run's OCEL 2.0 log into `out_dir` as `<run folder name>.json` and/or `.sqlite`."""
    started = time.perf_counter()
    for f in formats:
        if f not in FORMATS:
            raise InputError("argument --format", "", "json, sqlite or both", repr(f))
    out_dir = Path(out_dir)
    con = run.con
    try:
        _build(con, str(run.run_dir / "cmpsim.duckdb"))
        stem = run.run_dir.resolve().name
        paths = []
        if "json" in formats:
            paths.append(_write_json(con, out_dir / f"{stem}.json"))
        if "sqlite" in formats:
            paths.append(_write_sqlite(con, out_dir / f"{stem}.sqlite"))
        result = _figures(con, paths)
    finally:
        for table in TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    result.seconds = time.perf_counter() - started
    return result


def _figures(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> OcelExport:
    objects = dict(con.execute("SELECT ocel_type, count(*) FROM _ocel_objects GROUP BY 1 ORDER BY 1").fetchall())
    return OcelExport(
        paths=paths,
        events=con.execute("SELECT count(*) FROM _ocel_events").fetchone()[0],
        objects=objects,
        event_objects=con.execute("SELECT count(*) FROM _ocel_e2o").fetchone()[0],
        object_objects=con.execute("SELECT count(*) FROM _ocel_o2o").fetchone()[0],
        event_types=[r[0] for r in con.execute("SELECT DISTINCT activity FROM _ocel_events ORDER BY 1").fetchall()])


# --- building the log in DuckDB -------------------------------------------------------------------

def _build(con: duckdb.DuckDBPyConnection, source: str) -> None:
    types = jt.values_table([(k, t, p) for k, (t, p) in sorted(EVENT_OBJECT_TYPES.items())],
                            ("object_type", "ocel_type", "prefix"))
    ranks = jt.values_table([(a, f"{i:03d}") for i, a in enumerate(LIFECYCLE)], ("activity", "step"), "r")
    # `position`: the order of the export files (time, then the seeds' lifecycle within one second).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ocel_events AS
        SELECT 'e' || e.seq AS event_id, e.seq, e.ts, e.object_type, e.object_id, e.activity, e.job, e.detail,
               coalesce(t.ocel_type, e.object_type) AS ocel_type,
               coalesce(t.prefix, '') || e.object_id AS object_ocel_id,
               row_number() OVER (ORDER BY e.ts, coalesce(r.step, '999'), e.seq) AS position
        FROM events e LEFT JOIN {types} USING (object_type) LEFT JOIN {ranks} USING (activity)""")
    for i, kind in enumerate(KINDS):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _ocel_kind_{i} AS {_kind_sql(kind)}")
    kinds = " UNION ALL ".join(f"SELECT ocel_id, '{k.name}' AS ocel_type FROM _ocel_kind_{i}"
                               for i, k in enumerate(KINDS))
    # An event naming an object its table does not hold still gets that object (no attributes).
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ocel_objects AS
        WITH listed AS ({kinds})
        SELECT * FROM listed
        UNION ALL SELECT DISTINCT object_ocel_id, ocel_type FROM _ocel_events
                  WHERE object_ocel_id NOT IN (SELECT ocel_id FROM listed)""")
    _check_unique(con, source)
    statuses = jt.values_table(STATUS, ("object_type", "activity", "status"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ocel_status AS
        SELECT e.object_ocel_id AS ocel_id, e.ocel_type, e.ts, e.position, t.status
        FROM _ocel_events e JOIN {statuses} USING (object_type, activity)""")
    _relations(con, "_ocel_e2o", EVENT_OBJECT_SQL, ("event_id", "object_id", "qualifier"), ("object_id",))
    _relations(con, "_ocel_o2o", OBJECT_OBJECT_SQL, ("source_id", "target_id", "qualifier"),
               ("source_id", "target_id"))


def _kind_sql(kind: ObjectKind) -> str:
    columns = [f'({a.sql}) AS "{a.name}"' for a in kind.attributes]
    status = f", ({kind.status_sql})::VARCHAR AS _status" if kind.status_sql else ", NULL::VARCHAR AS _status"
    return f"SELECT ({kind.id_sql})::VARCHAR AS ocel_id, {', '.join(columns)}{status} FROM {kind.source}"


def _check_unique(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """OCEL ids are global: two objects with one id would merge in every tool that reads the log."""
    clash = con.execute("""SELECT ocel_id, string_agg(ocel_type, ' and ' ORDER BY ocel_type) FROM _ocel_objects
                           GROUP BY ocel_id HAVING count(*) > 1 ORDER BY ocel_id LIMIT 1""").fetchone()
    if clash:
        raise InputError(source, "", "object ids unique across the object types of the run",
                         f"{clash[0]!r} both as {clash[1]}")


def _relations(con: duckdb.DuckDBPyConnection, table: str, queries: tuple[str, ...], columns: tuple[str, ...],
               must_exist: tuple[str, ...]) -> None:
    """Union of the relation queries, without duplicates, keeping only relations to objects in the log."""
    union = " UNION ALL ".join(f"SELECT * FROM ({q})" for q in queries)
    named = ", ".join(f"column{i} AS {c}" for i, c in enumerate(columns))
    exists = " AND ".join(f"{c} IN (SELECT ocel_id FROM _ocel_objects)" for c in must_exist)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                    SELECT DISTINCT {named} FROM ({union}) r(column0, column1, column2)
                    WHERE {exists}""")


def _object_types(con: duckdb.DuckDBPyConnection) -> list[tuple[str, ObjectKind | None, bool]]:
    """(type, its kind or None, whether it carries a status) for every type that has objects."""
    present = [r[0] for r in con.execute("SELECT DISTINCT ocel_type FROM _ocel_objects ORDER BY 1").fetchall()]
    by_name = {k.name: k for k in KINDS}
    moving = {EVENT_OBJECT_TYPES.get(t, (t, ""))[0] for t, _, _ in STATUS}
    return [(t, by_name.get(t), t in moving or bool(by_name.get(t) and by_name[t].status_sql)) for t in present]


# --- the JSON form -------------------------------------------------------------------------------

def _write_json(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    types = _object_types(con)
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write('{"objectTypes":[\n' + _object_types_json(types))
        out.write('\n],"eventTypes":[')
        jt.write_rows(con, """SELECT '{"name":' || to_json(activity) || ',"attributes":[{"name":"job","type":"string"},'
                                     || '{"name":"detail","type":"string"}]}'
                              FROM (SELECT DISTINCT activity FROM _ocel_events) ORDER BY activity""", out)
        out.write('\n],"objects":[')
        _object_parts_json(con)
        first = True
        for name, kind, _ in types:
            written = jt.write_rows(con, _objects_json(name, kind), out, first=first)
            first = first and written == 0
        out.write('\n],"events":[')
        jt.write_rows(con, _events_json(), out)
        out.write("\n]}\n")
    os.replace(tmp, path)
    return path


def _object_types_json(types: list[tuple[str, ObjectKind | None, bool]]) -> str:
    """The `objectTypes` declarations: each type's attributes with their OCEL types."""
    texts = []
    for name, kind, has_status in types:
        attributes = [(a.name, a.kind) for a in kind.attributes] if kind else []
        attributes += [("status", "string")] if has_status else []
        declared = ",".join(f'{{"name":{_json_literal(a)},"type":"{t}"}}' for a, t in attributes)
        texts.append(f'{{"name":{_json_literal(name)},"attributes":[{declared}]}}')
    return ",\n".join(texts)


def _object_parts_json(con: duckdb.DuckDBPyConnection) -> None:
    """Each object's status entries and relationships as JSON text, aggregated once for all types."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ocel_status_json AS
        SELECT ocel_id, string_agg('{{"name":"status","time":' || {jt.moment("ts")} || ',"value":' || to_json(status)
                                   || '}}', ',' ORDER BY position) AS entries
        FROM _ocel_status GROUP BY ocel_id""")
    relationship = jt.obj(("objectId", jt.json_str("target_id")), ("qualifier", jt.json_str("qualifier")))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _ocel_o2o_json AS
        SELECT source_id AS ocel_id, {jt.array(relationship, "target_id, qualifier")} AS rels
        FROM _ocel_o2o GROUP BY source_id""")


def _objects_json(name: str, kind: ObjectKind | None) -> str:
    """One JSON object per object of a type: constant attributes at the epoch, status values over time."""
    constant = ", ".join(_constant_entry(a.name, _json_value(f'k."{a.name}"', a.kind)) for a in kind.attributes) \
        if kind else "NULL"
    fallback = _constant_entry("status", jt.json_str("k._status")) if kind else "NULL"
    source = f"LEFT JOIN _ocel_kind_{KINDS.index(kind)} k USING (ocel_id)" if kind else ""
    attributes = f"'[' || concat_ws(',', {constant}, coalesce(st.entries, {fallback})) || ']'"
    return f"""
        SELECT {jt.obj(("id", jt.json_str("o.ocel_id")), ("type", jt.json_str("o.ocel_type")),
                       ("attributes", attributes), ("relationships", "coalesce(r.rels, '[]')"))}
        FROM _ocel_objects o {source}
        LEFT JOIN _ocel_status_json st USING (ocel_id) LEFT JOIN _ocel_o2o_json r USING (ocel_id)
        WHERE o.ocel_type = {_sql_literal(name)}
        ORDER BY o.ocel_id"""


def _events_json() -> str:
    attributes = ("'[' || concat_ws(',', '{\"name\":\"job\",\"value\":' || to_json(e.job) || '}', "
                  "'{\"name\":\"detail\",\"value\":' || to_json(e.detail) || '}') || ']'")
    return f"""
        SELECT {jt.obj(("id", jt.json_str("e.event_id")), ("type", jt.json_str("e.activity")),
                       ("time", jt.moment("e.ts")), ("attributes", attributes),
                       ("relationships", "coalesce(r.rels, '[]')"))}
        FROM _ocel_events e
        LEFT JOIN (SELECT event_id,
                          {jt.array(jt.obj(("objectId", jt.json_str("object_id")),
                                           ("qualifier", jt.json_str("qualifier"))), "qualifier, object_id")} AS rels
                   FROM _ocel_e2o GROUP BY event_id) r USING (event_id)
        ORDER BY e.position"""


def _constant_entry(name: str, value_json: str) -> str:
    return f"'{{\"name\":{_json_literal(name)},\"time\":{jt.EPOCH_JSON},\"value\":' || ({value_json}) || '}}'"


def _json_value(sql: str, kind: str) -> str:
    if kind in (INTEGER, FLOAT):
        return jt.json_num(sql)
    if kind == TIME:
        return jt.moment(sql)
    return jt.json_str(sql)


def _json_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- the SQLite form -----------------------------------------------------------------------------

def _write_sqlite(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        _sqlite_events(con, db)
        _sqlite_objects(con, db)
        _copy(con, db, "event_object", ("ocel_event_id", "ocel_object_id", "ocel_qualifier"),
              """SELECT r.event_id, r.object_id, r.qualifier FROM _ocel_e2o r JOIN _ocel_events e USING (event_id)
                 ORDER BY e.position, r.qualifier, r.object_id""")
        _copy(con, db, "object_object", ("ocel_source_id", "ocel_target_id", "ocel_qualifier"),
              "SELECT source_id, target_id, qualifier FROM _ocel_o2o ORDER BY source_id, target_id, qualifier")
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)
    return path


def _sqlite_events(con: duckdb.DuckDBPyConnection, db: sqlite3.Connection) -> None:
    activities = [r[0] for r in con.execute("SELECT DISTINCT activity FROM _ocel_events ORDER BY 1").fetchall()]
    maps = _table_names(activities)
    _copy(con, db, "event", ("ocel_id", "ocel_type"), "SELECT event_id, activity FROM _ocel_events ORDER BY position")
    db.execute("CREATE TABLE event_map_type (ocel_type TEXT, ocel_type_map TEXT)")
    db.executemany("INSERT INTO event_map_type VALUES (?, ?)", [(a, maps[a]) for a in activities])
    for activity in activities:
        _copy(con, db, f"event_{maps[activity]}", ("ocel_id", "ocel_time TIMESTAMP", "job", "detail"),
              f"""SELECT event_id, strftime(ts, '{TIME_SQLITE}'), job, detail FROM _ocel_events
                  WHERE activity = ? ORDER BY position""", [activity])


def _sqlite_objects(con: duckdb.DuckDBPyConnection, db: sqlite3.Connection) -> None:
    types = _object_types(con)
    maps = _table_names([t for t, _, _ in types])
    _copy(con, db, "object", ("ocel_id", "ocel_type"),
          "SELECT ocel_id, ocel_type FROM _ocel_objects ORDER BY ocel_type, ocel_id")
    db.execute("CREATE TABLE object_map_type (ocel_type TEXT, ocel_type_map TEXT)")
    db.executemany("INSERT INTO object_map_type VALUES (?, ?)", [(t, maps[t]) for t, _, _ in types])
    for name, kind, has_status in types:
        columns, sql = _object_rows(name, kind, has_status)
        _copy(con, db, f"object_{maps[name]}", columns, sql)


def _object_rows(name: str, kind: ObjectKind | None, has_status: bool) -> tuple[tuple[str, ...], str]:
    """The `object_<type>` table: a first row per object with the values it has from the start (at
    the epoch, no changed field), then one row per status change, stamped with the event's time."""
    attributes = list(kind.attributes) if kind else []
    columns = ["ocel_id", "ocel_time TIMESTAMP", "ocel_changed_field"]
    columns += [f"{a.name} {SQLITE_TYPES.get(a.kind, 'TEXT')}" for a in attributes]
    values = [_sqlite_value(f'k."{a.name}"', a.kind) for a in attributes]
    changes = ""
    if has_status:
        columns.append("status")
        # A status no event ever set is the table's own, there from the start.
        values.append("CASE WHEN o.ocel_id NOT IN (SELECT ocel_id FROM _ocel_status) THEN k._status END"
                      if kind else "NULL")
        changes = f"""
            UNION ALL
            SELECT s.ocel_id, strftime(s.ts, '{TIME_SQLITE}'), 'status', {', '.join(['NULL'] * len(attributes))}
                   {',' if attributes else ''} s.status, s.position
            FROM _ocel_status s WHERE s.ocel_type = {_sql_literal(name)}"""
    source = f"LEFT JOIN _ocel_kind_{KINDS.index(kind)} k USING (ocel_id)" if kind else ""
    first = ", ".join(["o.ocel_id", f"'{EPOCH_SQLITE}'", "NULL", *values])
    sql = f"""
        SELECT * EXCLUDE (_position) FROM (
            SELECT {first}, 0::BIGINT AS _position
            FROM _ocel_objects o {source} WHERE o.ocel_type = {_sql_literal(name)}
            {changes})
        ORDER BY 1, _position"""
    return tuple(columns), sql


def _sqlite_value(sql: str, kind: str) -> str:
    # SQLite has no decimal type: amounts go in as REAL, the standard's float (the JSON form is exact).
    if kind == FLOAT:
        return f"({sql})::DOUBLE"
    if kind == INTEGER:
        return f"({sql})::BIGINT"
    if kind == TIME:
        return f"strftime(({sql})::TIMESTAMP, '{TIME_SQLITE}')"
    return f"({sql})::VARCHAR"


def _copy(con: duckdb.DuckDBPyConnection, db: sqlite3.Connection, table: str, columns: tuple[str, ...], sql: str,
          params: list | None = None) -> None:
    """Create a SQLite table and fill it from a DuckDB query in one streamed bulk insert."""
    declared = ", ".join('"{}" {}'.format(*(c.split(" ") if " " in c else (c, "TEXT"))) for c in columns)
    db.execute(f'CREATE TABLE "{table}" ({declared})')
    marks = ", ".join("?" for _ in columns)
    db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', _batches(con.execute(sql, params or [])))


def _batches(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    while True:
        rows = cursor.fetchmany(jt.FETCH_ROWS)
        if not rows:
            return
        yield from rows


def _table_names(types: list[str]) -> dict[str, str]:
    """OCEL's `*_map_type`: a table-name-safe, unique (case-insensitively) name for each type."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for t in types:
        base = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", t) if w) or "Type"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        names[t] = name
    return names
