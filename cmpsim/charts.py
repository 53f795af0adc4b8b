"""Charts a person reads at a glance, as SVG text: the same figure in a PDF report and a notebook.

matplotlib draws them headless (Agg). Output is deterministic — no date in the metadata, a fixed
hash salt for element ids, text kept as text (so a PDF's words can be read back) — so a report
rendered twice from the same run is the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.ticker import FuncFormatter  # noqa: E402

from cmpsim import formats  # noqa: E402

PALETTE = ("#0b4f6c", "#e07a1f", "#5c946e", "#b33f40", "#7a5c99", "#c9a227", "#4a90a4", "#8c8c8c")
STYLE = {
    "svg.hashsalt": "cmpsim", "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 9, "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}


def to_svg(figure) -> str:
    """The figure as SVG text, closed afterwards."""
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def horizontal_bars(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "") -> str:
    """One bar per label, longest first read top to bottom, each with its value written at its end."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 0.32 * max(len(labels), 2) + 0.7))
        _bars(axis, labels, values, unit)
        axis.set_title(title)
    return to_svg(figure)


def bar_panels(panels: dict[str, tuple[Sequence[str], Sequence[float]]], title: str, unit: str = "") -> str:
    """Horizontal bars in panels side by side, one per group that must not be added to another
    (hardware and service orders), each panel titled with its group."""
    with plt.rc_context(STYLE):
        rows = max((len(labels) for labels, _ in panels.values()), default=2)
        figure, axes = plt.subplots(1, max(len(panels), 1), figsize=(6.2, 0.3 * max(rows, 2) + 0.9), squeeze=False)
        for axis, (name, (labels, values)) in zip(axes[0], panels.items(), strict=False):
            _bars(axis, labels, values, unit)
            axis.set_title(name, fontsize=8, fontweight="normal")
        figure.suptitle(title, x=0.02, ha="left", fontsize=9, fontweight="bold")
        figure.tight_layout()
    return to_svg(figure)


def _bars(axis, labels: Sequence[str], values: Sequence[float], unit: str) -> None:
    positions = list(range(len(labels)))[::-1]
    axis.barh(positions, values, color=PALETTE[0], height=0.6)
    axis.set_yticks(positions, labels)
    for y, value in zip(positions, values, strict=True):  # the value just clear of its bar's end
        axis.annotate(formats.count(round(value)) + unit, (value, y), xytext=(3, 0), textcoords="offset points",
                      va="center", fontsize=7)
    axis.margins(x=0.18)
    axis.xaxis.set_visible(False)
    axis.spines["bottom"].set_visible(False)


def stacked_columns(categories: Sequence[str], series: dict[str, Sequence[float]], title: str) -> str:
    """Columns per category (a day, a period), stacked by series (a break type), with a legend."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 2.6))
        bottom = [0.0] * len(categories)
        for colour, (name, values) in zip(PALETTE * 4, series.items(), strict=False):
            axis.bar(list(categories), values, bottom=bottom, label=name, color=colour, width=0.7)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axis.set_title(title)
        axis.tick_params(axis="x", labelrotation=60, labelsize=6.5)
        if series:
            axis.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return to_svg(figure)


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float]], title: str, axis_label: str = "",
                 label_every: int = 1) -> str:
    """Bars side by side per category (a priority, a kind of order, a day), one colour per series; the
    value axis named by `axis_label` with thousands separators; every `label_every`-th category named."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 2.8))
        width = 0.8 / max(len(series), 1)
        for i, (colour, (name, values)) in enumerate(zip(PALETTE * 4, series.items(), strict=False)):
            positions = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
            axis.bar(positions, values, width=width * 0.95, label=name, color=colour)
        shown = list(range(0, len(categories), max(label_every, 1)))
        axis.set_xticks(shown, [categories[i] for i in shown])
        axis.tick_params(axis="x", labelsize=7)
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.number(value, 0)))
        axis.set_ylabel(axis_label)
        axis.set_title(title)
        if series:
            axis.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return to_svg(figure)


def stacked_bars(categories: Sequence[str], series: dict[str, Sequence[float]], title: str,
                 axis_label: str = "", colours: dict[str, str] | None = None) -> str:
    """Horizontal bars per category (a channel), stacked by series (a status) in the given order, with
    a legend below; long category names stay readable, unrotated. `colours` by series name, else the palette."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 0.34 * max(len(categories), 2) + 1.3))
        positions = list(range(len(categories)))[::-1]
        left = [0.0] * len(categories)
        for default, (name, values) in zip(PALETTE * 4, series.items(), strict=False):
            colour = (colours or {}).get(name, default)
            axis.barh(positions, values, left=left, label=name, color=colour, height=0.6)
            left = [a + v for a, v in zip(left, values, strict=True)]
        axis.set_yticks(positions, list(categories))
        for y, total in zip(positions, left, strict=True):
            axis.annotate(formats.count(round(total)), (total, y), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=7)
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: formats.number(value, 0)))
        axis.set_xlabel(axis_label)
        axis.margins(x=0.1)
        axis.set_title(title)
        if series:
            axis.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                        ncol=min(len(series), 7))
    return to_svg(figure)


def histogram(values: Sequence[float], title: str, bins: int = 30, unit: str = "") -> str:
    """How values spread: one histogram, the median marked."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 2.4))
        if len(values):
            axis.hist(list(values), bins=bins, color=PALETTE[0])
            ordered = sorted(values)
            median = ordered[len(ordered) // 2]
            axis.axvline(median, color=PALETTE[1], linewidth=1)
            axis.text(median, axis.get_ylim()[1] * 0.95, f" median {median:,.1f}{unit}", fontsize=7, va="top")
        axis.set_title(title)
    return to_svg(figure)
