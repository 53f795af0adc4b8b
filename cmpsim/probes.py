"""Probes (seed 002): declared read-only queries compared with a target, of two kinds.

An *alert* probe notifies its recipients when breached (a `probe_alerts` row per recipient, for
the communications process to send); an *SLA* probe records the breach and notifies no one.
Probes are evaluated inside the run on their schedule and on demand after it.

A probe's query is checked once, when the scenario is loaded (`query_problem`): one SELECT over
the run database's tables, parameters only `$now`, `$today` and `$start`, no table function that
reads files, the network or other SQL, no wall clock and no randomness. It is then run in a
read-only transaction on a cursor of its own, so even a query that slipped past the check cannot
change the run; whatever goes wrong with it (an error, no value, a text) is a breached result
with a reason, never a failure of the run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from cmpsim.arrivals import seconds_of_day
from cmpsim.engine import DailyAt, Every, Simulation, Step
from cmpsim.errors import InputError, describe, first_line
from cmpsim.files import encode_document
from cmpsim.store import CORE_DDL

if TYPE_CHECKING:
    from cmpsim.runs import Run

DDL = """
CREATE TABLE IF NOT EXISTS probe_results (
    probe VARCHAR NOT NULL, kind VARCHAR NOT NULL, evaluated_at TIMESTAMP NOT NULL, value DECIMAL(38,6),
    target VARCHAR NOT NULL, breached BOOLEAN NOT NULL, mode VARCHAR NOT NULL, detail VARCHAR);
CREATE TABLE IF NOT EXISTS probe_alerts (
    probe VARCHAR NOT NULL, evaluated_at TIMESTAMP NOT NULL, recipient VARCHAR NOT NULL, message VARCHAR NOT NULL,
    status VARCHAR NOT NULL);
"""

PARAMETERS = ("now", "today", "start")  # the only names a probe query may use, as $now, $today, $start
TABLE_FUNCTIONS_ALLOWED = frozenset({"unnest", "range", "generate_series"})  # pure: they read no file, no SQL
# Parsed as column names, bound to the wall clock when no column has the name.
CLOCK_KEYWORDS = frozenset({"current_date", "current_time", "current_timestamp", "localtime", "localtimestamp"})
DETAIL_ROWS_MAX = 20  # rows of a detail query kept with a breached result
VALUE_SCALE = Decimal("0.000001")  # probe_results.value is DECIMAL(38,6)
VALUE_LIMIT = Decimal(10) ** 32  # the first magnitude DECIMAL(38,6) cannot hold

RESULT_COLUMNS = ("probe", "kind", "evaluated_at", "value", "target", "breached", "mode", "detail")
RESULT_SCHEMA = {
    "probe": pl.Utf8, "kind": pl.Utf8, "evaluated_at": pl.Datetime("us"), "value": pl.Decimal(38, 6),
    "target": pl.Utf8, "breached": pl.Boolean, "mode": pl.Utf8, "detail": pl.Utf8, "recipients": pl.List(pl.Utf8),
    "alert_to": pl.List(pl.Utf8),
}
ALERT_SCHEMA = {
    "probe": pl.Utf8, "evaluated_at": pl.Datetime("us"), "recipient": pl.Utf8, "message": pl.Utf8, "status": pl.Utf8,
}
ACTIVITY = {"alert": "Probe Alert Raised", "sla": "SLA Breached"}
COMPARISONS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
TARGET = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def create_tables(store) -> None:
    store.con.execute(DDL)


# --- what a probe may ask -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalog:
    """An empty in-memory database with every table and view of a run, to bind probe queries on."""

    con: duckdb.DuckDBPyConnection
    relations: frozenset[str]  # tables and views of the run database, lower case
    impure_functions: frozenset[str]  # functions none of whose overloads is a function of its arguments only
    # Functions with pure and impure overloads (`-`, date_diff, date_part, ...: DuckDB 2 marks the ones
    # over TIMESTAMP WITH TIME ZONE as depending on the session's time zone); judged by the overload bound.
    mixed_functions: frozenset[str]
    pure_overloads: frozenset[tuple[str, tuple[str, ...]]]  # (name, parameter types) of their pure overloads


def _run_ddl() -> tuple[str, ...]:
    """The DDL of every table a run database holds (the billing and ledger ones even before their
    processes run: they are the contract a probe may be written against)."""
    # Imported here, not at the top: a process package imports half of cmpsim, and the scenario
    # loader, which imports this module, must not depend on them.
    from cmpsim.billing.tables import DDL as BILLING_DDL
    from cmpsim.fulfilment.tables import DDL as FULFILMENT_DDL
    from cmpsim.ledger.tables import DDL as LEDGER_DDL
    from cmpsim.orders.tables import DDL as ORDERS_DDL

    return CORE_DDL, ORDERS_DDL, FULFILMENT_DDL, BILLING_DDL, LEDGER_DDL, DDL


@functools.cache
def _catalog() -> _Catalog:
    con = duckdb.connect(config={
        "enable_external_access": False, "autoload_known_extensions": False,
        "autoinstall_known_extensions": False, "python_enable_replacements": False,
    })
    for ddl in _run_ddl():
        con.execute(ddl)
    relations = {r[0].lower() for r in con.execute(
        "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()}
    # error() is flagged volatile only because it raises: a probe that raises is a breach with a reason.
    overloads = con.execute(
        "SELECT function_name, parameter_types, stability = 'CONSISTENT' FROM duckdb_functions() "
        "WHERE function_type IN ('scalar', 'aggregate', 'window') AND function_name <> 'error'"
    ).fetchall()
    pure_names = {name for name, _, pure in overloads if pure}
    impure_names = {name for name, _, pure in overloads if not pure}
    impure = impure_names - pure_names
    mixed = impure_names & pure_names
    pure_overloads = {(name, tuple(types)) for name, types, pure in overloads if pure and name in mixed}
    # Macros that expand to an impure function or the wall clock (pg_sleep, ago, ...) are impure too.
    words = re.compile(r"\b(" + "|".join(map(re.escape, sorted(impure | CLOCK_KEYWORDS))) + r")\b", re.IGNORECASE)
    impure |= {r[0] for r in con.execute(
        "SELECT DISTINCT function_name, macro_definition FROM duckdb_functions() WHERE function_type = 'macro'"
    ).fetchall() if words.search(r[1] or "")}
    return _Catalog(con, frozenset(relations), frozenset(impure), frozenset(mixed), frozenset(pure_overloads))


def query_problem(query: str) -> tuple[str, str] | None:
    """(expected, found) in words when `query` is not one read-only SELECT a probe may run; else None.

    Refused: anything but exactly one SELECT; parameters other than $now, $today, $start (and every
    positional one); table functions other than unnest, range and generate_series (read_csv,
    query, glob, ... read files or run other SQL); tables outside the run database (DuckDB's own
    catalog, files named as tables, other databases); the wall clock, randomness and functions with
    side effects (now(), random(), nextval(), sleep_ms(), ...); samples; and any query that does not
    bind against the run database's tables and columns."""
    catalog = _catalog()
    cursor = catalog.con.cursor()
    try:
        problem = _statement_problem(cursor, query)
        if problem is not None:
            return problem
        tree = _tree(query)
        return (_tree_problem(tree, catalog) or _binding_problem(cursor, query) or _relation_problem(tree, catalog)
                or _overload_problem(tree, catalog))
    finally:
        cursor.close()


def _statement_problem(cursor: duckdb.DuckDBPyConnection, query: str) -> tuple[str, str] | None:
    try:
        statements = cursor.extract_statements(query)
    except duckdb.Error as exc:
        return "one SQL SELECT statement", first_line(exc)
    if len(statements) != 1:
        return "exactly one SQL statement", f"{len(statements) or 'no'} statements"
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        return "a read-only SELECT statement", f"a statement of type {statement.type.name}"
    names = sorted(statement.named_parameters)
    positional = [n for n in names if n.isdigit()]
    if positional:
        return "parameters named $now, $today or $start", f"the positional parameter ? or ${positional[0]}"
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown:
        return "parameters among $now, $today and $start", f"${unknown[0]}"
    return None


def _parser(function: str, query: str) -> str:
    """One of DuckDB's parser functions applied to `query`, in the catalog database."""
    cursor = _catalog().con.cursor()
    try:
        return cursor.execute(f"SELECT {function}", [query]).fetchall()[0][0]
    finally:
        cursor.close()


def _tree(query: str) -> dict[str, Any]:
    """The parsed statement as DuckDB serialises it: the tree we inspect."""
    return json.loads(_parser("json_serialize_sql(?)", query))


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object of the parse tree, depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _is_table_ref(node: dict[str, Any]) -> bool:
    # FROM-clause items carry an alias and a sample but, unlike expressions, no class; query nodes
    # (SELECT_NODE, SET_OPERATION_NODE, ...) carry no alias.
    return "class" not in node and "alias" in node and "sample" in node and isinstance(node.get("type"), str)


def _tree_problem(tree: dict[str, Any], catalog: _Catalog) -> tuple[str, str] | None:
    """What the parse tree shows before any binding: table functions, foreign tables, clock, samples."""
    if tree.get("error"):
        return "a query cmpsim can check (SELECT with joins, subqueries, CTEs)", tree.get("error_message", "")
    for node in _nodes(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_QUERY_NODE"):  # DELETE, UPDATE, INSERT, MERGE in a CTE
            verb = kind.removesuffix("_QUERY_NODE").replace("_", " ")
            return "a read-only SELECT statement", f"{'an' if verb[0] in 'AEIOU' else 'a'} {verb} inside it"
        if node.get("sample"):
            return "a deterministic query", "a sample (USING SAMPLE or TABLESAMPLE)"
        if node.get("class") == "FUNCTION" and node["function_name"].lower() in catalog.impure_functions:
            return "functions of the data only (use $now, $today, $start for time)", f"{node['function_name']}()"
        if _wall_clock(node):
            return "the simulated clock ($now, $today), not the wall clock", _wall_clock(node)
        if _is_table_ref(node):
            problem = _table_ref_problem(node)
            if problem:
                return problem
    return None


def _wall_clock(node: dict[str, Any]) -> str | None:
    """`current_date` and its kin: written as a bare column name, bound to the clock by DuckDB."""
    names = node.get("column_names", []) if node.get("class") == "COLUMN_REF" else []
    return names[0] if len(names) == 1 and names[0].lower() in CLOCK_KEYWORDS else None


def _table_ref_problem(ref: dict[str, Any]) -> tuple[str, str] | None:
    kind = ref["type"]
    if kind == "TABLE_FUNCTION":
        name = ref["function"].get("function_name", "?").lower()
        if name not in TABLE_FUNCTIONS_ALLOWED:
            return "tables of the run database, unnest, range or generate_series", f"the table function {name}"
    elif kind == "BASE_TABLE":
        if ref["catalog_name"] or ref["schema_name"].lower() not in ("", "main"):
            qualified = ".".join(p for p in (ref["catalog_name"], ref["schema_name"], ref["table_name"]) if p)
            return "a table or view of the run database", qualified
    elif kind == "SHOW_REF":
        return "a query over the run database's tables", "DESCRIBE, SHOW or SUMMARIZE"
    elif kind not in ("JOIN", "SUBQUERY", "EMPTY", "EXPRESSION_LIST", "PIVOT"):
        return "a query over the run database's tables", f"a {kind} in FROM"
    return None


def _binding_problem(cursor: duckdb.DuckDBPyConnection, query: str) -> tuple[str, str] | None:
    """Plan the query over the run database's (empty) tables, parameters bound to sample values."""
    names = cursor.extract_statements(query)[0].named_parameters
    moment = _Moment(dt.datetime(2026, 1, 1), dt.date(2026, 1, 1), dt.datetime(2026, 1, 1))
    try:
        cursor.execute("EXPLAIN " + query.strip().rstrip(";"), moment.parameters(names)).fetchall()
    except duckdb.Error as exc:
        return "a query over the run database's tables", first_line(exc)
    return None


def _relation_problem(tree: dict[str, Any], catalog: _Catalog) -> tuple[str, str] | None:
    """After binding: every table named is one of the run database's or a CTE of the query itself
    (DuckDB's own catalog views, duckdb_tables or pg_class, bind as well but are not the run's)."""
    ctes = {entry["key"].lower() for node in _nodes(tree) for entry in node.get("cte_map", {}).get("map", [])}
    for node in _nodes(tree):
        if _is_table_ref(node) and node["type"] == "BASE_TABLE":
            name = node["table_name"].lower()
            if name not in catalog.relations and name not in ctes:
                return "a table or view of the run database", f"{node['table_name']}, a table of DuckDB's catalog"
    return None


# The SQL a parameter stands for while a query is planned: the type it is bound with at evaluation.
PARAMETER_STAND_INS = {
    "now": "CAST('2026-01-01 00:00:00' AS TIMESTAMP)", "today": "CAST('2026-01-01' AS DATE)",
    "start": "CAST('2026-01-01 00:00:00' AS TIMESTAMP)",
}
BOUND_CALLS = frozenset({"BOUND_FUNCTION", "BOUND_AGGREGATE", "BOUND_WINDOW"})
# A value of these types reads differently in every time zone: no run table holds one, and no probe makes one.
ZONED_TYPES = frozenset({"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS"})


def _overload_problem(tree: dict[str, Any], catalog: _Catalog) -> tuple[str, str] | None:
    """The overload DuckDB bound for each call of a function with pure and impure overloads.

    `$now - INTERVAL 1 DAY` binds `-(TIMESTAMP, INTERVAL)`, a function of its arguments; the same `-`
    over TIMESTAMP WITH TIME ZONE depends on the session's time zone and is refused, as is any value
    of that type (a cast to it, to_timestamp, ...). The query is
    planned with its parameters standing in as constants of their types, and every bound call of
    such a function is looked up by the parameter types DuckDB chose (a call whose signature the
    catalog does not list is judged impure: nothing unjudged passes)."""
    plan = _plan(_with_stand_ins(tree))
    if plan.get("error"):
        return "a query cmpsim can check (SELECT with joins, subqueries, CTEs)", plan.get("error_message", "")
    for node in _nodes(plan):
        if _type_name(node.get("return_type") or {}) in ZONED_TYPES:
            return "values without a time zone (the simulated clock has none)", "a TIMESTAMP WITH TIME ZONE value"
        if node.get("expression_class") not in BOUND_CALLS:
            continue
        name = (node.get("qname") or {}).get("path", ["?"])[-1]
        if name not in catalog.mixed_functions:
            continue
        signature = (name, tuple(_type_name(t) for t in node.get("arguments", [])))
        if signature not in catalog.pure_overloads:
            types = ", ".join(signature[1])
            return "functions of the data only (use $now, $today, $start for time)", f"{name}({types})"
    return None


def _type_name(logical: Mapping[str, Any]) -> str:
    """A plan's serialised type as duckdb_functions() spells parameter types (DECIMAL, VARCHAR[], ...)."""
    kind = logical.get("id", "?")
    info = logical.get("type_info") or {}
    if kind == "LIST" and info.get("child_type"):
        return _type_name(info["child_type"]) + "[]"
    return kind


def _with_stand_ins(tree: Any) -> Any:
    """The parse tree with $now, $today and $start replaced by constants of their types."""
    if isinstance(tree, list):
        return [_with_stand_ins(value) for value in tree]
    if not isinstance(tree, dict):
        return tree
    if tree.get("class") == "PARAMETER" and tree.get("identifier") in PARAMETER_STAND_INS:
        return _stand_in(tree["identifier"])
    return {key: _with_stand_ins(value) for key, value in tree.items()}


@functools.cache
def _stand_in_tree(name: str) -> str:
    return json.dumps(_tree("SELECT " + PARAMETER_STAND_INS[name])["statements"][0]["node"]["select_list"][0])


def _stand_in(name: str) -> dict[str, Any]:
    return json.loads(_stand_in_tree(name))


def _plan(tree: dict[str, Any]) -> dict[str, Any]:
    """The bound, unoptimised logical plan of a parse tree, as DuckDB serialises it."""
    sql = _parser("json_deserialize_sql(?)", json.dumps(tree))
    return json.loads(_parser("json_serialize_plan(?, optimize := false)", sql))


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moment:
    """What a probe's parameters stand for: $now, $today and $start."""

    now: dt.datetime
    today: dt.date
    start: dt.datetime

    def parameters(self, names: set[str] | frozenset[str]) -> dict[str, Any]:
        """Only the parameters the query names: DuckDB refuses any it does not use."""
        values = {"now": self.now, "today": self.today, "start": self.start}
        return {name: values[name] for name in names if name in values}


def target_met(value: Decimal, target: str) -> bool:
    """Whether `value` meets a target like '> 0' or '== 0' (the condition a healthy value satisfies)."""
    match = TARGET.match(target)
    if match is None:
        raise ValueError(f"not a probe target: {target!r}")
    return COMPARISONS[match.group(1)](value, Decimal(match.group(2)))


def evaluate(
    con: duckdb.DuckDBPyConnection,
    probes: Sequence[Mapping[str, Any]],
    at: dt.datetime,
    start: dt.datetime,
    mode: str,
    *,
    today: dt.date | None = None,
    check: bool = False,
) -> pl.DataFrame:
    """Evaluate each probe at `at`: one row per probe, the columns of probe_results plus its
    `recipients` and `alert_to` (the recipients when an alert probe is breached, else none).

    $now is `at`, $today is `today` (by default `at`'s date) and $start is the run start. Each query
    runs on a cursor of its own inside a read-only transaction that is rolled back: it sees what
    was committed, changes nothing, and cannot fail the caller. The value is the first column of
    the first row; no row, NULL, a text that is no number or an error is a breach with its reason
    in `detail`. A breached probe with a detail_query keeps its first rows in `detail` as JSON.
    With `check`, each query is first judged by query_problem and a refused one is not run."""
    moment = _Moment(at, today if today is not None else at.date(), start)
    rows = []
    for probe in probes:
        value, detail = _measure(con, probe, moment, check)
        # The scenario schema (or `check`) vouched for the target before any value was measured.
        breached = value is None or not target_met(value, probe["target"])
        if breached and value is not None and probe.get("detail_query"):
            detail = _detail(con, probe["detail_query"], moment, check)
        recipients = list(dict.fromkeys(probe.get("recipients", ())))  # each one once, in declared order
        rows.append({
            "probe": probe["name"], "kind": probe["kind"], "evaluated_at": at, "value": value,
            "target": probe["target"].strip(), "breached": breached, "mode": mode, "detail": detail,
            "recipients": recipients, "alert_to": recipients if breached and probe["kind"] == "alert" else [],
        })
    return pl.DataFrame(rows, schema=RESULT_SCHEMA)


def _measure(con, probe: Mapping[str, Any], moment: _Moment, check: bool) -> tuple[Decimal | None, str | None]:
    """(value, None) or (None, why there is no value)."""
    if check:
        if TARGET.match(probe["target"]) is None:
            return None, f"target refused: expected a comparison like '> 0', found {describe(probe['target'])}"
        problem = query_problem(probe["query"])
        if problem is not None:
            return None, f"query refused: expected {problem[0]}, found {problem[1]}"
    try:
        rows, _ = _read_only(con, probe["query"], moment, 1)
    except duckdb.Error as exc:
        return None, f"query failed: {first_line(exc)}"
    return _as_value(rows[0][0] if rows and rows[0] else None)


def _read_only(con, query: str, moment: _Moment, rows_max: int) -> tuple[list[tuple], list[str]]:
    """The first `rows_max` rows and the column names of `query`, read in a transaction that
    cannot write and is always rolled back, on a cursor that sees only committed data."""
    cursor = con.cursor()
    try:
        # A table missing from this database must not be looked up among the caller's Python variables.
        cursor.execute("SET python_enable_replacements = false")
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        try:
            names = cursor.extract_statements(query)[0].named_parameters
            result = cursor.execute(query, moment.parameters(names))
            rows = result.fetchmany(rows_max)
            columns = [d[0] for d in cursor.description]
        finally:
            cursor.execute("ROLLBACK")
        return rows, columns
    finally:
        cursor.close()


def _as_value(found: Any) -> tuple[Decimal | None, str | None]:
    """A found value as the DECIMAL(38,6) stored in probe_results, or why it is none."""
    if found is None:
        return None, "no value"
    number = _decimal(found)
    if number is None:
        return None, f"not a number: {describe(found)}"
    if abs(number) >= VALUE_LIMIT:
        return None, f"out of range: {describe(found)}"
    return number.quantize(VALUE_SCALE, rounding=ROUND_HALF_UP), None


def _decimal(found: Any) -> Decimal | None:
    """A finite number from an integer, decimal, float (by its shortest repr) or numeric text."""
    if isinstance(found, bool) or not isinstance(found, int | float | Decimal | str):
        return None
    if isinstance(found, float):
        found = repr(found)  # 0.1 + 0.2 gives 0.30000000000000004, not the binary fraction's 55 digits
    try:
        number = Decimal(found.strip() if isinstance(found, str) else found)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _detail(con, query: str, moment: _Moment, check: bool) -> str:
    """The first rows behind a breach as canonical JSON (keys sorted, every value a string or null).

    Without an ORDER BY of its own the query's rows are sorted by all columns, so the rows kept
    are the same from run to run."""
    problem = query_problem(query) if check else None
    if problem is not None:
        return f"detail query refused: expected {problem[0]}, found {problem[1]}"
    tree = _tree(query)
    if tree.get("error"):
        return f"detail query failed: {tree.get('error_message', '')}"
    ordered = any(m.get("type") == "ORDER_MODIFIER" for m in tree["statements"][0]["node"].get("modifiers", []))
    sql = query if ordered else f"SELECT * FROM ({_sql_text(query)}) ORDER BY ALL"
    try:
        rows, columns = _read_only(con, sql, moment, DETAIL_ROWS_MAX)
    except duckdb.Error as exc:
        return f"detail query failed: {first_line(exc)}"
    return encode_document([dict(zip(columns, map(_text, row), strict=True)) for row in rows]).decode()


def _sql_text(query: str) -> str:
    """The query as DuckDB prints its parse tree: no comment or semicolon left to break a wrapping."""
    return _parser("json_deserialize_sql(json_serialize_sql(?))", query)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in value.items()}
    return str(value)


def number_text(value: Decimal | None) -> str:
    """A value as people write it: 0, 12, 0.5 (never 0E-6 or 12.000000)."""
    if value is None:
        return "none"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- inside the run -------------------------------------------------------------------------------


def steps(scenario) -> list[Step]:
    """One step per probe, woken on the probe's schedule: at fixed times of day or every n minutes."""
    return [
        Step(f"Probe {probe['name']}", "probe", _trigger(probe["schedule"]), functools.partial(_probe_step, probe),
             writes=("probes",), reads_pending="committed")
        for probe in scenario["probes"]
    ]


def _trigger(schedule: Mapping[str, Any]) -> DailyAt | Every:
    if "every_minutes" in schedule:
        interval_s = int(schedule["every_minutes"]) * 60
        return Every(interval_s, interval_s)
    return DailyAt(tuple(sorted({seconds_of_day(t) for t in schedule["at"]})))


def _probe_step(probe: Mapping[str, Any], sim: Simulation) -> int:
    """Evaluate the probe now and record the result; a breach raises an alert per recipient (alert
    probe) or only the breach (SLA probe), and an event either way. Always one record processed,
    so every evaluation leaves its job_runs row (none when run again at the same moment)."""
    if sim.store.scalar("SELECT count(*) FROM probe_results WHERE probe = ? AND evaluated_at = ? "
                        "AND mode = 'scheduled'", [probe["name"], sim.now]):
        return 0
    result = evaluate(sim.con, [probe], sim.now, sim.start, "scheduled")
    sim.store.insert("probe_results", result.select(RESULT_COLUMNS))
    row = result.row(0, named=True)
    if row["breached"]:
        message = alert_message(row)
        alerts = pl.DataFrame(
            [{"probe": row["probe"], "evaluated_at": sim.now, "recipient": r, "message": message, "status": "Pending"}
             for r in row["alert_to"]],
            schema=ALERT_SCHEMA,
        )
        sim.store.insert("probe_alerts", alerts)
        sim.store.record_events_at(sim.now, "probe", [row["probe"]], ACTIVITY[probe["kind"]], sim.current_job,
                                   [message])
    return 1


def alert_message(row: Mapping[str, Any]) -> str:
    """The text of an alert and of the breach event, like `Probe 'X' breached at 2026-01-09 06:00:
    value 0, target > 0` (with the reason instead of the value when there is none)."""
    found = f"value {number_text(row['value'])}" if row["value"] is not None else row["detail"]
    return f"Probe '{row['probe']}' breached at {row['evaluated_at']:%Y-%m-%d %H:%M}: {found}, target {row['target']}"


# --- after the run --------------------------------------------------------------------------------


def _run_facts(run: Run) -> tuple[list[dict[str, Any]], dt.datetime, dt.datetime]:
    """The probes of a run's stored scenario, its start and its end."""
    info = dict(run.con.execute("SELECT key, value FROM run_info").fetchall())
    if "scenario_json" not in info:
        raise InputError(str(run.store.path), "run_info.scenario_json", "the scenario stored with the run",
                         "none (a run written by an older cmpsim)")
    start = dt.datetime.fromisoformat(info["start_date"])
    end = start + dt.timedelta(days=int(info["horizon_days"]))
    return json.loads(info["scenario_json"]).get("probes", []), start, end


def evaluate_run(run: Run, at: dt.datetime | None = None) -> pl.DataFrame:
    """Evaluate a finished run's probes now, writing nothing (mode 'on demand').

    By default $now is the end of the run and $today its last simulated day; with `at`, both come
    from that moment, which must lie within the run. The probes are those of the scenario stored
    with the run, and their queries are checked again before they run."""
    probes, start, end = _run_facts(run)
    if at is None:
        return evaluate(run.con, probes, end, start, "on demand", today=(end - dt.timedelta(days=1)).date(), check=True)
    if not start <= at <= end:
        raise InputError(str(run.run_dir), "at", f"a moment within the run, {start:%Y-%m-%dT%H:%M} to "
                         f"{end:%Y-%m-%dT%H:%M}", f"{at:%Y-%m-%dT%H:%M}")
    return evaluate(run.con, probes, at, start, "on demand", check=True)


def parse_moment(text: str, source: str = "argument --at") -> dt.datetime:
    """A simulated moment written like 2026-01-09T06:00 (or a date, meaning its midnight)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is not None:  # simulated time has no time zone
        raise InputError(source, "", "a moment like 2026-01-09T06:00", describe(text))
    return moment


def history(run: Run) -> pl.DataFrame:
    """Per declared probe, what its evaluations inside the run found: evaluations, breaches, the
    last breach and the alerts raised (rows in probe_alerts)."""
    probes, _, _ = _run_facts(run)
    if not run.store.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'probe_results'"):
        raise InputError(str(run.store.path), "probe_results", "a run database with probe results",
                         "no such table (a run written by an older cmpsim)")
    declared = pl.DataFrame(
        {"probe": [p["name"] for p in probes], "kind": [p["kind"] for p in probes],
         "target": [p["target"].strip() for p in probes]},
        schema={"probe": pl.Utf8, "kind": pl.Utf8, "target": pl.Utf8},
    )
    found = run.sql("""
        SELECT r.probe, count(*) AS evaluations, count(*) FILTER (WHERE r.breached) AS breaches,
               max(r.evaluated_at) FILTER (WHERE r.breached) AS last_breach, any_value(a.alerts) AS alerts_raised
        FROM probe_results r
        LEFT JOIN (SELECT probe, count(*) AS alerts FROM probe_alerts GROUP BY probe) a USING (probe)
        WHERE r.mode = 'scheduled' GROUP BY r.probe""")
    return declared.join(found, on="probe", how="left", maintain_order="left").with_columns(
        pl.col("evaluations", "breaches", "alerts_raised").fill_null(0).cast(pl.Int64)
    )
