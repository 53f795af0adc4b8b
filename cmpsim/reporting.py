"""Analysis reports as files a person can hand on: one HTML file that stands alone and its PDF.

Templates are in `reports/analysis/`; charts come from `cmpsim.charts`, drawn as SVG, and travel inside
the document as data URIs, so both files are complete on their own. The same input gives the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from cmpsim import charts, documents, formats
from cmpsim.files import write_atomic


def chart_uri(chart) -> str:
    """A chart of `cmpsim.charts` drawn as SVG, as a data URI for a report's <img>."""
    return "data:image/svg+xml;base64," + base64.b64encode(charts.svg(chart).encode()).decode()


def run_facts(con) -> dict[str, Any]:
    """Which run a report is of, for its subtitle: scenario, seed, days, first and last day in words."""
    info = dict(con.execute("SELECT key, value FROM run_info WHERE key <> 'scenario_json'").fetchall())
    first = dt.date.fromisoformat(info["start_date"])
    days = int(info["horizon_days"])
    return {"scenario": info["scenario"], "seed": info["seed"], "days": formats.count(days),
            "first_day": formats.day(first), "last_day": formats.day(first + dt.timedelta(days=days - 1)),
            "start_date": info["start_date"]}


def write_report(template: str, context: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Render `template` with `context` to `folder/stem.html` and `folder/stem.pdf`; returns both."""
    html = documents.render_html(template, context)
    pdf = documents.html_to_pdf(html, stylesheets=documents.PRINT_STYLESHEETS["analysis"])
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    write_atomic(html_path, html.encode())
    write_atomic(pdf_path, pdf)
    return html_path, pdf_path
