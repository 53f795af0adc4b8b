"""Charts as analysts and report readers get them: one Vega-Lite v5 spec per chart, interactive in a
notebook (a tooltip with the exact figures on every mark, zoom along a value axis), drawn by
`charts.svg` as the same SVG every time, its words readable as text."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cmpsim import charts

MAKERS = {
    "horizontal_bars": lambda: charts.horizontal_bars(["missing in GL", "wrong GL account"], [12, 3],
                                                      "Breaks by type (documents)"),
    "bar_panels": lambda: charts.bar_panels({"Hardware sales orders": (["Completed", "Error"], [1234, 56]),
                                             "Service orders": (["Completed", "Open"], [88, 9])},
                                            "Orders by final status"),
    "grouped_bars": lambda: charts.grouped_bars(["Hardware", "Service\nP1 urgent"],
                                                {"median": [26.25, 4.5], "90th percentile": [50.125, 8.0]},
                                                "Lead time of completed orders", axis_label="hours"),
    "stacked_bars": lambda: charts.stacked_bars(["email", "letter"], {"Sent": [10, 5], "Failed": [1, 0]},
                                                "Communications by channel and status", axis_label="communications",
                                                colours={"Failed": "#b33f40"}),
    "stacked_columns": lambda: charts.stacked_columns(["2026-01-05", "never booked"],
                                                      {"missing in GL": [3, 1], "wrong GL account": [0, 2]},
                                                      "Breaks by the day the document was first booked"),
    "histogram": lambda: charts.histogram([1.5, 2.0, 2.0, 3.25, 10.0], "Lead times", bins=4, unit=" h"),
    "timeline": lambda: charts.timeline(
        [("Invoice Production", dt.datetime(2026, 1, 8, 2), dt.datetime(2026, 1, 8, 9, 0, 30), "Completed"),
         ("Invoice Posting", dt.datetime(2026, 1, 8, 9, 0, 30), dt.datetime(2026, 1, 8, 9, 1), "Failed")],
        "Job runs on 2026-01-08", colours={"Failed": "#b33f40"}),
}
GIVEN = {"horizontal_bars": [12, 3], "bar_panels": [1234, 56, 88, 9], "grouped_bars": [26.25, 4.5, 50.125, 8.0],
         "stacked_bars": [10, 5, 1, 0, 11], "stacked_columns": [3, 1, 0, 2], "histogram": [4, 1, 2.0],
         "timeline": [420.5, 0.5]}


def units(spec: dict) -> list[dict]:
    """Every single view of a spec (a layer's, a panel's), each with its mark and encoding."""
    found = [spec] if "mark" in spec else []
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for view in spec.get(key, []):
            found += units(view)
    return found


def figures(spec: dict) -> list:
    return [value for rows in spec["datasets"].values() for row in rows for value in row.values()]


@pytest.mark.parametrize("name", MAKERS)
def test_each_chart_is_a_vega_lite_v5_spec_whose_every_mark_tells_its_exact_figures(name):
    spec = MAKERS[name]().to_dict()
    assert "/vega-lite/v5." in spec["$schema"]
    assert all(value in figures(spec) for value in GIVEN[name]), name  # inline, as given, not rounded
    for view in units(spec):
        tooltip = view["encoding"]["tooltip"]
        assert isinstance(tooltip, list) and tooltip, (name, view["mark"])
        fields = {t["field"] for t in tooltip}
        assert fields & {"value", "total", "count", "median"}, (name, fields)


@pytest.mark.parametrize("name", MAKERS)
def test_each_chart_zooms_along_its_value_axis(name):
    spec = MAKERS[name]().to_dict()
    zooms = [p for view in units(spec) for p in view.get("params", [])] + spec.get("params", [])
    assert zooms and all(p["bind"] == "scales" and p["select"]["type"] == "interval" for p in zooms)


def test_the_same_figures_give_the_same_spec_json_and_the_same_svg_bytes():
    """No name counts up within a session (datasets are named by their content, the zoom by its place)."""
    for name, make in MAKERS.items():
        first, second = make(), make()
        assert first.to_json() == second.to_json(), name
        assert charts.svg(first) == charts.svg(second) == charts.svg(first), name


def test_the_svg_carries_the_title_axis_title_labels_and_legend_as_text():
    drawn = charts.svg(MAKERS["grouped_bars"]())
    assert drawn.startswith("<svg")
    for words in ("Lead time of completed orders", "hours", "Hardware", "median", "90th percentile"):
        assert f">{words}</text>" in drawn, words
    assert "<tspan>Service</tspan><tspan" in drawn and ">P1 urgent</tspan>" in drawn  # a label on two lines
    panels = charts.svg(MAKERS["bar_panels"]())
    for words in ("Orders by final status", "Hardware sales orders", "Service orders", "1,234"):
        assert f">{words}</text>" in panels, words  # each group its own panel, values written at bar ends


def test_colours_given_by_name_are_kept_and_the_rest_come_from_the_palette():
    spec = MAKERS["stacked_bars"]().to_dict()
    scale = next(v["encoding"]["color"]["scale"] for v in units(spec) if "color" in v["encoding"])
    assert scale == {"domain": ["Sent", "Failed"], "range": [charts.PALETTE[0], "#b33f40"]}


def test_a_notebook_gets_the_vega_lite_mimetype_with_the_data_inline():
    bundle = MAKERS["grouped_bars"]()._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    spec = bundle["application/vnd.vegalite.v5+json"]
    assert "text/html" not in bundle and figures(spec)
    assert "url" not in json.dumps(spec["datasets"])


def test_many_figures_stay_inline_without_altairs_row_limit():
    labels = [f"day {i}" for i in range(6000)]
    spec = charts.grouped_bars(labels, {"billed": [float(i) for i in range(6000)]}, "Many days").to_dict()
    assert len(next(iter(spec["datasets"].values()))) == 6000
    spread = charts.histogram([i / 7 for i in range(20000)], "Spread", bins=30).to_dict()
    assert sum(row["count"] for rows in spread["datasets"].values() for row in rows if "count" in row) == 20000
