"""Order priorities: the JMS scale of seed 004 (0–9, higher first) and TM Forum TMF622's.

Siebel CRM names four levels (Table 8-5): Low 3, Medium 5, High 7, Urgent 9; every value 0–9 is
allowed, and a scenario or the ScenarioRunner may give either. TMF622 orders carry `priority` as a
string "0" (highest) … "4" (lowest); it maps onto the seed's scale so that the named levels keep their
meaning, and a CRM that sends Siebel's names instead is understood too.
"""

from __future__ import annotations

from cmpsim.formats import PRIORITY_NAMES  # the names of Table 8-5, one table for parsing and showing

NAMED = {name: level for level, name in PRIORITY_NAMES.items()}
FROM_TMF622 = {"0": 9, "1": 7, "2": 5, "3": 3, "4": 1}


def level(given: int | str) -> int:
    """A priority as a scenario gives it — 7, "7" or Table 8-5's "High" — as the number the run stores
    (already checked against the scenario schema)."""
    return NAMED[given] if given in NAMED else int(given)


def from_tmf622(priority: str) -> int:
    """The JMS priority of a TMF622 order's `priority` ("0" … "4", or a Table 8-5 name); ValueError
    for anything else."""
    try:
        return FROM_TMF622[priority] if priority not in NAMED else NAMED[priority]
    except (KeyError, TypeError):
        raise ValueError(f"expected a TMF622 priority \"0\" (highest) … \"4\" (lowest) or Low, Medium, High, "
                         f"Urgent, found {priority!r}") from None
