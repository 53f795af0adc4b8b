"""Errors at the edge: bad scenario, bad file, bad argument.

An `InputError` is what a user sees: one line naming the file, the field path, what was expected
and what was found. The CLI prints it and exits with status 2; it never becomes a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


ERROR_CHARS_MAX = 200  # an error from a library (DuckDB, the OS) quoted in a message: first line only


def first_line(exc: BaseException) -> str:
    """A library's error on one line: its first (DuckDB's "Did you mean" hints and caret drawing follow)."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    return text if len(text) <= ERROR_CHARS_MAX else text[: ERROR_CHARS_MAX - 1] + "…"


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


class RunStopped(Exception):
    """A run that could not go on for a reason outside cmpsim (a full disk): what committed is kept,
    and `cmpsim run --resume RUN_DIR` continues it once the cause is gone."""

    def __init__(self, run_dir: Path, reason: str):
        super().__init__(f"{run_dir}: the run stopped: {reason}; what it committed is kept: once that is put "
                         f"right, continue it with: cmpsim run --resume {run_dir}")
        self.run_dir = run_dir


class RunInterrupted(RunStopped):
    """A run stopped on purpose (Ctrl-C, the notebook's interrupt, a dashboard's Stop button): what
    its last wake-up committed is kept, and resuming it ends exactly as an uninterrupted run would."""

    def __init__(self, run_dir: Path, days_done: float, days: int):
        Exception.__init__(self, run_dir, days_done, days)  # SimPy may re-raise a copy made from the args
        self.run_dir, self.days_done, self.days = run_dir, days_done, days

    def __str__(self) -> str:
        return (f"{self.run_dir}: stopped on request in day {min(int(self.days_done) + 1, self.days)} of {self.days}; "
                f"what it committed is kept: continue it with cmpsim.runs.resume({str(self.run_dir)!r}) "
                f"or: cmpsim run --resume {self.run_dir}")

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback: stopping a run is not a failure."""
        return [str(self)]


class StopRequested(Exception):
    """Raised by a progress callback to stop the run at the moment it reports (see cmpsim.progress)."""


class InvariantsBroken(Exception):
    """A run checked after each day (`cmpsim run --check`) broke an invariant: the report (a
    cmpsim.check.CheckReport) says which rows."""

    def __init__(self, day: int, report: Any):
        super().__init__(day, report)  # SimPy re-raises a copy made from the args
        self.day, self.report = day, report

    def __str__(self) -> str:
        return f"day {self.day} ({self.report.as_of:%Y-%m-%d %H:%M}): {', '.join(self.report.failed())} failed"
