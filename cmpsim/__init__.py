"""cmpsim: the order-to-cash back office of a digital service provider, replayed in simulated
time on a DuckDB database.

    import cmpsim
    run = cmpsim.run("scenarios/baseline.yaml")
    run.table("orders")
"""

from cmpsim.errors import InputError
from cmpsim.runs import Run, open_run, run
from cmpsim.scenario import Scenario
from cmpsim.scenario import load as load_scenario

__all__ = ["InputError", "Run", "Scenario", "load_scenario", "open_run", "run"]
