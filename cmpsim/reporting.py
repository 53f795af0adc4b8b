"""Analysis reports as files a person can hand on: one HTML file that stands alone and its PDF.

Templates are in `reports/analysis/`; charts come from `cmpsim.charts` as SVG and travel inside the
document as data URIs, so both files are complete on their own. The same input gives the same bytes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cmpsim import documents
from cmpsim.files import write_atomic


def svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def write_report(template: str, context: dict[str, Any], folder: Path, stem: str) -> tuple[Path, Path]:
    """Render `template` with `context` to `folder/stem.html` and `folder/stem.pdf`; returns both."""
    html = documents.render_html(template, context)
    pdf = documents.html_to_pdf(html, stylesheets=documents.PRINT_STYLESHEETS["analysis"])
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    write_atomic(html_path, html.encode())
    write_atomic(pdf_path, pdf)
    return html_path, pdf_path
