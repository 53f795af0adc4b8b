"""nbval settings for the workbench notebooks (QA's regression tests), a pytest plugin loaded by
the project's pytest options (`-p cmpsim.nbval_settings`; a `conftest.py` beside the notebooks would
clash with the tests' own `conftest` module).

Charts are compared through the figures behind them, which every notebook prints as text next to
the chart; the chart itself — a Vega-Lite spec, or an SVG drawing — is left out of the comparison
because its bytes depend on the Altair and Vega versions installed, not on the run. Widget views carry
random model ids (nbval already skips them).
"""

from __future__ import annotations

SKIPPED = (
    "image/svg+xml",  # a chart drawn: the figures behind it are printed beside it as text
    "application/vnd.vegalite.v5+json",  # a chart's Vega-Lite spec: the figures behind it are printed beside it as text
)


def pytest_collectstart(collector):
    if getattr(collector, "path", None) is not None and collector.path.suffix == ".ipynb":
        collector.skip_compare = tuple(collector.skip_compare) + SKIPPED
