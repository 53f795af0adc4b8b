"""Errors at the edge: bad scenario, bad file, bad argument.

An `InputError` is what a user sees: one line naming the file, the field path, what was expected
and what was found. The CLI prints it and exits with status 2; it never becomes a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(eq=False)
class InputError(Exception):
    """A user-supplied input that cannot be used, with its provenance."""

    source: str  # file name or "argument --seed"
    path: str  # field path inside the source, dotted ("demand.orders_per_day"), or ""
    expected: str
    found: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.path}" if self.path else self.source
        # One line whatever the input held: a key or value with a line break cannot split it.
        return f"{where}: expected {self.expected}, found {self.found}".replace("\n", "\\n")


def describe(value: object, limit: int = 60) -> str:
    """A short, readable rendering of a found value for an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return f"a mapping with keys {', '.join(map(repr, list(value)[:5]))}" if value else "{}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
