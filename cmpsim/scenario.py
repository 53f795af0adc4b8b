"""Scenario files: load YAML, resolve `extends:`, validate, freeze.

A scenario is loaded and checked once, before the run, then frozen: the simulation only reads it.
Every problem is reported as an `InputError` naming the file that holds the offending field, the
field path, what was expected and what was found.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from cmpsim.errors import InputError, describe
from cmpsim.paths import RUN_LAYOUT
from cmpsim.priorities import level
from cmpsim.validation import first_problem, format_path

EXTENDS_DEPTH_MAX = 8
# The days a run may cover: DuckDB, Python and the ledger files all hold them, with room for delays.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)

# Defaults every scenario gets under what it says; documented in docs/scenarios.md.
PROCESSES = ("hardware", "service", "billing", "ledger", "probes", "comms")
DEFAULTS: dict[str, Any] = {
    "processes": list(PROCESSES),
    # Simulated time a wake-up with work takes (docs/engine.md, "Steps take time"): a batch job starts
    # up in half a minute and handles twenty records a second, a daemon a hundred; the people and
    # parties outside the platform (CRM users, manufacturers, providers) take no time of the platform.
    "cost_model": {"defaults": {"job": {"startup_seconds": 30, "per_record_seconds": 0.05},
                                "daemon": {"startup_seconds": 1, "per_record_seconds": 0.01},
                                "user": {"startup_seconds": 0, "per_record_seconds": 0},
                                "external": {"startup_seconds": 0, "per_record_seconds": 0}},
                   "steps": {}, "slots": {"job": 4}},
    "currency": "EUR",
    "security": {"key_env": "CMPSIM_KEY"},
    "accounts": {"generate": {"count": 0, "country": "GB", "bill_cycle_days": [1, 8, 15, 22]}},
    "demand": {
        "business_hours": {"open": "08:00", "close": "20:00"},
        "quantity": {"dist": "fixed", "value": 1},
        "generation_delay_minutes": {"dist": "exponential", "mean": 30},
        "abandon_rate": 0.0,
        "enrolment_rate": 0.0,
        "gift_delivery_rate": 0.0,
        "stock_check_rate": 0.0,
        "stock_checks_per_day": 0,
        "explicit_orders": [],
    },
    "fraud_check": {"fail_rate": 0.0, "gift_fail_rate": 0.0, "watch_postcodes": []},
    "manufacturers": [],
    "enrolment": {"unenrol_rate": 0.0, "unenrol_after_days": {"dist": "fixed", "value": 7}},
    "billing": {
        "hardware_charges": "next_invoice",
        "run_at": "02:00",
        "payment_terms_days": 14,
        "usage_retention_days": 30,
        "bill_print": {"mode": "sample", "sample_rate": 0.01, "accounts": [], "documents_per_run_max": 100},
        "discounts": [],
        "provider": {"name": "cmpsim Telecom", "address": ["1 Exchange Square", "London EC2A 2BR"],
                     "vat_number": "GB 123 4567 89", "support": "support@cmpsim.example"},
    },
    "payments": {
        "on_time_days": {"dist": "uniform", "low": 1, "high": 12},
        "late_rate": 0.1,
        "late_days": {"dist": "exponential", "mean": 10},
        "never_rate": 0.02,
        "bounce_rate": 0.01,
        "bounce_after_days": {"dist": "fixed", "value": 3},
        "duplicate_rate": 0.005,
        "duplicate_after_days": {"dist": "uniform", "low": 1, "high": 5},
        "refund_after_days": 5,
        "bank_statement_at": "05:00",
        "allocation_at": ["10:00"],
    },
    "ledger": {
        "chart_of_accounts": [
            {"code": "1000", "name": "Bank", "type": "asset"},
            {"code": "1100", "name": "Trade receivables (control)", "type": "asset"},
            {"code": "2200", "name": "VAT payable", "type": "liability"},
            {"code": "2300", "name": "Customer refunds payable", "type": "liability"},
            {"code": "4000", "name": "Hardware revenue", "type": "revenue"},
            {"code": "4100", "name": "Service revenue", "type": "revenue"},
            {"code": "4200", "name": "Usage revenue", "type": "revenue"},
            {"code": "4800", "name": "Discounts allowed", "type": "revenue"},
            {"code": "4900", "name": "Other revenue", "type": "revenue"},
        ],
        "posting_rules": {
            "receivables": "1100", "bank": "1000", "tax_payable": "2200", "refunds": "2300", "discounts": "4800",
            "revenue": {"handset": "4000", "tablet": "4000", "router": "4000", "wearable": "4000",
                        "accessory": "4000", "licence": "4000", "service": "4100", "usage": "4200",
                        "default": "4900"},
        },
        "extract_poll_minutes": 30,
        "transmission_poll_minutes": 30,
        "response_poll_minutes": 30,
        "repost_at": ["09:00"],
        "repost_attempts_max": 3,
        "accounting_system": {"poll_minutes": 60, "period_close_days": 5},
    },
    "probes": [],
    "comms": {
        "poll_minutes": 15,
        "sender": "cmpsim Telecom <noreply@cmpsim.example>",
        "rules": [
            {"trigger": "order_dispatched", "template": "order-dispatched", "channel": "preferred"},
            {"trigger": "order_error", "template": "order-problem", "channel": "email"},
            {"trigger": "invoice_produced", "template": "bill-ready", "channel": "preferred", "attach_bill": True},
            {"trigger": "payment_overdue", "template": "payment-reminder", "channel": "letter", "after_days": 7},
            {"trigger": "probe_alert", "template": "probe-alert", "channel": "recipient"},
            {"trigger": "workflow_event", "template": "case-update", "channel": "email"},
        ],
        "preferences": {"email": 60, "sms": 25, "push_handset": 10, "letter": 5},
        "app_share": 0.4,
        "workflow": {"case_rate": 1.0, "when_to_create": "OnResolve",
                     "resolve_hours": {"dist": "lognormal", "mean": 20, "sd": 12}},
        "gateways": {
            "sms": {"latency_seconds": {"dist": "exponential", "mean": 4}, "failure_rate": 0.03, "invalid_rate": 0.005},
            "push_handset": {"latency_seconds": {"dist": "exponential", "mean": 1}, "failure_rate": 0.05,
                             "invalid_rate": 0.02},
            "push_external": {"latency_seconds": {"dist": "exponential", "mean": 2}, "failure_rate": 0.02,
                              "invalid_rate": 0.0},
        },
        "retry": {"attempts_max": 3, "backoff_minutes": [15, 60]},
        "letters": {"mode": "sample", "sample_rate": 0.1, "accounts": [], "documents_per_run_max": 20},
        "providers": {"report_minutes": 60, "delivered_minutes": {"dist": "exponential", "mean": 10},
                      "email_bounce_rate": 0.02, "email_read_rate": 0.45,
                      "read_hours": {"dist": "exponential", "mean": 8},
                      "letter_days": {"dist": "uniform", "low": 1, "high": 3}},
        "templates": {},
        "storage": {"folder": "storage"},
    },
    "schedules": {
        "agentview_interval_minutes": 60,
        "sales_order_request": {"trigger": "on_work"},
        "sales_order_dispatch": {"trigger": "on_work"},
        "device_enrolment_request": {"trigger": "schedule", "at": ["22:00"]},
        "device_enrolment_response": {"trigger": "on_work"},
        "extract_poll_minutes": 30,
        "load_poll_minutes": 30,
        "manufacturer_poll_minutes": 60,
    },
    "properties": {"sales.order.request.extract.fraudcheckrequired": False},
    "faults": [],
}
WAREHOUSE_DEFAULTS = {
    "dispatch_time": "17:00",
    "lead_time_hours": {"dist": "fixed", "value": 24},
    "error_rate": 0.0,
    "connected": False,
}
MANUFACTURER_DEFAULTS = {"response_delay_hours": {"dist": "fixed", "value": 12}, "reject_rate": 0.0}
PRODUCT_DEFAULTS = {"serialised": False, "manufacturer": "", "enrolable": False}
SERVICE_DEFAULTS: dict[str, Any] = {
    "fulfilment": {"poll_minutes": 15, "compensation_factor": 0.5, "revision_minutes": 15},
    "order_queue": {"consumers": 4, "message_seconds": {"dist": "fixed", "value": 0}, "poll_seconds": 60},
    "fallout": {"rate": 0.0, "operators": 2, "handling_minutes": {"dist": "fixed", "value": 30}, "poll_minutes": 15},
    "demand": {"orders_per_day": 0, "priority_mix": {"5": 1}, "product_mix": {}, "future_dated_rate": 0.0,
               "future_days": {"dist": "fixed", "value": 7}, "modify_rate": 0.0},
    "explicit_orders": [],
}
SERVICE_PRODUCT_DEFAULTS = {"bundle": False, "components": []}
# Which files each file fault can hit: inbound files on their way into CMP, posting files on their
# way to the ledger system.
INBOUND_KINDS = ("order-dispatch", "enrolment-response", "bank-statement", "comms-status")
POSTING_KINDS = ("sl-posting", "gl-posting")
FAULT_FILE_KINDS = {"tamper": INBOUND_KINDS, "garble": INBOUND_KINDS, "lose": INBOUND_KINDS + POSTING_KINDS,
                    "duplicate": INBOUND_KINDS + POSTING_KINDS, "reject": POSTING_KINDS, "delay": POSTING_KINDS}


EXPANDED_NODES_MAX = 100_000  # anchors and aliases are welcome, a "billion laughs" is not


class _ScenarioLoader(yaml.SafeLoader):
    """YAML 1.1 minus the surprises: dates stay strings, `17:00` is not the integer 1020, and a
    document whose aliases would expand past EXPANDED_NODES_MAX values is refused before anything
    walks it."""

    def construct_mapping(self, node, deep=False):
        """A key written twice in one mapping is a mistake (YAML would keep the last silently); keys
        brought in by a merge (`<<: *defaults`) may be overridden, as merges mean."""
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key in lines:
                    raise yaml.constructor.ConstructorError(
                        problem=f"the key {key[:60]!r} a second time (first on line {lines[key]})",
                        problem_mark=key_node.start_mark)
                lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            size = _expanded_size(node, {})
            if size > EXPANDED_NODES_MAX:
                raise yaml.YAMLError(f"YAML aliases expanding to {size:,} values (at most {EXPANDED_NODES_MAX:,})")
        return node


def _expanded_size(node, sizes: dict[int, int]) -> int:
    """Values the node stands for once every alias is replaced by what it names (shared nodes are
    counted each time they are used, and measured once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node reaching itself (a recursive alias) counts once
    if isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    else:
        total = 1
    sizes[id(node)] = total
    return total


_ScenarioLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regex) for tag, regex in resolvers if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Scenario:
    """A validated, frozen scenario. `data` holds every key, defaults filled in."""

    name: str
    source: str
    data: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.data["start_date"])

    @property
    def horizon_days(self) -> int:
        return int(self.data["horizon_days"])

    def property(self, name: str) -> Any:
        return self.data["properties"][name]

    def key(self) -> bytes:
        """The 256-bit file key: from the environment variable named by `security.key_env` if it
        is set, else `security.key_hex`. Never logged, never written to the run folder."""
        security = self.data["security"]
        env_name = security.get("key_env")
        if env_name and os.environ.get(env_name):
            text = os.environ[env_name].strip()
            if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
                raise InputError(f"environment variable {env_name}", "", "64 hex digits", f"{len(text)} characters")
            return bytes.fromhex(text)
        if security.get("key_hex"):
            return bytes.fromhex(security["key_hex"])
        raise InputError(
            self.source, "security", f"key_hex, or the environment variable {env_name or 'named by key_env'}", "no key"
        )

    def public_dict(self) -> dict[str, Any]:
        """The resolved scenario without key material, as stored in the run folder."""
        data = _thaw(self.data)
        data["security"] = {k: v for k, v in data["security"].items() if k != "key_hex"}
        return data

    def replace(self, **overrides: Any) -> Scenario:
        """A copy with top-level keys replaced (used by `--seed` and `--days`). A horizon that would run
        past the calendar's last day is refused here, as the file's own is on load."""
        data = _thaw(self.data)
        data.update(overrides)
        problem = _calendar_problem(data)
        if problem is not None:
            raise InputError(self.source, *problem)
        return Scenario(self.name, self.source, _freeze(data))


def stored(data: Mapping[str, Any], source: str) -> Scenario:
    """The scenario kept with a run (`Scenario.public_dict`, already validated), usable again."""
    return Scenario(str(data["name"]), source, _freeze(_thaw(data)))


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Load, resolve, validate and freeze a scenario file. Raises InputError on any problem."""
    chain = _read_chain(Path(path))
    merged: dict[str, Any] = {}
    for _, doc in reversed(chain):
        merged = _merge(merged, doc)
    merged.pop("extends", None)
    if overrides:
        merged = _merge(merged, dict(overrides))
    _validate_schema(merged, chain)
    data = _with_defaults(merged)
    _check_semantics(data, chain)
    return Scenario(data["name"], str(chain[0][0]), _freeze(data))


def _read_chain(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: set[Path] = set()
    while True:
        doc = _read_yaml(path)
        chain.append((path, doc))
        seen.add(path.resolve())
        parent = doc.get("extends")
        if parent is None:
            return chain
        if not isinstance(parent, str) or "\0" in parent:
            found = "a path with a NUL byte in it" if isinstance(parent, str) else describe(parent)
            raise InputError(str(path), "extends", "the path of another scenario file", found)
        next_path = path.parent / parent
        if next_path.resolve() in seen or len(chain) >= EXTENDS_DEPTH_MAX:
            raise InputError(
                str(path), "extends", f"a chain of at most {EXTENDS_DEPTH_MAX} files without cycles", f"{parent} again"
            )
        path = next_path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        exists = path.is_file()
    except OSError as exc:  # a name too long for the file system, and the like
        raise InputError(str(path)[:200], "", "a scenario file",
                         f"a path the system refuses ({exc.strerror})") from None
    if not exists:
        raise InputError(str(path), "", "a scenario file", "no such file")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_ScenarioLoader)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "", "UTF-8 text", f"undecodable byte at offset {exc.start}") from None
    except RecursionError:
        raise InputError(str(path), "", "YAML nested at most a few hundred levels deep", "deeper nesting") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise InputError(str(path), "", "numbers of a sensible size", _first_line(str(exc))) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None and str(exc).startswith("YAML aliases expanding"):
            found = str(exc).split(" (")[0].replace("YAML aliases expanding to ", "aliases expanding to ")
            raise InputError(str(path), "", f"YAML aliases expanding to at most {EXPANDED_NODES_MAX:,} values",
                             found) from None
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise InputError(str(path), "", "valid YAML", f"{problem} at {where}") from None
    if not isinstance(doc, dict):  # never echo the file: `extends: /etc/passwd` must not print it
        found = {str: "text", list: "a list"}.get(type(doc), "nothing" if doc is None else type(doc).__name__)
        raise InputError(str(path), "", "a mapping of scenario fields", f"{found}, not a mapping")
    try:
        bad = _not_finite(doc, [])
    except RecursionError:
        raise InputError(str(path), "", "YAML nested at most a few hundred levels deep", "deeper nesting") from None
    if bad is not None:
        raise InputError(str(path), ".".join(str(p) for p in bad[0]), "a finite number", bad[1])
    return doc


def _not_finite(node: Any, where: list[Any]) -> tuple[list[Any], str] | None:
    """The first .nan or .inf of a document (schema bounds never catch them: NaN fails no comparison)."""
    if isinstance(node, float) and not math.isfinite(node):
        return where, repr(node)
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found = _not_finite(child, [*where, key])
        if found is not None:
            return found
    return None


def _first_line(text: str) -> str:
    return text.splitlines()[0][:160] if text else "?"


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; lists and distributions ({dist: ...}) are replaced whole."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and "dist" not in value:
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _with_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    data = _merge(DEFAULTS, doc)
    # Posting rules name accounts of the scenario's own chart: given, they replace the defaults whole.
    rules = doc.get("ledger", {}).get("posting_rules")
    if rules is not None:
        data["ledger"]["posting_rules"] = copy.deepcopy(rules)
    data["warehouses"] = [_merge(WAREHOUSE_DEFAULTS, w) for w in data["warehouses"]]
    data["manufacturers"] = [_merge(MANUFACTURER_DEFAULTS, m) for m in data["manufacturers"]]
    data["catalogue"]["products"] = [_merge(PRODUCT_DEFAULTS, p) for p in data["catalogue"]["products"]]
    if "service" in data:
        data["service"] = _merge(SERVICE_DEFAULTS, data["service"])
        data["service"]["products"] = [_merge(SERVICE_PRODUCT_DEFAULTS, p) for p in data["service"]["products"]]
        _number_priorities(data["service"])
    return data


def _number_priorities(service: dict[str, Any]) -> None:
    """Table 8-5's names (Low, Medium, High, Urgent) become the numbers the run stores: a mix's weights
    for a name and its number add up; an explicit order keeps its number."""
    mix: dict[str, Any] = {}
    for key, weight in service["demand"]["priority_mix"].items():
        number = str(level(key))
        mix[number] = mix.get(number, 0) + weight
    service["demand"]["priority_mix"] = mix
    for order in service["explicit_orders"]:
        if order.get("priority") is not None:
            order["priority"] = level(order["priority"])


def _origin(chain: list[tuple[Path, dict[str, Any]]], parts: list[Any]) -> str:
    """The file of the chain that sets the deepest prefix of `parts` (the child wins ties); under a list or a
    distribution, which a child replaces whole, the nearest file that has it (its items are the ones in effect)."""
    best, best_depth = str(chain[0][0]), -1
    for path, doc in chain:
        node, depth = doc, 0
        for part in parts:
            if isinstance(node, list) or (isinstance(node, Mapping) and "dist" in node):
                return str(path)
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
            depth += 1
        if depth > best_depth:
            best, best_depth = str(path), depth
    return best


def _validate_schema(doc: dict[str, Any], chain: list[tuple[Path, dict[str, Any]]]) -> None:
    problem = first_problem("scenario.schema.json", doc)
    if problem is not None:
        path, expected, found = problem
        raise InputError(_origin(chain, _parts(path)), path, expected, found)


def _parts(path: str) -> list[Any]:
    """Split a formatted path back into keys and indices, to find the file that set it."""
    parts: list[Any] = []
    for piece in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return parts


def _check_semantics(data: dict[str, Any], chain: list[tuple[Path, dict[str, Any]]]) -> None:
    for parts, expected, found in _semantic_problems(data):
        raise InputError(_origin(chain, parts), format_path(parts), expected, found)


def _calendar_problem(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """(field, expected, found) when the start date, or the horizon after it, leaves the calendar."""
    start = _date(data["start_date"])
    if start is None or not FIRST_DAY <= start.date() <= LAST_DAY - dt.timedelta(days=data["horizon_days"]):
        return "start_date", f"a day of the calendar from {FIRST_DAY} to {LAST_DAY} less the horizon", \
            repr(data["start_date"])
    return None


def _semantic_problems(data: dict[str, Any]) -> Iterator[tuple[list[Any], str, str]]:
    problem = _calendar_problem(data)
    if problem is not None:
        yield (["start_date"], *problem[1:])
        return  # every rule below reads the start
    products = [p["id"] for p in data["catalogue"]["products"]]
    yield from _unique(products, ["catalogue", "products"], "id")
    yield from _unique([w["id"] for w in data["warehouses"]], ["warehouses"], "id")
    listed = [a["id"] for a in data["accounts"].get("listed", [])]
    yield from _unique(listed, ["accounts", "listed"], "id")
    rates = data["catalogue"]["tax_rates"]
    for i, p in enumerate(data["catalogue"]["products"]):
        if p["tax"] not in rates:
            yield (["catalogue", "products", i, "tax"], f"one of the tax_rates {', '.join(rates)}", repr(p["tax"]))
    known = set(products)
    for key in data["demand"]["product_mix"]:
        if key not in known:
            yield (["demand", "product_mix", key], "a product of the catalogue", f"unknown product {key!r}")
    stocked = set()
    for i, w in enumerate(data["warehouses"]):
        for key in w["stock"]:
            if key not in known:
                yield (["warehouses", i, "stock", key], "a product of the catalogue", f"unknown product {key!r}")
            stocked.add(key)
    for key, weight in data["demand"]["product_mix"].items():
        if weight > 0 and key not in stocked:
            yield (["demand", "product_mix", key], "a product that some warehouse stocks", "no warehouse stocking it")
    hours = data["demand"]["business_hours"]
    if hours["open"] >= hours["close"]:
        yield (["demand", "business_hours", "close"], f"a time after open ({hours['open']})", hours["close"])
    if data["accounts"]["generate"]["count"] + len(listed) == 0:
        yield (["accounts"], "at least one generated or listed account", "none")
    yield from _distribution_problems(data)
    yield from _order_problems(data, known, set(listed))
    yield from _schedule_problems(data)
    service_products = set()
    if "service" in data:
        yield from _service_problems(data, set(listed))
        service_products = {p["id"] for p in data["service"]["products"]}
    yield from _billing_problems(data, known | service_products, set(listed))
    yield from _ledger_problems(data)
    yield from _probe_problems(data)
    folder = data["comms"]["storage"]["folder"]
    if folder != "storage" and folder in RUN_LAYOUT:
        yield (["comms", "storage", "folder"], "a folder of its own inside the run folder",
               f"{folder!r}, which cmpsim writes for other things")


def _unique(ids: list[str], parts: list[Any], field: str) -> Iterator[tuple[list[Any], str, str]]:
    seen: set[str] = set()
    for i, key in enumerate(ids):
        if key in seen:
            yield (parts + [i, field], "a unique id", f"{key!r} a second time")
        seen.add(key)


def _distribution_problems(data: dict[str, Any]) -> Iterator[tuple[list[Any], str, str]]:
    specs = [(["demand", k], data["demand"][k]) for k in ("lines_per_order", "quantity", "generation_delay_minutes")]
    specs += [(["warehouses", i, "lead_time_hours"], w["lead_time_hours"]) for i, w in enumerate(data["warehouses"])]
    specs += [
        (["manufacturers", i, "response_delay_hours"], m["response_delay_hours"])
        for i, m in enumerate(data["manufacturers"])
    ]
    specs.append((["enrolment", "unenrol_after_days"], data["enrolment"]["unenrol_after_days"]))
    for parts, spec in specs:
        if spec["dist"] == "empirical" and spec.get("weights") and len(spec["weights"]) != len(spec["values"]):
            yield (parts + ["weights"], f"{len(spec['values'])} weights, one per value", f"{len(spec['weights'])}")
        if spec["dist"] == "empirical" and spec.get("weights") and sum(spec["weights"]) <= 0:
            yield (parts + ["weights"], "weights with a positive sum", "all zero")
        if spec["dist"] == "uniform" and spec["low"] > spec["high"]:
            yield (parts + ["high"], f"a value >= low ({spec['low']})", str(spec["high"]))
    for parts in (["demand", "lines_per_order"], ["demand", "quantity"]):
        spec = data[parts[0]][parts[1]]
        if spec["dist"] in ("fixed", "empirical"):
            values = [spec["value"]] if spec["dist"] == "fixed" else spec["values"]
            if any(v < 1 or v != int(v) for v in values):
                yield (parts, "whole numbers of at least 1", describe(values))


def _order_problems(data: dict[str, Any], products: set[str], listed: set[str]) -> Iterator[tuple[list[Any], str, str]]:
    start = dt.datetime.fromisoformat(data["start_date"])
    end = start + dt.timedelta(days=data["horizon_days"])
    generated = data["accounts"]["generate"]["count"]
    for i, order in enumerate(data["demand"]["explicit_orders"]):
        at = _date(order["at"])
        if at is None or not start <= at < end:
            yield (
                ["demand", "explicit_orders", i, "at"],
                f"a time within the horizon {start:%Y-%m-%d} .. {end:%Y-%m-%d}",
                order["at"],
            )
        if order["account"] not in listed and not _is_generated_account(order["account"], generated):
            yield (
                ["demand", "explicit_orders", i, "account"],
                "a listed account or a generated one (ACC-0000001 …)",
                repr(order["account"]),
            )
        for j, line in enumerate(order["lines"]):
            if line["product"] not in products:
                yield (
                    ["demand", "explicit_orders", i, "lines", j, "product"],
                    "a product of the catalogue",
                    repr(line["product"]),
                )
    for i, fault in enumerate(data["faults"]):
        day = _date(fault["date"])
        if day is None or not start <= day < end:
            yield (["faults", i, "date"], "a date within the horizon", fault["date"])
        kinds = FAULT_FILE_KINDS.get(fault["kind"])
        if kinds and fault["file_kind"] not in kinds:
            yield (["faults", i, "file_kind"], f"for {fault['kind']}: one of {', '.join(kinds)}",
                   repr(fault["file_kind"]))
        codes = [a["code"] for a in data["ledger"]["chart_of_accounts"]]
        if fault["kind"] == "wrong_account" and fault["account"] not in codes:
            yield (["faults", i, "account"], "an account of the chart_of_accounts", repr(fault["account"]))


def _date(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_generated_account(account_id: str, generated: int) -> bool:
    match = re.fullmatch(r"ACC-(\d{7})", account_id)
    return bool(match) and 1 <= int(match.group(1)) <= generated


def _schedule_problems(data: dict[str, Any]) -> Iterator[tuple[list[Any], str, str]]:
    for name, spec in data["schedules"].items():
        if isinstance(spec, dict) and spec.get("trigger") == "schedule" and not spec.get("at"):
            yield (["schedules", name, "at"], 'the times of day to run (at: ["06:00"])', "none")


def _service_problems(data: dict[str, Any], listed: set[str]) -> Iterator[tuple[list[Any], str, str]]:
    """Structure only: an explicit order naming an unknown product or price list is not a scenario
    error but a rejection the run records on the order (seed 004: the run goes on)."""
    service = data["service"]
    products = [p["id"] for p in service["products"]]
    yield from _unique(products, ["service", "products"], "id")
    price_lists = set(service["price_lists"])
    if service["default_price_list"] not in price_lists:
        yield (["service", "default_price_list"], "one of the price_lists", repr(service["default_price_list"]))
    rates = data["catalogue"]["tax_rates"]
    for i, p in enumerate(service["products"]):
        if p["tax"] not in rates:
            yield (["service", "products", i, "tax"], f"one of the tax_rates {', '.join(rates)}", repr(p["tax"]))
        for name in p["prices"]:
            if name not in price_lists:
                yield (["service", "products", i, "prices", name], "one of the price_lists", repr(name))
        for c in p["components"]:
            if c not in products:
                yield (["service", "products", i, "components"], "products of the service catalogue", repr(c))
    steps = [s["name"] for s in service["fulfilment"]["steps"]]
    yield from _unique(steps, ["service", "fulfilment", "steps"], "name")
    if service["fulfilment"]["point_of_no_return"] not in steps:
        yield (["service", "fulfilment", "point_of_no_return"], f"one of the steps {', '.join(steps)}",
               repr(service["fulfilment"]["point_of_no_return"]))
    for i, p in enumerate(service["products"]):
        if p.get("point_of_no_return", steps[0]) not in steps:
            yield (["service", "products", i, "point_of_no_return"], f"one of the steps {', '.join(steps)}",
                   repr(p["point_of_no_return"]))
    for key in service["demand"]["product_mix"]:
        if key not in products:
            yield (["service", "demand", "product_mix", key], "a product of the service catalogue", repr(key))
    for i, order in enumerate(service["explicit_orders"]):
        for j, line in enumerate(order["lines"]):
            if "fallout" in line and line["fallout"]["step"] not in steps:
                yield (["service", "explicit_orders", i, "lines", j, "fallout", "step"],
                       f"one of the steps {', '.join(steps)}", repr(line["fallout"]["step"]))
            yield from _line_action_problems(line, ["service", "explicit_orders", i, "lines", j])
    outcomes = service["fallout"].get("outcomes")
    if outcomes is not None and not sum(outcomes.values()) > 0:
        yield (["service", "fallout", "outcomes"], "at least one weight above 0", repr(dict(outcomes)))
    bundles = {p["id"] for p in service["products"] if p["bundle"]}
    for key in service.get("installed_base", {}).get("product_mix", {}):
        if key not in products or key in bundles:
            yield (["service", "installed_base", "product_mix", key],
                   "a product of the service catalogue, not a bundle", repr(key))
    yield from _service_order_problems(data, listed)


def _line_action_problems(line: dict[str, Any], path: list[Any]) -> Iterator[tuple[list[Any], str, str]]:
    """Every line names its action, but one whose price is overridden on an installed asset: the CRM makes
    that one Update (seed 004, Table 8-4), so an overridden line acting on an asset may say nothing else."""
    overridden, action = "price_override" in line, line.get("action")
    if action is None and not (overridden and "asset" in line):
        yield (path + ["action"], "one of Add, Move-Add, Move-Delete, Delete, Update, Suspend, Resume (only a line "
               "with a price_override and an asset may leave it out: the CRM makes it Update)", "nothing")
    elif overridden and action not in (None, "Add", "Update"):
        yield (path + ["action"], "Update, Add or nothing on a line with a price_override (a manual price "
               "override makes a line on an installed asset an Update)", repr(action))


def _service_order_problems(data: dict[str, Any], listed: set[str]) -> Iterator[tuple[list[Any], str, str]]:
    start = dt.datetime.fromisoformat(data["start_date"])
    end = start + dt.timedelta(days=data["horizon_days"])
    generated = data["accounts"]["generate"]["count"]
    orders = data["service"]["explicit_orders"]
    yield from _unique([o["id"] for o in orders], ["service", "explicit_orders"], "id")
    for i, order in enumerate(orders):
        parts = ["service", "explicit_orders", i]
        at = _date(order["at"])
        if at is None or not start <= at < end:
            yield (parts + ["at"], f"a time within the horizon {start:%Y-%m-%d} .. {end:%Y-%m-%d}", order["at"])
        if order["account"] not in listed and not _is_generated_account(order["account"], generated):
            yield (parts + ["account"], "a listed account or a generated one (ACC-0000001 …)", repr(order["account"]))
        if order.get("type", "new") in ("supplemental", "follow-on") and not order.get("base_order"):
            yield (parts + ["base_order"], f"the order a {order['type']} order revises", "none")
        lines = [line["line"] for line in order["lines"]]
        yield from _unique(lines, parts + ["lines"], "line")


def _known_account(account_id: str, listed: set[str], generated: int) -> bool:
    return account_id in listed or _is_generated_account(account_id, generated)


Problems = Iterator[tuple[list[Any], str, str]]


def _billing_problems(data: dict[str, Any], products: set[str], listed: set[str]) -> Problems:
    billing, generated = data["billing"], data["accounts"]["generate"]["count"]
    for i, account in enumerate(billing["bill_print"]["accounts"]):
        if not _known_account(account, listed, generated):
            yield (["billing", "bill_print", "accounts", i], "a listed account or a generated one", repr(account))
    yield from _unique([d["id"] for d in billing["discounts"]], ["billing", "discounts"], "id")
    for i, discount in enumerate(billing["discounts"]):
        for j, product in enumerate(discount.get("products", [])):
            if product not in products:
                yield (["billing", "discounts", i, "products", j], "a product of the catalogues", repr(product))
        for j, account in enumerate(discount.get("accounts", [])):
            if not _known_account(account, listed, generated):
                yield (["billing", "discounts", i, "accounts", j], "a listed account or a generated one",
                       repr(account))


def _ledger_problems(data: dict[str, Any]) -> Iterator[tuple[list[Any], str, str]]:
    ledger = data["ledger"]
    codes = [a["code"] for a in ledger["chart_of_accounts"]]
    yield from _unique(codes, ["ledger", "chart_of_accounts"], "code")
    rules = ledger["posting_rules"]
    named = [([key], code) for key, code in rules.items() if key != "revenue"]
    named += [(["revenue", key], code) for key, code in rules["revenue"].items()]
    for parts, code in named:
        if code not in codes:
            yield (["ledger", "posting_rules", *parts], "an account of the chart_of_accounts", repr(code))


def _probe_problems(data: dict[str, Any]) -> Iterator[tuple[list[Any], str, str]]:
    from cmpsim.probes import query_problem  # the probe module knows what a probe may ask

    yield from _unique([p["name"] for p in data["probes"]], ["probes"], "name")
    for i, probe in enumerate(data["probes"]):
        for field in ("query", "detail_query"):
            if field in probe:
                problem = query_problem(probe[field])
                if problem is not None:
                    yield (["probes", i, field], *problem)
