"""The notebook dashboards, driven from Python as a notebook user would drive them: knobs set through
`.value`, buttons pressed with `.click()`, choices made in drop-downs and lists; then what the
view-models computed and what the page would show (Output and HTML contents) are checked.

Runs are tiny: the ledger-only scenario for two days (what-ifs through the runner) and for two
weeks with three ledger faults (probes and breaks), a few seconds each.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import polars as pl
import pytest

import cmpsim
from cmpsim import views
from cmpsim.errors import InputError
from cmpsim.kpis import kpis
from cmpsim.reconcile import reconcile
from cmpsim.scenario import load
from cmpsim.widgets import ProbeBoard, ReconciliationExplorer, RunComparison, ScenarioRunner
from conftest import TESTS

LEDGER_SMALL = TESTS / "scenarios" / "ledger-small.yaml"
BILLING_SMALL = TESTS / "scenarios" / "billing-small.yaml"
FAULTS = [  # one break type each: see tests/test_reconcile.py
    {"kind": "lose", "file_kind": "gl-posting", "date": "2026-01-08"},
    {"kind": "duplicate", "file_kind": "sl-posting", "date": "2026-01-12"},
    {"kind": "wrong_amount", "ledger": "SL", "amount": "10.00", "date": "2026-01-15"},
]
NOT_ACKNOWLEDGED = "Postings Not Acknowledged"  # the baseline's SLA probe on postings nobody answered


def marked_rows(html: str, css: str) -> list[str]:
    """The first cell of every table row with the CSS class `css`."""
    return re.findall(rf'<tr class="{css}"[^>]*><td[^>]*>([^<]*)</td>', html)


def shown_text(output) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in output.outputs)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """The folder of a closed two-week ledger run with a lost G/L file, an S/L file sent twice and an
    S/L record 10.00 too high."""
    out = tmp_path_factory.mktemp("faulty") / "run"
    cmpsim.run(load(LEDGER_SMALL, overrides={"faults": FAULTS, "horizon_days": 14}), out=out).close()
    return out


@pytest.fixture(scope="module")
def what_ifs(tmp_path_factory):
    """A runner that ran ledger-small for two days as written, then with hardware orders, hardware
    billed at once, no fraud check, no faults and another priority mix."""
    out = tmp_path_factory.mktemp("what-ifs")
    runner = ScenarioRunner([LEDGER_SMALL, BILLING_SMALL], out)
    runner.knobs["days"].value = 2
    runner.run_button.click()
    as_written = runner.last_run_dir
    knobs = {"hardware_orders_per_day": 20.0, "hardware_charges": "immediate", "fraud_check": False,
             "faults": "clear", "priority_mix": "3: 60, 9: 40"}
    for name, value in knobs.items():
        runner.knobs[name].value = value
    runner.run_button.click()
    return runner, as_written, runner.last_run_dir


# --- view-models ----------------------------------------------------------------------------------


def test_knobs_are_read_from_the_scenario_and_untouched_knobs_override_nothing():
    scenario = load(LEDGER_SMALL)
    knobs = views.knobs_of(scenario)
    assert knobs == {"hardware_orders_per_day": 0, "service_orders_per_day": 0,
                     "priority_mix": {"3": 50, "5": 30, "7": 15, "9": 5}, "fulfilment_workers": 4,
                     "hardware_charges": "next_invoice", "fraud_check": True, "faults": "keep", "days": 36,
                     "seed": scenario.seed}
    assert views.overrides_from_knobs(knobs, knobs) == {}
    assert views.hardware_charge_modes() == ["immediate", "next_invoice"]


def test_changed_knobs_become_nested_overrides_and_a_dropped_priority_weighs_nothing():
    base = views.knobs_of(load(LEDGER_SMALL))
    knobs = {**base, "hardware_orders_per_day": 20.0, "fulfilment_workers": 2, "fraud_check": False,
             "faults": "clear", "priority_mix": {"3": 60, "9": 40}, "days": 3}
    overrides = views.overrides_from_knobs(knobs, base)
    assert overrides == {
        "demand": {"orders_per_day": 20},
        "service": {"demand": {"priority_mix": {"3": 60, "5": 0, "7": 0, "9": 40}}, "fulfilment": {"workers": 2}},
        "properties": {views.FRAUD_CHECK: False}, "faults": [], "horizon_days": 3}
    scenario = load(LEDGER_SMALL, overrides=overrides)
    assert views.knobs_of(scenario)["priority_mix"] == {"3": 60, "5": 0, "7": 0, "9": 40}
    assert list(scenario["faults"]) == []
    with pytest.raises(InputError, match="knobs: speed: expected one of"):
        views.overrides_from_knobs({"speed": 1})


def test_a_priority_mix_is_typed_as_priorities_and_weights():
    assert views.parse_priority_mix("3: 50, 5:30 ,9: 2.5") == {"3": 50, "5": 30, "9": 2.5}
    assert views.format_priority_mix({"3": 50, "9": 5}) == "3: 50, 9: 5"
    assert views.parse_priority_mix("Low: 50, medium: 30, High: 15, URGENT: 5") == {"3": 50, "5": 30, "7": 15, "9": 5}
    for bad in ("", "3 50", "x: 1", "3: many", "3: 1, 3: 2", "Low: 1, 3: 2", "10: 1", "Critical: 1"):
        with pytest.raises(InputError, match="^knob priority mix: expected priorities 0-9 or Low, Medium, High, "
                                             "Urgent with weights"):
            views.parse_priority_mix(bad)


def test_a_missing_value_shows_as_a_dash_not_a_blank():
    shown = views.html_table(pl.DataFrame({"document": ["INV-1", None], "amount": [Decimal("0.00"), None]},
                                          schema={"document": pl.Utf8, "amount": pl.Decimal(18, 2)}))
    assert re.search(r'<td class="num"[^>]*>0\.00</td>', shown) and re.search(r'<td class="num"[^>]*>—</td>', shown)
    assert re.search(r"<td style=[^>]*>—</td>", shown)


def test_html_tables_escape_values_and_show_money_exactly():
    frame = pl.DataFrame({"doc": ["<INV & co>", None], "amount": [Decimal("10.10"), Decimal("-0.50")]},
                         schema={"doc": pl.Utf8, "amount": pl.Decimal(18, 2)})
    html = views.html_table(frame, ["changed", None])
    assert "&lt;INV &amp; co&gt;" in html and "<INV" not in html
    assert re.search(r'<td class="num"[^>]*>10\.10</td>', html) and re.search(r'<td class="num"[^>]*>-0\.50</td>', html)
    assert marked_rows(html, "changed") == ["&lt;INV &amp; co&gt;"]
    assert views.html_table(frame, ["changed", None]) == html  # deterministic: no ids, no clock
    assert "none" in views.html_table(frame.clear())


def test_notebook_tables_right_align_numbers_keep_ids_whole_and_sort_when_long():
    cause = "The S/L file of 2026-01-27 carrying PAY-00000476 was sent twice by the partner"
    frame = pl.DataFrame({"document": [f"PAY-{n:08d}" for n in range(14)], "amount": ["12.50"] * 13 + [None],
                          "cause": [cause] * 14})
    table = views.Table(frame, "Payments")
    page = table._repr_html_()
    right, left = "text-align:right;white-space:nowrap", "text-align:left;white-space:nowrap"
    assert f'<th class="num" style="{right}' in page and f'<td class="num" style="{right}' in page  # amounts as text
    assert f'<td style="{left}">PAY-00000000</td>' in page  # an ID never breaks at its hyphen
    assert '<span style="white-space:nowrap">PAY-00000476</span>' in page  # nor inside long text
    assert page.count("<script>") == 1 and "sort by" in page  # long: sortable by a click on a heading
    assert "<script>" not in views.Table(frame.head(5))._repr_html_()
    text = repr(table).splitlines()
    assert text[0] == "Payments" and text[1].startswith("document      amount  cause") and "  12.50  " in text[2]


# --- scenario runner ------------------------------------------------------------------------------


def test_the_runner_fills_the_knobs_from_the_chosen_scenario(tmp_path):
    runner = ScenarioRunner(TESTS / "scenarios", tmp_path)
    runner.scenario.value = str(LEDGER_SMALL)
    assert runner.knobs["days"].value == 36 and runner.knobs["hardware_orders_per_day"].value == 0
    assert runner.knobs["priority_mix"].value == "3: 50, 5: 30, 7: 15, 9: 5"
    assert runner.knobs["faults"].options[0] == ("keep the scenario's 0", "keep")
    runner.scenario.value = str(BILLING_SMALL)
    assert runner.knobs["days"].value == 38 and runner.knobs["hardware_orders_per_day"].value == 15
    assert runner.knobs["faults"].options[0] == ("keep the scenario's 2", "keep")
    assert runner.last_run_dir is None and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("knob", "value", "message"), [
    ("hardware_orders_per_day", -5.0, "Hardware orders a day: expected a number &gt;= 0, found -5"),
    ("service_orders_per_day", -5.0, "Service orders a day: expected a number &gt;= 0, found -5"),
    ("days", 0, "Days: expected"),
    ("priority_mix", "urgent", "knob priority mix: expected priorities 0-9 or Low, Medium, High, Urgent with weights"),
])
def test_a_bad_knob_is_named_in_a_message_under_the_run_button_and_runs_nothing(tmp_path, knob, value, message):
    runner = ScenarioRunner([LEDGER_SMALL], tmp_path / "runs")
    runner.knobs[knob].value = value
    runner.run_button.click()
    shown = runner.error.value
    assert message in shown and "cmpsim-error" in shown and "Traceback" not in shown
    assert "ledger-small.yaml" not in shown  # said against the knob, not the scenario file
    assert runner.widget.children.index(runner.error) == runner.widget.children.index(runner.output) - 1
    assert runner.last_run_dir is None and not (tmp_path / "runs").exists()
    assert runner.progress.bar_style == "danger" and not runner.run_button.disabled


def test_a_scenario_that_cannot_be_loaded_disables_the_knobs_and_says_why(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"extends: {LEDGER_SMALL}\nhorizon_days: -1\n")
    runner = ScenarioRunner([broken, LEDGER_SMALL], tmp_path / "runs")
    assert runner.run_button.disabled and all(box.disabled for box in runner.knobs.values())
    assert "This scenario cannot be loaded" in runner.error.value and "horizon_days" in runner.error.value
    assert "priority mix" not in runner.error.value
    runner.run_clicked()
    assert runner.last_run_dir is None and not (tmp_path / "runs").exists()
    runner.scenario.value = str(LEDGER_SMALL)  # a good one enables them again
    assert not runner.run_button.disabled and not runner.knobs["days"].disabled and runner.error.value == ""


def test_a_run_follows_the_knobs_and_shows_its_key_figures(what_ifs):
    runner, as_written, changed = what_ifs
    assert as_written != changed and as_written.parent == changed.parent
    assert runner.progress.value == runner.progress.max == 2 and runner.progress.bar_style == "success"
    with cmpsim.open_run(changed) as run:
        scenario = json.loads(run.sql("SELECT value FROM run_info WHERE key = 'scenario_json'")["value"][0])
        assert scenario["demand"]["orders_per_day"] == 20 and scenario["horizon_days"] == 2
        assert scenario["billing"]["hardware_charges"] == "immediate"
        assert scenario["properties"][views.FRAUD_CHECK] is False and scenario["faults"] == []
        assert scenario["service"]["demand"]["priority_mix"] == {"3": 60, "5": 0, "7": 0, "9": 40}
        figures = kpis(run.con)
        assert figures["hardware_orders"] > 0
        checks = run.sql("SELECT DISTINCT fraud_check FROM sales_order_details")["fraud_check"].to_list()
        assert checks == ["not checked"]  # fraud check off
    text = shown_text(runner.output)
    assert text.startswith(f"{changed.name}: ledger-small, seed 20260105, 2 days; changed: hardware_orders_per_day, "
                           "priority_mix, hardware_charges, fraud_check, faults, days")
    assert "hardware_orders          hardware orders placed" in text
    assert runner.last_figures.filter(pl.col("figure") == "hardware_orders")["value"][0] == str(
        figures["hardware_orders"])
    html = runner.output.outputs[0]["data"]["text/html"]
    assert ">hardware_orders</td>" in html
    with cmpsim.open_run(as_written) as run:
        assert json.loads(run.sql("SELECT value FROM run_info WHERE key = 'scenario_json'")["value"][0])[
            "demand"]["orders_per_day"] == 0


# --- run comparison -------------------------------------------------------------------------------


def test_a_refused_knob_keeps_the_last_results_on_show(what_ifs):
    runner, _, changed = what_ifs
    shown, days = runner.output.outputs, runner.knobs["days"].value
    runner.knobs["days"].value = -3
    try:
        assert runner.run_clicked() is None
        assert runner.output.outputs == shown and changed.name in shown[0]["data"]["text/plain"]
        assert "Days: expected" in runner.error.value and runner.last_run_dir == changed
    finally:
        runner.knobs["days"].value = days
        runner.show_error("")


def test_the_comparison_marks_exactly_the_figures_that_differ(what_ifs):
    runner, as_written, changed = what_ifs
    board = RunComparison(runs_folder=runner.out_folder)
    assert [label for label, _ in board.run_a.options] == sorted([as_written.name, changed.name])
    board.choose(str(as_written), str(changed))
    with cmpsim.open_run(as_written) as a, cmpsim.open_run(changed) as b:
        fa, fb = kpis(a.con), kpis(b.con)
    differ = [name for name in fa if fa[name] != fb[name]]
    assert {"hardware_orders", "invoices"} <= set(differ)  # hardware sold and, billed at once, invoiced
    assert marked_rows(board.figures.value, "changed") == differ
    money = board.comparison.money
    assert marked_rows(board.money.value, "changed") == money.filter("changed")["figure"].to_list()
    for amount in money["a"].to_list() + money["b"].to_list():
        assert f'tabular-nums">{amount}</td>' in board.money.value  # to the cent, as stored, right-aligned
    assert board.chart.value.startswith("<svg") and "Lead time" in board.chart.value
    assert f"{len(board.comparison.changed)} figures differ" in board.heading.value
    # The sides are told apart by what was changed: the knobs turned for B, A's and B's values.
    settings = {path: (a, b) for path, a, b in board.comparison.settings}
    assert settings["demand.orders_per_day"] == ("0", "20") and settings["billing.hardware_charges"] == (
        "next_invoice", "immediate")
    assert settings["properties.sales.order.request.extract.fraudcheckrequired"] == ("on", "off")
    assert "name" not in settings and all(a != b for a, b in settings.values())
    a_label, b_label = board.comparison.side_labels
    assert a_label != b_label and "Settings that differ" in board.heading.value
    assert "billing.hardware_charges next_invoice" in a_label and "billing.hardware_charges immediate" in b_label

    board.run_b.value = str(as_written)  # a run against itself: nothing marked
    assert board.comparison.b.days == 2 and marked_rows(board.figures.value, "changed") == []
    assert "No figure differs." in board.heading.value and board.comparison.settings == []


def test_the_comparison_takes_open_runs_and_refreshes_its_list(what_ifs, faulty):
    runner, as_written, _ = what_ifs
    with cmpsim.open_run(faulty) as run:
        board = RunComparison(run, as_written)
        assert board.comparison.a.days == 14 and board.comparison.b.days == 2
        assert "ledger_breaks" in board.comparison.changed
    board = RunComparison(runs_folder=runner.out_folder / "nothing-yet")
    assert board.run_a.options == () and "Choose two runs." in board.heading.value


# --- probes ---------------------------------------------------------------------------------------


def test_the_probe_board_lists_every_probe_and_highlights_the_breached(faulty):
    board = ProbeBoard(faulty)
    with cmpsim.open_run(faulty) as run:
        declared = [p["name"] for p in json.loads(run.sql(
            "SELECT value FROM run_info WHERE key = 'scenario_json'")["value"][0])["probes"]]
    assert board.board["probe"].to_list() == declared
    row = board.board.filter(pl.col("probe") == NOT_ACKNOWLEDGED).row(0, named=True)
    assert (row["kind"], row["target"], row["value_at_end"], row["breached_at_end"]) == ("sla", "== 0", "11", True)
    assert row["breaches"] > 0 and row["alerts_raised"] == 0  # an SLA probe notifies no one
    assert marked_rows(board.table.value, "breached") == [NOT_ACKNOWLEDGED]
    assert board.probe.value == NOT_ACKNOWLEDGED  # the first breached probe is shown first


def test_choosing_a_probe_shows_what_made_it_fire(faulty):
    board = ProbeBoard(faulty)
    board.probe.value = NOT_ACKNOWLEDGED
    assert board.finding_rows.height == 11 and set(board.finding_rows.columns) == {"file", "posting_id", "updated_at"}
    assert board.finding_rows["file"].str.starts_with("gl-posting__").all()
    assert "Last breached at 2026-01-18 08:00: value 11, target == 0" in board.findings.value
    assert board.evaluation_rows.height == 14 and board.evaluation_rows["breached"].any()
    board.breaches_only.value = True
    breaches = board.board.filter(pl.col("probe") == NOT_ACKNOWLEDGED)["breaches"][0]
    assert board.evaluation_rows["breached"].all() and board.evaluation_rows.height == breaches
    board.probe.value = "Postings Rejected"
    assert board.finding_rows.height == 0 and "Postings Rejected never breached" in board.findings.value
    assert "Postings Rejected: no breach in the run" in board.findings.value and "fire" not in board.findings.value


def test_the_probe_board_reads_an_open_run(faulty):
    with cmpsim.open_run(faulty) as run:
        board = ProbeBoard(run)
        assert board.probe.value == NOT_ACKNOWLEDGED and board.finding_rows.height == 11


def test_a_detail_that_is_a_reason_shows_as_one_row():
    assert views.detail_rows("query failed: Catalog Error: x").to_dicts() == [
        {"reason": "query failed: Catalog Error: x"}]
    assert views.detail_rows('[{"a": "1", "b": null}]').to_dicts() == [{"a": "1", "b": ""}]


# --- reconciliation -------------------------------------------------------------------------------


def test_choosing_a_break_type_filters_the_list_to_that_type(faulty):
    explorer = ReconciliationExplorer(faulty)
    with cmpsim.open_run(faulty) as run:
        breaks = reconcile(run.con).breaks
    assert [v for _, v in explorer.break_type.options] == ["", "duplicate posting", "missing in GL", "amount mismatch"]
    assert len(explorer.breaks.options) == breaks.height == 13
    for break_type in ("missing in GL", "duplicate posting", "amount mismatch"):
        explorer.break_type.value = break_type
        expected = breaks.filter(pl.col("break_type") == break_type)
        assert [v for _, v in explorer.breaks.options] == list(expected.select("doc_type", "doc_id").iter_rows())
        assert all(label.startswith(f"{break_type} · ") for label, _ in explorer.breaks.options)
        assert explorer.breaks.value == explorer.breaks.options[0][1]  # the first is shown at once
        assert f"<h4>{break_type}: " in explorer.facts.value
    explorer.break_type.value = "missing in GL"
    assert explorer.search.continuous_update  # it filters as one types, no Enter to guess
    explorer.search.value = "inv-00000003"
    assert [v for _, v in explorer.breaks.options] == [("invoice", "INV-00000003")]
    explorer.search.value = "no such document"
    assert explorer.breaks.options == () and "No break matches." in explorer.facts.value
    assert explorer.trail.value == "" and explorer.trail_rows.height == 0


def test_choosing_a_break_shows_both_sides_and_the_events_of_its_trail(faulty):
    explorer = ReconciliationExplorer(faulty)
    explorer.break_type.value = "amount mismatch"
    facts = dict(views.break_facts(explorer.shown.row(0, named=True)).iter_rows())
    assert (facts["sl_amount"], facts["gl_amount"], facts["difference"]) == ("46.00", "36.00", "10.00")
    booked = {r["side"]: r["amount"] for r in explorer.document_rows.iter_rows(named=True) if r["side"] != "CMP"}
    assert booked == {"S/L": Decimal("46.00"), "G/L": Decimal("36.00")}
    assert ">entry amount</td>" in explorer.documents.value
    assert 'tabular-nums">46.00</td>' in explorer.documents.value
    activities = explorer.trail_rows["activity"].to_list()
    assert {"Invoice Produced", "Booked In Sales Ledger", "Booked In General Ledger"} <= set(activities)
    # in the order it happened: produced, then the fault as Invoice Posting (after it) posted it, then booked
    assert activities[0] == "Invoice Produced" and activities[1] == "Fault Injected: wrong_amount"
    assert activities.index("Booked In Sales Ledger") > 1
    assert "posted 10.00 off its amount" in explorer.trail.value

    explorer.break_type.value = "duplicate posting"
    sides = explorer.document_rows["side"].to_list()
    assert sides.count("S/L") == 2 and sides.count("G/L") == 1
    assert "sent twice" in explorer.facts.value


def test_a_run_that_reconciles_says_so(what_ifs):
    _, as_written, _ = what_ifs
    explorer = ReconciliationExplorer(as_written)
    assert explorer.breaks.options == () and "The ledgers reconcile." in explorer.summary.value
    assert "No break." in explorer.facts.value


def test_stop_leaves_a_resumable_run_that_run_continues_to_the_same_figures(what_ifs, tmp_path):
    _, as_written, _ = what_ifs
    runner = ScenarioRunner([LEDGER_SMALL], tmp_path, background=True)
    runner.knobs["days"].value = 2
    seen: list[str] = []
    runner.pace.observe(lambda change: seen.append(change["new"]), names="value")
    stop_after_a_day = lambda change: runner.stop_button.click() if change["new"] >= 1 else None  # noqa: E731
    runner.progress.observe(stop_after_a_day, names="value")
    folder = runner.run_clicked()
    assert runner.run_button.disabled and not runner.stop_button.disabled  # while it goes
    assert runner.wait(timeout=300) is None
    assert runner.progress.bar_style == "warning" and runner.progress.value == 1
    assert "stopped in day 2 of 2" in runner.pace.value and "Run continues it" in runner.pace.value
    assert not (folder / "run.json").exists() and not runner.run_button.disabled and runner.stop_button.disabled
    assert any("day 1 of 2" in text for text in seen)
    runner.progress.unobserve(stop_after_a_day, names="value")
    assert runner.run_clicked() == folder and runner.wait(timeout=300) == folder
    assert runner.progress.bar_style == "success" and "2 of 2 days simulated" in runner.pace.value
    with cmpsim.open_run(as_written) as straight:
        assert runner.last_figures.equals(views.key_figures(straight.con))

