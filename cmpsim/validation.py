"""JSON-schema checks with errors in words: field path, expected, found.

Shared by scenario files and generic files, so a user reads the same kind of message for both.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from cmpsim.errors import describe
from cmpsim.paths import SCHEMA_DIR

if TYPE_CHECKING:
    import jsonschema

# The reference validator (jsonschema) is imported only when a document is invalid: importing it costs
# a second or more (its format checkers import rfc3987_syntax), and a valid document never needs it.


@functools.cache
def _schema(schema_name: str) -> dict:
    return json.loads((SCHEMA_DIR / schema_name).read_text())


def _pattern(validator, pattern: str, instance: Any, schema: dict) -> Iterator[jsonschema.ValidationError]:
    """`pattern` as JSON Schema means it (ECMA-262): `$` ends the text. Python's `$` also matches
    before a final line break, so "x\n" would pass `^[a-z]+$`; the compiled validator refuses it."""
    if validator.is_type(instance, "string") and not _anchored(pattern).search(instance):
        from jsonschema import ValidationError

        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))  # the schemas put no `$` inside [...]


@functools.cache
def _reference_class() -> type[jsonschema.Draft202012Validator]:
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


@functools.cache
def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """The reference validator: slow, but its errors carry paths we turn into words."""
    return _reference_class()(_schema(schema_name))


@functools.cache
def _fast(schema_name: str):
    """A compiled validator for the common case, a valid document (files of 100k+ lines)."""
    return jsonschema_rs.validator_for(_schema(schema_name))


def first_problem(schema_name: str, document: Any) -> tuple[str, str, str] | None:
    """(path, expected, found) of the most relevant schema error, or None when valid."""
    try:
        if _fast(schema_name).is_valid(document):
            return None
    except Exception:  # noqa: BLE001 - anything the compiled validator cannot take, the reference one judges
        pass
    from jsonschema.exceptions import best_match

    error = best_match(validator(schema_name).iter_errors(document))
    if error is None:
        return None
    error = narrow_one_of(error)
    expected, found, parts = schema_expectation(error, list(error.absolute_path))
    return format_path(parts), expected, found


def narrow_one_of(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For a distribution, report the problem inside the branch its `dist` names."""
    if error.validator != "oneOf" or not isinstance(error.instance, dict):
        return error
    kind = error.instance.get("dist")
    for sub in error.context or []:
        branch = error.validator_value[sub.schema_path[0]]
        if branch.get("properties", {}).get("dist", {}).get("const") == kind:
            return narrow_one_of(sub)
    return error


def format_path(parts: Iterator[Any] | list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_expectation(error: jsonschema.ValidationError, parts: list[Any]) -> tuple[str, str, list[Any]]:
    """(expected, found, path) in words for a jsonschema error; shared by scenarios and files."""
    v, value, inst = error.validator, error.validator_value, error.instance
    if v == "required":
        missing = error.message.split("'")[1]
        return f"a field '{missing}'", "no such field", parts + [missing]
    if v == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(inst) - set(known))
        return (
            f"one of the fields {', '.join(known)}" if known else "no further fields",
            f"unknown field '{extra[0]}'" if extra else describe(inst),
            parts + extra[:1],
        )
    if v == "type":
        return f"a value of type {value}", describe(inst), parts
    if v in ("enum", "const"):
        options = value if v == "enum" else [value]
        return f"one of {', '.join(map(str, options))}", describe(inst), parts
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"a number {sign} {value}", describe(inst), parts
    if v in ("minItems", "minProperties", "minLength"):
        return f"at least {value} {'character' if v == 'minLength' else 'item'}(s)", describe(inst), parts
    if v in ("maxItems", "maxLength", "maxProperties"):
        return f"at most {value} item(s)", describe(inst), parts
    if v == "pattern":
        return error.schema.get("description") or f"text matching {value}", describe(inst), parts
    if v == "oneOf":
        described = error.schema.get("description")
        expected = described.split(":")[0] if described else \
            "a distribution with dist one of fixed, exponential, lognormal, uniform, empirical"
        return expected, describe(inst), parts
    return error.message, describe(inst), parts
