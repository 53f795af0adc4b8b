"""Talk to the outside: OCEL 2.0 event logs for process mining, TM Forum orders in, bills out.

    from cmpsim.exchange import export_ocel
    export_ocel(cmpsim.open_run("runs/baseline"), "exports/")

See docs/exchange.md for every mapping and its choices.
"""

from __future__ import annotations

from typing import Any

DATE_MODES = ("auto", "keep", "shift")  # how `import-tmf` places orders dated outside the scenario's days

__all__ = ["DATE_MODES", "OcelExport", "export_ocel"]


def __getattr__(name: str) -> Any:
    """The exporter is imported when first asked for: the command line's start stays fast."""
    if name in ("OcelExport", "export_ocel"):
        from cmpsim.exchange import ocel

        return getattr(ocel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
