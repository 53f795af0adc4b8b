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
        positions = range(len(labels))[::-1]
        axis.barh(list(positions), values, color=PALETTE[0], height=0.6)
        axis.set_yticks(list(positions), labels)
        for y, value in zip(positions, values, strict=True):
            axis.text(value, y, f" {value:,.0f}{unit}", va="center", fontsize=7)
        axis.set_title(title)
        axis.margins(x=0.12)
        axis.xaxis.set_visible(False)
        axis.spines["bottom"].set_visible(False)
    return to_svg(figure)


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


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float]], title: str) -> str:
    """Bars side by side per category (a priority, a kind of order), one colour per series."""
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(6.2, 2.8))
        width = 0.8 / max(len(series), 1)
        for i, (colour, (name, values)) in enumerate(zip(PALETTE * 4, series.items(), strict=False)):
            positions = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
            axis.bar(positions, values, width=width * 0.95, label=name, color=colour)
        axis.set_xticks(list(range(len(categories))), list(categories))
        axis.tick_params(axis="x", labelsize=7)
        axis.set_title(title)
        if series:
            axis.legend(frameon=False, fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
