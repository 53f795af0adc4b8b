"""The merge data of a communication: the Comms Request Detail (canonical JSON) as template values.

Amounts travel as exact text and come back as Decimal, dates and moments as date and datetime,
chosen by the key's name (`*_amount`, `outstanding`, `value`; `*_date`, `period_*`; `*_at`). A
subject the trigger does not have (an order for a bill) is left out.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

AMOUNTS = ("gross_amount", "outstanding", "value")
SUBJECT_KEYS = ("order", "invoice", "overdue", "alert", "case")


def decode(text: str, provider: dict[str, Any]) -> dict[str, Any]:
    data = {k: _typed(k, v) for k, v in json.loads(text).items()}
    for key in SUBJECT_KEYS:
        if data.get(key) is None:
            data.pop(key, None)
    return {**data, "provider": provider}


def _typed(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _typed(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(key, v) for v in value]
    if value is None or not isinstance(value, str):
        return value
    if key in AMOUNTS:
        return Decimal(value)
    if key.endswith("_date") or key.startswith("period_"):
        return dt.date.fromisoformat(value)
    if key.endswith("_at"):
        return dt.datetime.fromisoformat(value)
    return value
