"""Charts a person reads at a glance, each drawn once as a Vega-Lite v5 spec (an Altair chart): in a
notebook it is interactive — hover a mark for its exact values, zoom and pan along the value axis with
the wheel and a drag, double-click to reset — and `svg` renders the same chart for a PDF report.

A chart's figures travel inside its spec (no data file, no row limit) and its JSON is the same for the
same figures: datasets are named by a hash of their content, the zoom by its place in the chart.
`svg` renders offline (vl-convert), the same bytes for the same chart, its words kept as text so a
PDF's words can be read back. Widths suit a notebook and, scaled down, a 2×2 grid on an A4 report page.
Importing this module makes notebooks show Altair charts as Vega-Lite, which JupyterLab draws offline.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import altair as alt
import vl_convert

from cmpsim import formats
from cmpsim.paths import REPORT_DIR

PALETTE = ("#0b4f6c", "#e07a1f", "#5c946e", "#b33f40", "#7a5c99", "#c9a227", "#4a90a4", "#8c8c8c")
WIDTH = 480  # px of plot; with its labels about 600, which a report's 128 mm figure scales to
ROW = 18  # px per bar of a horizontal bar chart
VEGA_LITE = "5.20"  # the Vega-Lite that `svg` renders with: altair 5.5 writes v5.20 specs
CLIP_ID = re.compile(r'((?:url\(#|id=")clip)(\d+)([)"])')
FONT = "DejaVu Sans"  # bundled with the reports (reports/fonts): measured and drawn alike everywhere
CONFIG = {
    "font": FONT, "background": "white", "view": {"stroke": None}, "lineBreak": "\n",
    "title": {"anchor": "start", "fontSize": 12, "fontWeight": "bold", "subtitleFontSize": 10},
    "axis": {"labelFontSize": 10, "titleFontSize": 10, "titleFontWeight": "normal", "labelColor": "#333",
             "gridColor": "#e6e6e6", "domainColor": "#888", "tickColor": "#888"},
    "legend": {"labelFontSize": 10, "titleFontSize": 10, "symbolType": "square", "labelLimit": 360},
    "text": {"fontSize": 9},
}

alt.renderers.enable("mimetype")  # application/vnd.vegalite.v5+json, not HTML that loads scripts from a CDN
vl_convert.register_font_directory(str(REPORT_DIR / "fonts"))


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as SVG text, for a PDF report or an HTML page: the same bytes for the same chart."""
    text = vl_convert.vegalite_to_svg(chart.to_dict(), vl_version=VEGA_LITE)
    # Vega numbers clip paths on from its last drawing: number them from 1 in each picture instead.
    numbers: dict[str, str] = {}
    return CLIP_ID.sub(lambda m: m[1] + numbers.setdefault(m[2], str(len(numbers) + 1)) + m[3], text)


def horizontal_bars(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "") -> alt.LayerChart:
    """One bar per label, in the given order read top to bottom, each with its value written at its end."""
    return _finish(_bars(labels, values, unit, WIDTH, "zoom"), title)


def bar_panels(panels: dict[str, tuple[Sequence[str], Sequence[float]]], title: str,
               unit: str = "") -> alt.HConcatChart:
    """Horizontal bars in panels side by side, one per group that must not be added to another
    (hardware and service orders), each panel titled with its group and scaled on its own."""
    rows = max((len(labels) for labels, _ in panels.values()), default=2)
    width = (WIDTH - 120 * (len(panels) - 1)) // max(len(panels), 1)
    views = [_bars(labels, values, unit, width, f"zoom_{i}", height=ROW * max(rows, 2)).properties(
                 title=alt.Title(name, fontSize=10, fontWeight="normal"))
             for i, (name, (labels, values)) in enumerate(panels.items())]
    return _finish(alt.hconcat(*views, spacing=16).resolve_scale(x="independent", y="independent"), title)


def _bars(labels: Sequence[str], values: Sequence[float], unit: str, width: int, zoom: str,
          height: int | None = None) -> alt.LayerChart:
    rows = [{"label": label, "value": value, "text": formats.count(round(value)) + unit}
            for label, value in zip(labels, values, strict=True)]
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("label:N", sort=list(labels), title=None),
        x=alt.X("value:Q", axis=None, scale=alt.Scale(domainMax=max(values, default=0) * 1.18 or 1, nice=False)),
        tooltip=[alt.Tooltip("label:N", title="title"), alt.Tooltip("value:Q", title="value", format=_format(values))])
    bars = _zoomed(base.mark_bar(color=PALETTE[0], height={"band": 0.6}), zoom, "x")
    view = alt.layer(bars, base.mark_text(align="left", dx=3).encode(text="text:N"))
    return view.properties(width=width, height=height or alt.Step(ROW))


def stacked_columns(categories: Sequence[str], series: dict[str, Sequence[float]], title: str) -> alt.Chart:
    """Columns per category (a day, a period), stacked by series (a break type) in the given order, with
    a legend; the categories named at a slant."""
    columns = alt.Chart(_data(_long(categories, series))).mark_bar(width={"band": 0.7}).encode(
        x=alt.X("category:N", sort=list(categories), title=None, axis=alt.Axis(labelAngle=-60, labelFontSize=9)),
        y=alt.Y("value:Q", title=None, stack="zero", axis=alt.Axis(format=",.0f")),
        color=_colours(series), order=alt.Order("order:Q"), tooltip=_tooltip(series))
    return _finish(_zoomed(columns, "zoom", "y").properties(width=WIDTH, height=190), title)


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float]], title: str, axis_label: str = "",
                 label_every: int = 1) -> alt.Chart:
    """Bars side by side per category (a priority, a kind of order, a day), one colour per series; the
    value axis named by `axis_label` with thousands separators; every `label_every`-th category named."""
    shown = [categories[i] for i in range(0, len(categories), max(label_every, 1))]
    bars = alt.Chart(_data(_long(categories, series))).mark_bar().encode(
        x=alt.X("category:N", sort=list(categories), title=None,
                axis=alt.Axis(values=shown, labelAngle=0, labelFontSize=9, labelPadding=4)),
        xOffset=alt.XOffset("series:N", sort=list(series)),
        y=alt.Y("value:Q", title=axis_label or None, axis=alt.Axis(format=",.0f")),
        color=_colours(series), tooltip=_tooltip(series))
    return _finish(_zoomed(bars, "zoom", "y").properties(width=WIDTH, height=200), title)


def stacked_bars(categories: Sequence[str], series: dict[str, Sequence[float]], title: str,
                 axis_label: str = "", colours: dict[str, str] | None = None) -> alt.LayerChart:
    """Horizontal bars per category (a channel), stacked by series (a status) in the given order, each
    bar's total written at its end, with a legend below; long category names stay readable, unrotated.
    `colours` by series name, else the palette."""
    totals = [{"category": c, "name": c, "total": sum(values[i] for values in series.values())}
              for i, c in enumerate(categories)]
    figures = [row["total"] for row in totals]
    y = alt.Y("category:N", sort=list(categories), title=None, axis=alt.Axis(labelLimit=200))
    bars = alt.Chart(_data(_long(categories, series))).mark_bar(height={"band": 0.6}).encode(
        y=y, x=alt.X("value:Q", title=axis_label or None, stack="zero", axis=alt.Axis(format=",.0f"),
                     scale=alt.Scale(domainMax=max(figures, default=0) * 1.1 or 1)),
        color=_colours(series, colours, legend=alt.Legend(orient="bottom", columns=min(len(series), 7) or 1)),
        order=alt.Order("order:Q"), tooltip=_tooltip(series))
    written = alt.Chart(_data(totals)).mark_text(align="left", dx=3).encode(
        y=y, x="total:Q", text=alt.Text("total:Q", format=",.0f"),
        tooltip=[alt.Tooltip("name:N", title="title"), alt.Tooltip("total:Q", title="total", format=_format(figures))])
    view = alt.layer(_zoomed(bars, "zoom", "x"), written)
    return _finish(view.properties(width=WIDTH, height=alt.Step(ROW + 4)), title)


def histogram(values: Sequence[float], title: str, bins: int = 30, unit: str = "") -> alt.LayerChart:
    """How values spread: `bins` bars of equal width, counted here (the spec holds the counts, not every
    value), the median marked and written."""
    low, high = (min(values), max(values)) if len(values) else (0.0, 1.0)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / step), bins - 1)] += 1
    rows = [{"from": low + i * step, "to": low + (i + 1) * step, "count": n} for i, n in enumerate(counts)]
    bars = alt.Chart(_data(rows)).mark_bar(color=PALETTE[0]).encode(
        x=alt.X("from:Q", title=None, bin="binned"), x2="to:Q", y=alt.Y("count:Q", title=None),
        tooltip=[alt.Tooltip("from:Q", format=",.2f"), alt.Tooltip("to:Q", format=",.2f"), "count:Q"])
    view = _zoomed(bars, "zoom", "x")
    if len(values):
        middle = sorted(values)[len(values) // 2]
        marked = alt.Chart(_data([{"median": middle, "text": f" median {middle:,.1f}{unit}"}])).encode(
            x="median:Q", tooltip=[alt.Tooltip("median:Q", format=",.2f")])
        view = alt.layer(view, marked.mark_rule(color=PALETTE[1]),
                         marked.mark_text(align="left", baseline="top", y=2).encode(text="text:N"))
    return _finish(view.properties(width=WIDTH, height=170), title)


def timeline(rows: Sequence[tuple[str, dt.datetime, dt.datetime, str]], title: str,
             colours: dict[str, str] | None = None) -> alt.Chart:
    """When each piece of work ran (a job's run windows, an operator's tasks): one lane per name in the
    order first met, a bar from start to end coloured by its kind (a status), its minutes in the
    tooltip. Zooms along the time axis."""
    lanes = list(dict.fromkeys(lane for lane, _, _, _ in rows))
    kinds = list(dict.fromkeys(kind for _, _, _, kind in rows))
    data = [{"lane": lane, "name": lane, "start": f"{start:%Y-%m-%dT%H:%M:%S}", "end": f"{end:%Y-%m-%dT%H:%M:%S}",
             "series": kind, "value": round((end - start).total_seconds() / 60, 2)}
            for lane, start, end, kind in rows]
    y = alt.Y("lane:N", sort=lanes, title=None, axis=alt.Axis(labelLimit=220))
    bars = alt.Chart(_data(data)).mark_bar(height={"band": 0.6}, minBandSize=2).encode(
        y=y, x=alt.X("start:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelAngle=0)), x2="end:T",
        color=_colours(dict.fromkeys(kinds), colours, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("name:N", title="title"), alt.Tooltip("series:N", title="series"),
                 alt.Tooltip("start:T", format="%Y-%m-%d %H:%M:%S"), alt.Tooltip("end:T", format="%Y-%m-%d %H:%M:%S"),
                 alt.Tooltip("value:Q", title="minutes", format=",.2f")])
    return _finish(_zoomed(bars, "zoom", "x").properties(width=WIDTH, height=alt.Step(ROW + 4)), title)

def _data(rows: list[dict]) -> dict:
    """Figures inline (never through Altair's data transformer and its row limit): Altair lifts them into
    the spec's `datasets`, each once, named by a hash of its content."""
    return {"values": rows}


def _long(categories: Sequence[str], series: dict[str, Sequence[float]]) -> list[dict]:
    """One row per category and series, `order` the series' place (stacking and legend follow it)."""
    return [{"category": c, "name": c.replace("\n", " "), "series": name, "order": k, "value": values[i]}
            for k, (name, values) in enumerate(series.items()) for i, c in enumerate(categories)]


def _colours(series: dict, colours: dict[str, str] | None = None, legend: alt.Legend | None = None) -> alt.Color:
    """Each series its colour — given by name, else the palette's in turn — the legend in series order."""
    domain = list(series)
    cycle = PALETTE * (len(domain) // len(PALETTE) + 1)
    scale = alt.Scale(domain=domain, range=[(colours or {}).get(name, cycle[i]) for i, name in enumerate(domain)])
    return alt.Color("series:N", scale=scale, sort=domain, title=None,
                     legend=legend or alt.Legend(orient="right", labelLimit=360))


def _tooltip(series: dict[str, Sequence[float]]) -> list[alt.Tooltip]:
    """The category as the tooltip's heading, then the series and its exact value."""
    figures = [value for values in series.values() for value in values]
    return [alt.Tooltip("name:N", title="title"), alt.Tooltip("series:N", title="series"),
            alt.Tooltip("value:Q", title="value", format=_format(figures))]


def _format(values: Sequence[float]) -> str:
    """How a tooltip writes a value: whole numbers with thousands separators, else to two decimals."""
    return "," if all(float(v).is_integer() for v in values) else ",.2f"


def _zoomed(view: alt.Chart, name: str, axis: str) -> alt.Chart:
    """`view` zoomed and panned along its continuous `axis`; the zoom and its view named by their place,
    as Altair's own names count up through a session (the same chart drawn twice would differ)."""
    return view.add_params(alt.selection_interval(name=name, bind="scales", encodings=[axis])).properties(
        name=f"{name}_view")


def _finish(chart, title: str):
    return chart.properties(title=title).configure(**CONFIG)
