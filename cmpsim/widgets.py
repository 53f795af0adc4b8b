"""Notebook dashboards (ipywidgets 8): run a what-if, compare two runs, watch the probes, explore the
breaks between the sales and general ledgers.

    from cmpsim.widgets import ScenarioRunner, RunComparison, ProbeBoard, ReconciliationExplorer
    runner = ScenarioRunner("scenarios", "runs/what-if"); runner        # pick, change knobs, Run
    RunComparison(runs_folder="runs/what-if")                            # A beside B, changes marked
    ProbeBoard(runner.last_run_dir); ReconciliationExplorer(runner.last_run_dir)

Each dashboard is thin glue over the view-models of `cmpsim.views`: its callbacks are plain methods
(`run_clicked`, `compare_chosen`, `probe_chosen`, `filter_changed`, `break_chosen`) that a test or a
script calls like a click — `Button.click()` fires `on_click`, setting a widget's `.value` fires its
observers. Nothing is printed: text and tables go into `Output` and `HTML` widgets by setting their
contents, so the kernel side holds exactly what the page shows. A dashboard given a run folder opens
it read-only for each look and holds no lock in between.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w
import polars as pl

from cmpsim import charts, runs
from cmpsim.compare import Comparison
from cmpsim.errors import InputError, RunInterrupted, StopRequested, first_line
from cmpsim.formats import MISSING
from cmpsim.progress import Pace, in_kernel, line_html, stopped_text
from cmpsim.reconcile import Reconciliation, reconcile, trail
from cmpsim.scenario import Scenario, load
from cmpsim.views import (
    KNOBS,
    RunSource,
    break_documents,
    break_facts,
    break_label,
    break_type_counts,
    cell_text,
    changed_knobs,
    comparison_heading,
    comparison_of,
    figures_html,
    filter_breaks,
    format_priority_mix,
    hardware_charge_modes,
    heading,
    html_table,
    inline_svg,
    key_figures,
    knobs_of,
    money_html,
    opened,
    overrides_from_knobs,
    page,
    paragraph,
    parse_priority_mix,
    probe_board,
    probe_evaluations,
    probe_findings,
    run_dir_for,
    run_folders,
    settings_html,
    text_table,
)

LABEL_STYLE = {"description_width": "160px"}
WIDE = {"width": "min(100%, 720px)"}  # a field that holds names (scenarios, run folders, documents) in full
LIST_ROWS_MAX = 12  # lines a Select shows before it scrolls


class Dashboard:
    """A dashboard's root widget, shown when the object is the value of a notebook cell.

    Its output carries, beside the live widget, a still picture of what it shows as HTML (every
    table, text and choice, no controls) and a one-line text: a notebook opened without a kernel
    or widget state (an untrusted notebook in JupyterLab, GitHub, an HTML export) shows the
    dashboard as it was instead of `VBox(children=(…`, and nbval compares that picture."""

    widget: w.VBox

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = page(f'<div class="cmpsim-dashboard">{still(self.widget)}</div>')
        bundle["text/plain"] = f"{type(self).__name__} (a live dashboard; run the cell to use it)"
        return bundle


def still(widget: w.Widget) -> str:
    """What a widget shows, as static HTML: HTML and Output contents as they are, a control as its
    label and value, boxes laid out as rows and columns; buttons and empty parts leave nothing."""
    if isinstance(widget, w.HTML):
        return widget.value
    if isinstance(widget, w.Output):
        return "".join(o.get("data", {}).get("text/html", "") for o in widget.outputs)
    if isinstance(widget, w.Box):
        parts = [part for part in (still(child) for child in widget.children) if part]
        if isinstance(widget, w.HBox):
            return ('<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:baseline">'
                    + "".join(f"<div>{part}</div>" for part in parts) + "</div>")
        return "".join(parts)
    if isinstance(widget, w.Button):
        return ""
    if isinstance(widget, w.FloatProgress | w.IntProgress):
        return (f'<progress value="{widget.value}" max="{widget.max}"></progress>'
                if widget.value else "")
    if isinstance(widget, w.ValueWidget) and getattr(widget, "description", ""):
        value = widget.label if isinstance(widget, w.Dropdown | w.Select) else widget.value
        text = MISSING if value in (None, "") else cell_text(value)
        return f"<p><b>{html.escape(widget.description)}</b>: {html.escape(text)}</p>"
    return ""


def show_table(output: w.Output, title: str, frame: pl.DataFrame) -> None:
    """Replace what `output` shows with a titled table: HTML for the page, aligned text otherwise."""
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"text/html": page(heading(title), html_table(frame)),
                                "text/plain": f"{title}\n{text_table(frame)}"}},)


# --- run a what-if --------------------------------------------------------------------------------


def _knob_widgets() -> dict[str, w.ValueWidget]:
    style = LABEL_STYLE
    labels = {name: label for name, (_, label) in KNOBS.items()}
    return {
        "hardware_orders_per_day": w.FloatText(description=labels["hardware_orders_per_day"], style=style),
        "service_orders_per_day": w.FloatText(description=labels["service_orders_per_day"], style=style),
        "priority_mix": w.Text(description=labels["priority_mix"], placeholder="3: 50, 5: 30, 7: 15, 9: 5",
                               style=style, layout=WIDE),
        "fulfilment_workers": w.IntText(description=labels["fulfilment_workers"], style=style),
        "hardware_charges": w.Dropdown(description=labels["hardware_charges"], options=hardware_charge_modes(),
                                       style=style),
        "fraud_check": w.Checkbox(description=labels["fraud_check"], indent=False),
        "faults": w.Dropdown(description=labels["faults"], options=[("keep", "keep"), ("clear them", "clear")],
                             style=style),
        "days": w.IntText(description=labels["days"], style=style),
        "seed": w.IntText(description=labels["seed"], style=style),
    }


class ScenarioRunner(Dashboard):
    """Pick a scenario, change the knobs an analyst changes (arrival rates, priority mix, fulfilment
    workers, hardware billing, fraud check, faults, days, seed), and run it into `out_folder`.

    The knobs start at the scenario's own values; only those changed become overrides, and a run with
    overrides gets a folder of its own (`cmpsim.views.run_dir_for`). A value the scenario rules refuse
    shows their one-line message and runs nothing. While a run goes, the bar and its line say the day,
    the pace and the time left; Stop ends it at the next simulated hour, resumable: Run with the same
    knobs continues it. After a run its key figures are shown, the run is closed (other dashboards
    can open it) and its folder kept in `last_run_dir`.

    In a notebook the run goes on in the background, so the page (and Stop) stay live; elsewhere, and
    with `background=False`, `run_clicked` returns when the run has ended. `wait()` waits for it."""

    def __init__(self, scenarios: str | Path | Sequence[str | Path], out_folder: str | Path,
                 background: bool | None = None) -> None:
        self.out_folder = Path(out_folder)
        self.background = in_kernel() if background is None else background
        paths = sorted(Path(scenarios).glob("*.yaml")) if isinstance(scenarios, str | Path) else [
            Path(p) for p in scenarios]
        self.scenario = w.Dropdown(description="Scenario", options=[(p.name, str(p)) for p in paths],
                                   style=LABEL_STYLE, layout=WIDE)
        self.knobs = _knob_widgets()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True,
                                    tooltip="stop at the next simulated hour; Run continues it")
        self.progress = w.FloatProgress(value=0, min=0, max=1, description="Days done", style=LABEL_STYLE)
        self.pace = w.HTML()  # day n of N, the pace, the time left
        self.error = w.HTML()  # right under the Run button, where the eye is after a click
        self.output = w.Output()
        self.last_run_dir: Path | None = None
        self.last_figures: pl.DataFrame | None = None
        self._base: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outcome: Path | None = None
        self.scenario.observe(self.scenario_chosen, names="value")
        self.run_button.on_click(self.run_clicked)
        self.stop_button.on_click(self.stop_clicked)
        self.widget = w.VBox([self.scenario, *self.knobs.values(),
                              w.HBox([self.run_button, self.stop_button, self.progress, self.pace]),
                              self.error, self.output])
        self.scenario_chosen()

    def show_error(self, text: str) -> None:
        """A refusal in a red box under the Run button (empty text: none); the last results stay."""
        self.error.value = "" if not text else (
            '<div class="cmpsim-error" style="color:#8a2323;background:#f8e3e3;border-left:4px solid #b33f40;'
            f'padding:6px 10px;margin:4px 0">{html.escape(text)}</div>')

    def scenario_chosen(self, _change: Any = None) -> None:
        """Fill the knobs from the chosen scenario (a knob it has no section for is disabled). A
        scenario that cannot be loaded disables every knob and the Run button and says why."""
        self.show_error("")
        if self.scenario.value is None:
            return
        try:
            scenario = load(self.scenario.value)
        except InputError as exc:
            self._base = {}
            for box in self.knobs.values():
                box.disabled = True
            self.run_button.disabled = True
            self.show_error(f"This scenario cannot be loaded, so nothing can run: {exc}")
            return
        self.run_button.disabled = False
        self._base = knobs_of(scenario)
        for name, value in self._base.items():
            box = self.knobs[name]
            box.disabled = value is None
            if name == "priority_mix":
                box.value = format_priority_mix(value)
            elif value is not None:
                box.value = value
        faults = len(scenario["faults"])
        self.knobs["faults"].options = [(f"keep the scenario's {faults}", "keep"), ("clear them", "clear")]
        self.knobs["faults"].value = "keep"

    def knob_values_or_none(self) -> dict[str, Any]:
        """The knobs as set now, the priority mix as typed when it cannot be read."""
        try:
            return self.knob_values()
        except InputError:
            return {name: (None if box.disabled else box.value) for name, box in self.knobs.items()}

    def knob_values(self) -> dict[str, Any]:
        """The knobs as set now; a priority mix that cannot be read raises InputError."""
        values = {name: (None if box.disabled else box.value) for name, box in self.knobs.items()}
        if values["priority_mix"] is not None:
            values["priority_mix"] = parse_priority_mix(values["priority_mix"])
        return values

    def run_clicked(self, _button: w.Button | None = None) -> Path | None:
        """Run the chosen scenario with the knobs: the run folder, or None when a value was refused
        (the message names the knob; the results of the last run stay on show) or the run was stopped.
        In the background, the folder it runs into (`wait()` gives the outcome)."""
        self.show_error("")
        if self._thread is not None and self._thread.is_alive():
            self.show_error("A run is going on: wait for it or press Stop.")
            return None
        if self.scenario.value is None:
            self.show_error("Choose a scenario first.")
            return None
        if not self._base:
            self.scenario_chosen()  # says again why this scenario cannot run
            return None
        try:
            knobs = self.knob_values()
            overrides = overrides_from_knobs(knobs, self._base)
            scenario = load(self.scenario.value, overrides=overrides)
        except InputError as exc:
            self.progress.bar_style = "danger"
            self.show_error(knob_message(exc, changed_knobs(self.knob_values_or_none(), self._base)))
            return None
        folder = run_dir_for(self.out_folder, scenario, overrides)
        self._stop.clear()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.progress.value, self.progress.bar_style = 0, ""
        self.pace.value = line_html("setting up the run database")
        if not self.background:
            return self._execute(scenario, folder, changed_knobs(knobs, self._base))
        self._thread = threading.Thread(target=self._execute, args=(scenario, folder, changed_knobs(knobs, self._base)),
                                        name=f"cmpsim run {folder.name}", daemon=True)
        self._thread.start()
        return folder

    def stop_clicked(self, _button: w.Button | None = None) -> None:
        """Stop the run going on at its next simulated hour; what it did is kept, and Run continues it."""
        self._stop.set()
        self.stop_button.disabled = True
        self.pace.value = line_html("stopping at the next simulated hour")

    def wait(self, timeout: float | None = None) -> Path | None:
        """Wait for a run started in the background: its folder, or None when it was refused or stopped."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._outcome

    def _execute(self, scenario: Scenario, folder: Path, changed: list[str]) -> Path | None:
        self._outcome = None
        pace = Pace()

        def progress(done: float, days: int) -> None:
            if pace.redraw(done, days):
                self.progress.max, self.progress.value = days, min(done, days)
                self.pace.value = line_html(pace.text(done, days))
            if self._stop.is_set():  # checked after the redraw: a Stop clicked meanwhile ends the run here
                raise StopRequested

        try:
            run = (runs.resume(folder, scenario, progress) if runs.unfinished(folder)
                   else runs.run(scenario, out=folder, progress=progress))
            with run:
                self.last_figures = key_figures(run.con)
        except RunInterrupted as exc:
            self.progress.bar_style = "warning"
            self.pace.value = line_html(stopped_text(exc.days_done, exc.days) + "; Run continues it")
            return None
        except InputError as exc:  # the folder is another's, or in use
            self.progress.bar_style = "danger"
            self.show_error(str(exc))
            return None
        except Exception as exc:
            self.progress.bar_style = "danger"
            self.show_error(f"The run failed: {first_line(exc)}")
            raise
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
        self.progress.bar_style = "success"
        self.last_run_dir = self._outcome = folder
        show_table(self.output, f"{folder.name}: {scenario.name}, seed {scenario.seed}, {scenario.horizon_days} days"
                   + (f"; changed: {', '.join(changed)}" if changed else ""), self.last_figures)
        return folder


def knob_message(exc: InputError, changed: Sequence[str]) -> str:
    """A refusal of the scenario rules said against the knob that caused it ("Hardware orders a day:
    expected a number >= 0, found -5"), not against the scenario file; as it is when no changed knob
    is at that place."""
    for name in changed:
        path, label = KNOBS[name]
        dotted = ".".join(path)
        if exc.path == dotted or exc.path.startswith(dotted + ".") or exc.path.startswith(dotted + "["):
            return f"{label}: expected {exc.expected}, found {exc.found}"
    return str(exc)


# --- two runs side by side ------------------------------------------------------------------------


class RunComparison(Dashboard):
    """Two runs side by side: key figures with the changed ones highlighted (rows of class
    `changed`), money totals to the cent, and median and 90th-percentile lead times as a chart.

    Give two runs (open `Run`s or folders), a `runs_folder` whose runs fill both drop-downs
    (`refresh()` rescans it after new runs), or both; choosing a run compares again."""

    def __init__(self, run_a: RunSource | None = None, run_b: RunSource | None = None, *,
                 runs_folder: str | Path | None = None) -> None:
        self.runs_folder = Path(runs_folder) if runs_folder is not None else None
        self._given = [s for s in (run_a, run_b) if s is not None]
        self._sources: dict[str, RunSource] = {}
        self.run_a = w.Dropdown(description="Run A", layout=WIDE)
        self.run_b = w.Dropdown(description="Run B", layout=WIDE)
        self.refresh_button = w.Button(description="Refresh runs", icon="refresh")
        self.heading, self.figures, self.money, self.chart = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.comparison: Comparison | None = None
        self._quiet = False
        self.run_a.observe(self.compare_chosen, names="value")
        self.run_b.observe(self.compare_chosen, names="value")
        self.refresh_button.on_click(self.refresh)
        self.widget = w.VBox([w.HBox([self.run_a, self.run_b, self.refresh_button]), self.heading, self.figures,
                              self.money, self.chart])
        self.refresh()
        if len(self._given) == 2:
            self.choose(_key(self._given[0]), _key(self._given[1]))

    def refresh(self, _button: w.Button | None = None) -> None:
        """List the given runs and those in `runs_folder`, keeping the choice when it is still there."""
        chosen = (self.run_a.value, self.run_b.value)
        self._sources = {_key(s): s for s in self._given}
        for folder in run_folders(self.runs_folder) if self.runs_folder is not None else []:
            self._sources.setdefault(_key(folder), folder)
        options = [(Path(k).name, k) for k in self._sources]
        keys = list(self._sources)
        self._quiet = True
        try:
            self.run_a.options, self.run_b.options = options, options
        finally:
            self._quiet = False
        self.choose(chosen[0] if chosen[0] in keys else (keys[0] if keys else None),
                    chosen[1] if chosen[1] in keys else (keys[1] if len(keys) > 1 else None))

    def choose(self, run_a: str | None, run_b: str | None) -> None:
        """Set both sides (keys as in the drop-downs: the runs' folders) and compare once."""
        self._quiet = True
        try:
            self.run_a.value, self.run_b.value = run_a, run_b
        finally:
            self._quiet = False
        self.compare_chosen()

    def compare_chosen(self, _change: Any = None) -> None:
        """Compare the chosen runs and show the result (nothing until both sides are chosen)."""
        if self._quiet:
            return
        if self.run_a.value is None or self.run_b.value is None:
            self.comparison = None
            self.heading.value = paragraph("Choose two runs.")
            self.figures.value = self.money.value = self.chart.value = ""
            return
        comparison = comparison_of(self._sources[self.run_a.value], self._sources[self.run_b.value])
        self.comparison = comparison
        self.heading.value = page(paragraph(comparison_heading(comparison)),
                                  settings_html(comparison) if comparison.settings else "")
        self.figures.value = page(heading("Key figures"), figures_html(comparison))
        self.money.value = page(heading("Money"), money_html(comparison))
        self.chart.value = inline_svg(charts.svg(comparison.lead_time_chart()))


def _key(source: RunSource) -> str:
    return str(source.run_dir if isinstance(source, runs.Run) else Path(source))


# --- probes ---------------------------------------------------------------------------------------


class ProbeBoard(Dashboard):
    """Every probe of a run — kind, target, value at the end, breached, its history in the run —
    with the breached ones highlighted; choose one to see its evaluations and what made it fire
    (the rows its detail query kept at its last breach)."""

    def __init__(self, run: RunSource) -> None:
        self.source = run
        with opened(run) as opened_run:
            self.board = probe_board(opened_run)
        flagged = (self.board["breached_at_end"] | (self.board["breaches"] > 0)).to_list()
        self.table = w.HTML(page(heading("Probes"), html_table(self.board, ["breached" if f else None
                                                                             for f in flagged])))
        names = self.board["probe"].to_list()
        self.probe = w.Select(description="Probe", options=names, rows=min(max(len(names), 1), LIST_ROWS_MAX),
                              layout={"width": "60%"})
        self.breaches_only = w.Checkbox(description="breaches only", value=False, indent=False)
        self.findings, self.evaluations = w.HTML(), w.HTML()
        self.evaluation_rows: pl.DataFrame = pl.DataFrame()
        self.finding_rows: pl.DataFrame = pl.DataFrame()
        self.probe.observe(self.probe_chosen, names="value")
        self.breaches_only.observe(self.probe_chosen, names="value")
        self.widget = w.VBox([self.table, w.HBox([self.probe, self.breaches_only]), self.findings, self.evaluations])
        first_flagged = next((n for n, f in zip(names, flagged, strict=True) if f), None)
        if first_flagged is not None and first_flagged != self.probe.value:
            self.probe.value = first_flagged
        else:
            self.probe_chosen()

    def probe_chosen(self, _change: Any = None) -> None:
        """Show the chosen probe's findings and evaluations."""
        if self.probe.value is None:
            self.findings.value = self.evaluations.value = ""
            return
        with opened(self.source) as run:
            sentence, self.finding_rows = probe_findings(run, self.probe.value)
            self.evaluation_rows = probe_evaluations(run, self.probe.value, self.breaches_only.value)
        fired = not sentence.startswith(f"{self.probe.value} never breached")
        title = f"What made {self.probe.value} fire" if fired else f"{self.probe.value}: no breach in the run"
        self.findings.value = page(heading(title), paragraph(sentence),
                                   html_table(self.finding_rows) if self.finding_rows.width else "")
        shown = self.evaluation_rows.drop("detail")
        self.evaluations.value = page(heading("Evaluations in the run"),
                                      html_table(shown, ["breached" if b else None for b in shown["breached"]]))


# --- reconciliation -------------------------------------------------------------------------------


class ReconciliationExplorer(Dashboard):
    """The breaks between the sales and general ledgers (`cmpsim.reconcile`, as of `as_of` or
    everything booked): filter them by type and by text (document, account, cause), choose one to
    see its facts, the document on both sides with amounts, and the events of its trail."""

    def __init__(self, run: RunSource, as_of: dt.date | dt.datetime | None = None) -> None:
        self.source = run
        with opened(run) as opened_run:
            self.reconciliation: Reconciliation = reconcile(opened_run.con, as_of=as_of)
        breaks = self.reconciliation.breaks
        verdict = ("The ledgers reconcile." if self.reconciliation.reconciled
                   else f"{breaks.height} breaks: the ledgers do not reconcile.")
        self.summary = w.HTML(page(heading("Control totals per period"), paragraph(verdict),
                                   html_table(self.reconciliation.control)))
        self.break_type = w.Dropdown(description="Break type", options=[(f"every type ({breaks.height})", "")] + [
            (f"{t} ({n})", t) for t, n in break_type_counts(breaks)])
        self.search = w.Text(description="Search", placeholder="document, account or cause (filters as you type)",
                             continuous_update=True, layout=WIDE)
        self.breaks = w.Select(description="Break", rows=LIST_ROWS_MAX, layout={"width": "90%"})
        self.facts, self.documents, self.trail = w.HTML(), w.HTML(), w.HTML()
        self.shown: pl.DataFrame = breaks
        self.document_rows: pl.DataFrame = pl.DataFrame()
        self.trail_rows: pl.DataFrame = pl.DataFrame()
        self._quiet = False
        self.break_type.observe(self.filter_changed, names="value")
        self.search.observe(self.filter_changed, names="value")
        self.breaks.observe(self.break_chosen, names="value")
        self.widget = w.VBox([self.summary, w.HBox([self.break_type, self.search]), self.breaks, self.facts,
                              self.documents, self.trail])
        self.filter_changed()

    def filter_changed(self, _change: Any = None) -> None:
        """List the breaks of the chosen type matching the search text; the first is chosen."""
        self.shown = filter_breaks(self.reconciliation.breaks, self.break_type.value, self.search.value)
        options = [(break_label(r), (r["doc_type"], r["doc_id"])) for r in self.shown.iter_rows(named=True)]
        self._quiet = True  # new options move the selection: show the outcome once, below
        try:
            self.breaks.options = options
            self.breaks.value = options[0][1] if options else None
        finally:
            self._quiet = False
        self.break_chosen()

    def break_chosen(self, _change: Any = None) -> None:
        """Show the chosen break: its facts, its document on both sides, the events of its trail."""
        if self._quiet:
            return
        if self.breaks.value is None:
            self.facts.value = paragraph("No break matches." if self.reconciliation.breaks.height else "No break.")
            self.documents.value = self.trail.value = ""
            self.document_rows = self.trail_rows = pl.DataFrame()
            return
        doc_type, doc_id = self.breaks.value
        row = self.shown.filter(pl.col("doc_type") == doc_type, pl.col("doc_id") == doc_id).row(0, named=True)
        with opened(self.source) as run:
            self.document_rows = break_documents(run.con, doc_type, doc_id)
            self.trail_rows = trail(run.con, doc_type, doc_id)
        self.facts.value = page(heading(f"{row['break_type']}: {doc_type} {doc_id}"), html_table(break_facts(row)))
        self.documents.value = page(heading("The document on both sides"), html_table(self.document_rows))
        self.trail.value = page(heading("Its trail"), html_table(self.trail_rows))
