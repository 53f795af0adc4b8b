"""cmpsim: the order-to-cash back office of a digital service provider, replayed in simulated
time on a DuckDB database.

    import cmpsim
    run = cmpsim.run("scenarios/baseline.yaml")
    run.table("orders")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cmpsim.errors import InputError

if TYPE_CHECKING:
    from cmpsim.runs import Run, open_run, run
    from cmpsim.scenario import Scenario
    from cmpsim.scenario import load as load_scenario

__all__ = ["InputError", "Run", "Scenario", "__version__", "load_scenario", "open_run", "run"]

#: Where each public name lives: imported when first used, so `import cmpsim` (and the command line's
#: start) does not load DuckDB, polars and the engine before they are needed.
_LAZY = {"Run": ("cmpsim.runs", "Run"), "open_run": ("cmpsim.runs", "open_run"), "run": ("cmpsim.runs", "run"),
         "Scenario": ("cmpsim.scenario", "Scenario"), "load_scenario": ("cmpsim.scenario", "load")}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("cmpsim")
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
