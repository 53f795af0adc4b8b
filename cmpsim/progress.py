"""A run's progress as people watch it: day n of N, the pace, the time left, and how to stop it.

`Pace` puts (days done, days in all) into words against the wall clock. What it says while a run goes
is never stored — wall time differs from run to run — and the line it ends on is the same every time
("4 of 4 days simulated"), so a notebook that shows it stays comparable under nbval.

`NotebookProgress` is what `cmpsim.run` (and `cmpsim.runs.resume`) show under a notebook cell by
themselves: a bar and that line. The kernel's interrupt (■, or I I) stops the run at once and leaves
it resumable (`cmpsim.errors.RunInterrupted` says how to continue it); the ScenarioRunner dashboard has
a Stop button that does the same between two simulated hours.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from cmpsim import formats

SETTLING_S = 0.5  # wall seconds of a run before its pace is worth saying
REDRAW_S = 0.25  # wall seconds between two redraws of a progress display (the last one always drawn)


class Pace:
    """The words of a run's progress: "day 3 of 7, 14:00 · 2.4 simulated days a second · about 2 s left"."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.began: tuple[float, float] | None = None  # (wall clock, days done) at the first report
        self.drawn_at = -REDRAW_S

    def redraw(self, done: float, days: int) -> bool:
        """Whether a display should show this report: a few times a second, and always at a midnight
        and at the end — not at every simulated hour, which would flood a notebook's page."""
        now = self.clock()
        if done % 1 and done < days and now - self.drawn_at < REDRAW_S:
            return False
        self.drawn_at = now
        return True

    def text(self, done: float, days: int) -> str:
        if done >= days:
            return finished_text(days)
        now = self.clock()
        if self.began is None:
            self.began = (now, done)
        day = min(int(done) + 1, days)
        where = f"day {day} of {days}" + (f", {round(done % 1 * 24):02d}:00" if done % 1 else "")
        wall, since = now - self.began[0], done - self.began[1]
        if wall < SETTLING_S or since <= 0:
            return f"{where} · starting"
        rate = since / wall  # simulated days a wall second
        pace = (f"{formats.number(rate)} simulated days a second" if rate >= 1
                else f"{formats.number(1 / rate)} s a simulated day")
        return f"{where} · {pace} · about {_duration((days - done) / rate)} left"


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a notebook, JupyterLab, nbval), where progress is shown as widgets."""
    import sys

    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None


def finished_text(days: int) -> str:
    return f"{days} of {days} days simulated"


def stopped_text(done: float, days: int) -> str:
    return (f"stopped in day {min(int(done) + 1, days)} of {days}: what it committed is kept, "
            "and resuming it ends as if it had never stopped")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{formats.number(seconds / 3600)} h"


class NotebookProgress:
    """A progress bar and its line under a notebook cell (ipywidgets), fed as a `cmpsim.runs.Progress`.

    Its plain-text form — what nbval compares and what a reader without widgets sees — names the run
    and its days only, so it is the same on every run."""

    def __init__(self, title: str, days: int) -> None:
        import ipywidgets as w

        self.title, self.days, self.pace = title, days, Pace()
        self.bar = w.FloatProgress(value=0, min=0, max=max(days, 1), bar_style="info",
                                   layout={"width": "240px"})
        self.line = w.HTML(line_html(f"day 1 of {days} · setting up the run database"))
        self.hint = w.HTML(line_html("to stop it: interrupt the kernel (■); the run stays resumable", quiet=True))
        self.widget = w.VBox([w.HBox([self.bar, self.line]), self.hint])

    @classmethod
    def shown(cls, title: str, days: int) -> NotebookProgress:
        from IPython.display import display

        progress = cls(title, days)
        display(progress)
        return progress

    def __call__(self, done: float, days: int) -> None:
        if not self.pace.redraw(done, days):
            return
        self.bar.max, self.bar.value = max(days, 1), min(done, days)
        self.line.value = line_html(self.pace.text(done, days))
        if done >= days:
            self.bar.bar_style, self.hint.value = "success", ""

    def stopped(self, done: float, days: int) -> None:
        self.bar.bar_style = "warning"
        self.line.value = line_html(stopped_text(done, days))
        self.hint.value = ""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"Simulating {self.title}: {self.days} days"
        return bundle


def line_html(text: str, quiet: bool = False) -> str:
    """A progress line as HTML that never wraps (grey when `quiet`)."""
    colour = "#6b7280" if quiet else "inherit"
    return f'<span style="white-space:nowrap;color:{colour};font-size:12px">{html.escape(text)}</span>'
