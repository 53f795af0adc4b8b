"""JSON documents rendered by DuckDB, whole tables at a time, exact and byte-reproducible.

Every exported document (an OCEL event, a TMF CustomerBill) is one SQL expression evaluated over a
whole table, so a million of them cost one query, not a million Python calls. The expressions are
built here from small pieces:

- `obj(("id", json_str("invoice_id")), ("billingPeriod", period))` renders `{"id":…,"billingPeriod":…}`;
  a member whose value is NULL is left out (concat_ws skips NULLs), so an optional field is simply
  absent rather than `null`, which the TMF schemas would refuse.
- `money("net_amount", "currency")` writes a DECIMAL(18,2) as its own text (`46.78`, `20.00`): the
  number in the file is the amount in the database, never a binary float.
- `moment("produced_at")` writes a simulated time as `2026-01-08T02:00:00Z` (simulated time has no
  zone; exports read it as UTC).

`write_array` streams a query's JSON texts into a file as one array, in the query's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

FETCH_ROWS = 20_000  # JSON texts fetched from DuckDB per write: bounded memory for any run size
EPOCH_JSON = '"1970-01-01T00:00:00Z"'


def json_str(sql: str) -> str:
    """A text value as a JSON string (NULL stays NULL, so the member is left out)."""
    return f"to_json(({sql})::VARCHAR)"


def json_num(sql: str) -> str:
    """A DECIMAL or integer as its exact decimal text."""
    return f"(({sql}))::VARCHAR"


def json_bool(sql: str) -> str:
    return f"CASE WHEN ({sql}) THEN 'true' WHEN NOT ({sql}) THEN 'false' END"


def moment(sql: str) -> str:
    """A TIMESTAMP or DATE as an RFC 3339 date-time string in UTC."""
    return f"to_json(strftime(({sql})::TIMESTAMP, '%Y-%m-%dT%H:%M:%SZ'))"


def obj(*members: tuple[str, str]) -> str:
    """A JSON object from (name, SQL of the member's JSON text) pairs; NULL members are left out."""
    parts = ", ".join(f"'{_key(name)}:' || ({value})" for name, value in members)
    return f"('{{' || concat_ws(',', {parts}) || '}}')"


def array(sql_of_element: str, order_by: str) -> str:
    """An aggregate: the group's elements as a JSON array (`[]` for none), in a stable order."""
    return f"('[' || coalesce(string_agg({sql_of_element}, ',' ORDER BY {order_by}), '') || ']')"


def money(amount_sql: str, currency_sql: str) -> str:
    """A TMF Money object: {"unit": "EUR", "value": 46.78}, the value exact."""
    return obj(("unit", json_str(currency_sql)), ("value", json_num(amount_sql)))


def _key(name: str) -> str:
    """The JSON text of a member name, as a SQL string literal body."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'.replace("'", "''")


def write_array(con: duckdb.DuckDBPyConnection, sql: str, path: Path, params: list | None = None) -> int:
    """Write the first column of `sql` (one JSON text per row) as a JSON array file; returns the rows.

    The file is written whole or not at all (a `.part` file renamed at the end)."""
    tmp = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write("[")
        count = write_rows(con, sql, out, params, first=True)
        out.write("\n]\n")
    os.replace(tmp, path)
    return count


def write_rows(con: duckdb.DuckDBPyConnection, sql: str, out, params: list | None = None, first: bool = True) -> int:
    """Append the JSON texts of a query to an open array, comma-separated, one per line."""
    cursor = con.execute(sql, params or [])
    count = 0
    while True:
        rows = cursor.fetchmany(FETCH_ROWS)
        if not rows:
            return count
        out.write(("\n" if first and count == 0 else ",\n") + ",\n".join(r[0] for r in rows))
        count += len(rows)


def values_table(rows: Iterable[tuple], columns: tuple[str, ...], alias: str = "t") -> str:
    """A SQL VALUES list of string literals (mapping tables written in Python, used in queries)."""
    def literal(value: object) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"
    body = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
    return f"(VALUES {body}) AS {alias}({', '.join(columns)})"
