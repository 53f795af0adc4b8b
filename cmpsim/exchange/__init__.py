"""Talk to the outside: OCEL 2.0 event logs for process mining, TM Forum orders in, bills out.

    from cmpsim.exchange import export_ocel
    export_ocel(cmpsim.open_run("runs/baseline"), "exports/")

See docs/exchange.md for every mapping and its choices.
"""

from cmpsim.exchange.ocel import OcelExport, export_ocel

__all__ = ["OcelExport", "export_ocel"]
