"""Order priorities: the JMS scale of seed 004 (0–9, higher first) and TM Forum TMF622's.

Siebel CRM names four levels (Table 8-5): Low 3, Medium 5, High 7, Urgent 9; every value 0–9 is
allowed. TMF622 orders carry `priority` as a string "0" (highest) … "4" (lowest); it maps onto the
seed's scale so that the named levels keep their meaning.
"""

from __future__ import annotations

from cmpsim.formats import PRIORITY_NAMES  # the names of Table 8-5, one table for parsing and showing

NAMED = {name: level for level, name in PRIORITY_NAMES.items()}
FROM_TMF622 = {"0": 9, "1": 7, "2": 5, "3": 3, "4": 1}


def from_tmf622(priority: str) -> int:
    """The JMS priority of a TMF622 order's `priority`; ValueError for anything but "0" … "4"."""
    try:
        return FROM_TMF622[priority]
    except (KeyError, TypeError):
        raise ValueError(f"expected a TMF622 priority \"0\" (highest) … \"4\" (lowest), found {priority!r}") from None
