"""Service order fulfilment (seed 004) on real runs: order types, revision rules, price lists,
priorities, asset actions, and the hand-over to billing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import cmpsim
from cmpsim import views
from cmpsim.check import check
from cmpsim.scenario import load
from conftest import TESTS

SCENARIOS = TESTS.parent / "scenarios"


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> cmpsim.Run:
    run = cmpsim.run(TESTS / "scenarios" / "service-small.yaml", out=tmp_path_factory.mktemp("svc") / "run")
    yield run
    run.close()


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> cmpsim.Run:
    run = cmpsim.run(SCENARIOS / "price-lists.yaml", out=tmp_path_factory.mktemp("pl") / "run")
    yield run
    run.close()


def order(run, external_id: str) -> dict:
    return run.sql("""SELECT o.*, s.* EXCLUDE (order_id) FROM orders o JOIN service_orders s USING (order_id)
                      WHERE s.external_id = ?""", [external_id]).row(0, named=True)


def hhmm(value) -> str:
    return value.strftime("%d %H:%M")


def test_higher_priority_goes_first_among_orders_not_started(small):
    starts = {key: hhmm(order(small, key)["started_at"]) for key in ("LOW-1", "LOW-2", "LOW-3", "URGENT")}
    assert starts == {"LOW-1": "05 09:00", "LOW-2": "05 10:00", "URGENT": "05 15:00", "LOW-3": "05 16:00"}


def test_a_started_order_is_not_preempted(small):
    jobs = small.sql("""SELECT j.status, j.started_at, j.ended_at FROM fulfilment_jobs j
                        JOIN service_orders s USING (order_id) WHERE s.external_id IN ('LOW-1', 'LOW-2')""")
    assert set(jobs["status"]) == {"Done"}
    assert all((e - s).total_seconds() == 6 * 3600 for _, s, e in jobs.rows())  # ran its 6 h through


def test_revision_before_the_point_of_no_return_compensates_and_redoes(small):
    """Seed 004: the revised order's fulfilment is suspended while the changes and the compensation plan
    are worked out (15 minutes), then the redone line first undoes the steps it had done."""
    assert order(small, "REV")["status"] == "Applied"
    jobs = small.sql("""SELECT j.status, j.steps, j.step_durations_s, j.started_at, j.ended_at, j.interrupted_at
                        FROM fulfilment_jobs j JOIN service_orders s USING (order_id)
                        WHERE s.external_id = 'REV-BASE' ORDER BY j.job_no""").rows(named=True)
    first, redo = jobs
    assert first["status"] == "Interrupted" and hhmm(first["interrupted_at"]) == "06 10:30"
    # Design (1 h) was done when the revision came: undoing it takes half its time, then all again.
    assert redo["steps"] == ["Undo Design", "Design", "Provision", "Activate"]
    assert redo["step_durations_s"] == [1800, 3600, 7200, 10800]
    assert hhmm(redo["started_at"]) == "06 10:45" and hhmm(redo["ended_at"]) == "06 17:15"
    line = small.sql("""SELECT l.product_id, l.status FROM service_lines l JOIN service_orders s USING (order_id)
                        WHERE s.external_id = 'REV-BASE'""").rows()
    assert line == [("IPTV", "Complete")]  # the revised product was delivered
    events = small.sql("""SELECT activity, strftime(e.ts, '%d %H:%M') AS at FROM events e
                          JOIN service_orders s ON s.order_id = e.object_id
                          WHERE s.external_id = 'REV-BASE' AND e.activity IN ('Fulfilment Suspended', 'Line Redo',
                                                                             'Fulfilment Resumed')
                          ORDER BY e.seq""").rows()
    assert events == [("Fulfilment Suspended", "06 10:30"), ("Line Redo", "06 10:30"),
                      ("Fulfilment Resumed", "06 10:45")]


def test_revision_after_the_point_of_no_return_is_refused(small):
    refused = order(small, "PONR-REV")
    assert refused["status"] == "Rejected"
    assert refused["status_reason"] == "the base order is past the point of no return: submit a follow-on order"
    base_jobs = small.sql("""SELECT count(*) AS n FROM fulfilment_jobs j JOIN service_orders s USING (order_id)
                             WHERE s.external_id = 'PONR-BASE'""")["n"][0]
    assert base_jobs == 1  # nothing was interrupted


def test_follow_on_waits_for_its_base_line(small):
    base, follow = order(small, "PONR-BASE"), order(small, "FOLLOW")
    assert follow["submitted_at"] < base["completed_at"]
    assert follow["released_at"] == base["completed_at"] and follow["status"] == "Complete"


def test_future_dated_order_starts_at_its_due_date(small):
    future = order(small, "FUTURE")
    assert future["order_type"] == "future-dated"
    assert hhmm(future["started_at"]) == "07 08:00"


def test_action_that_does_not_fit_the_asset_is_rejected_with_a_reason(small):
    """The CRM judges a change to an asset at submission, on the state it will be in when due (here
    Active: nothing else is open on it); order management judges it again when it comes due."""
    wrong = order(small, "WRONG-STATE")
    assert wrong["status"] == "Rejected"
    assert wrong["status_reason"] == "line 1: Resume needs a Suspended asset, found Active"


def test_suspend_and_resume_move_the_asset_and_its_recurring_charge(small):
    periods = small.sql("""SELECT state, active_from, active_to, monthly_amount FROM recurring_charges
                           WHERE asset_id = 'AS-LOW-1-1' ORDER BY active_from""").rows()
    assert [p[0] for p in periods] == ["Active", "Suspended", "Active"]
    assert periods[0][2] == periods[1][1] and periods[1][2] == periods[2][1] and periods[2][2] is None
    assert {p[3] for p in periods} == {Decimal("30.00")}
    assert small.sql("SELECT state FROM assets WHERE asset_id = 'AS-LOW-1-1'")["state"][0] == "Active"


def test_one_off_charges_for_new_assets(small):
    charges = small.sql("""SELECT c.source_id, c.net_amount, c.tax_amount, c.gross_amount FROM charges c
                           WHERE c.source_type = 'service_order' ORDER BY 1""")
    assert charges.height > 0
    for _, net, tax, gross in charges.rows():
        assert tax == (net * Decimal("0.20")).quantize(Decimal("0.01")) and gross == net + tax


def test_public_tables_show_service_orders(small):
    kinds = small.sql("SELECT DISTINCT kind FROM orders")["kind"].to_list()
    assert kinds == ["service"]
    lines = small.sql("""SELECT count(*) AS n FROM order_lines p JOIN service_lines l USING (order_id, line_no)
                         WHERE p.status <> l.status OR p.price_list IS DISTINCT FROM l.resolved_price_list""")
    assert lines["n"][0] == 0


def test_seed_price_list_tables_come_out_exactly(tables):
    lines = tables.sql("""SELECT s.external_id, l.line_ref, l.resolved_price_list FROM service_lines l
                          JOIN service_orders s USING (order_id) WHERE s.external_id IN ('T82', 'T84')
                          ORDER BY s.seq, l.line_no""").rows()
    consumer, premium = "Consumer Price List", "Premium Consumer Price List"
    # Table 8-2 as revised by Table 8-3 (the base order carries the revision's lines).
    assert lines[:4] == [("T82", "1", premium), ("T82", "2", consumer), ("T82", "2.1", consumer),
                         ("T82", "2.2", consumer)]
    # Table 8-4: Internet Access back to Consumer, the bundle and its components to Premium.
    assert lines[4:] == [("T84", "1", consumer), ("T84", "2", premium), ("T84", "2.1", premium),
                         ("T84", "2.2", premium)]
    assets = dict(tables.sql("SELECT asset_id, price_list FROM assets ORDER BY 1").rows())
    assert assets == {"AS-T82-1": consumer, "AS-T82-2": premium, "AS-T82-2.1": premium, "AS-T82-2.2": premium}


def test_a_manual_price_override_makes_the_line_an_update_and_its_price_the_monthly_charge(tables):
    """Seed 004, Table 8-4: the CSR overrides each line's price, so the CRM makes the line an Update (T84's
    lines say no action) and the new price lists take effect; the overridden price is what the asset
    costs a month from the moment the line completes, where the price list gave it before."""
    t84 = tables.sql("""SELECT l.line_ref, l.action, l.price_override, p.unit_price, a.price_override AS kept
                        FROM service_lines l JOIN service_orders s USING (order_id)
                             JOIN order_lines p USING (order_id, line_no) JOIN assets a USING (asset_id)
                        WHERE s.external_id = 'T84' ORDER BY l.line_no""").rows()
    overrides = [Decimal("28.00"), Decimal("4.50"), Decimal("8.75"), Decimal("2.49")]
    refs = ["1", "2", "2.1", "2.2"]
    assert t84 == [(ref, "Update", price, price, price) for ref, price in zip(refs, overrides, strict=True)]
    periods = tables.sql("""SELECT r.asset_id, list(r.monthly_amount ORDER BY r.active_from) AS amounts,
                                   bool_and(r.active_from = l.completed_at) AS from_completion
                            FROM recurring_charges r JOIN order_lines l USING (order_id, line_no)
                            GROUP BY ALL ORDER BY 1""").rows()
    # T82 (revised by T83) priced Internet Access at the Premium list, the bundle at the Consumer list.
    before = [Decimal("27.50"), Decimal("5.00"), Decimal("10.00"), Decimal("2.99")]
    assert periods == [(f"AS-T82-{ref}", [old, new], True)
                       for ref, old, new in zip(refs, before, overrides, strict=True)]


def test_order_lines_carry_the_price_each_line_is_charged(tables):
    """The public order_lines follow the service lines after a revision repriced them (T83 moved T82's
    Internet Access to the Premium list: 27.50, not the Consumer list's 30.00) and after an override."""
    lines = tables.sql("""SELECT s.external_id, l.line_ref, p.unit_price,
                                 coalesce(l.price_override, pr.recurring) AS charged
                          FROM order_lines p JOIN service_lines l USING (order_id, line_no)
                               JOIN service_orders s USING (order_id)
                               LEFT JOIN service_prices pr ON pr.product_id = l.product_id
                                    AND pr.price_list = l.resolved_price_list
                          WHERE l.status <> 'Rejected' ORDER BY s.seq, l.line_no""")
    assert lines.filter(pl.col("unit_price") != pl.col("charged")).height == 0
    assert lines.row(0)[:3] == ("T82", "1", Decimal("27.50"))


def test_table_8_2_before_its_revision(tables):
    """The events keep what Table 8-2 resolved before 8-3 changed it: line 2's bundle price list."""
    repriced = tables.sql("""SELECT e.detail FROM events e JOIN service_orders s ON s.order_id = e.object_id
                             WHERE s.external_id = 'T82' AND e.activity = 'Line Repriced' ORDER BY e.detail""")
    assert repriced["detail"].to_list() == ["1", "2", "2.1", "2.2"]


@pytest.mark.parametrize("case, reason", [
    ("BAD-PRODUCT", "line 1: unknown product FIBRE-10G"),
    ("BAD-LIST", "line 1: unknown price list Platinum Price List"),
    ("BAD-FOLLOW", "follow-on line 1 references line 7 that does not exist on the base order"),
    ("T83B", "another revision of the base order is already pending"),
    ("DONE-REV", "revision of a completed order"),
])
def test_bad_orders_are_rejected_with_their_reason(service_run, case, reason):
    assert (order(service_run, case)["status"], order(service_run, case)["status_reason"]) == ("Rejected", reason)


def test_follow_on_without_a_submitted_base_is_processed_as_a_base_order(service_run):
    orphan = order(service_run, "ORPHAN")
    assert orphan["processed_as"] == "base" and orphan["status"] == "Complete"


@pytest.fixture(scope="module")
def service_run(tmp_path_factory) -> cmpsim.Run:
    """The shipped service scenario, shortened to the days its explicit orders need."""
    from cmpsim.scenario import load

    scenario = load(SCENARIOS / "service.yaml", overrides={"horizon_days": 8, "service": {"demand": {
        "orders_per_day": 6}}})
    run = cmpsim.run(scenario, out=Path(tmp_path_factory.mktemp("service")) / "run")
    yield run
    run.close()


def test_due_date_revision_counts_only_before_fulfilment_starts(small):
    moved = order(small, "DUE-BASE")
    assert hhmm(moved["due_at"]) == "06 12:00" and moved["released_at"] == moved["due_at"]
    assert hhmm(moved["started_at"]) == "06 15:00"  # the first worker free after its new due date
    started = order(small, "REV-BASE")  # its revision carried another date, but work had begun
    assert hhmm(started["due_at"]) == "06 09:00"


def test_a_revision_without_a_due_date_keeps_the_base_one(small):
    kept = order(small, "KEEP-DUE")
    assert order(small, "KEEP-DUE-REV")["status"] == "Applied"
    assert hhmm(kept["due_at"]) == "08 12:00" and kept["started_at"] >= kept["due_at"]


def test_a_revision_of_a_revision_is_refused(small):
    refused = order(small, "REV-OF-REV")
    assert (refused["status"], refused["status_reason"]) == (
        "Rejected", "the base order is itself a revision: revise the order it revised")


def test_a_failed_fulfilment_poll_is_undone_in_the_queue_too(small, tmp_path):
    """A fulfilment poll that fails is rolled back whole: the jobs it started or ended in memory too, so
    the next poll does that work again and every order ends as it does in a run without the failure."""
    scenario = load(TESTS / "scenarios" / "service-small.yaml",
                    overrides={"faults": [{"kind": "fail_job", "job": "Order Fulfilment", "date": "2026-01-05"}]})
    failed = cmpsim.run(scenario, out=tmp_path / "run")
    try:
        assert failed.sql("SELECT count(*) AS n FROM job_runs WHERE job = 'Order Fulfilment' "
                          "AND status = 'Failed'")["n"][0] == 1
        final = "SELECT order_id, status, status_reason FROM orders WHERE kind = 'service' ORDER BY order_id"
        assert failed.sql(final).rows() == small.sql(final).rows()
        # Every line that was worked on has exactly one job that did it, none left running or queued.
        lines = """SELECT l.order_id, l.line_no, count(j.job_no) FILTER (WHERE j.status = 'Done') AS done,
                          count(j.job_no) FILTER (WHERE j.status IN ('Queued', 'Running')) AS open
                   FROM service_lines l JOIN fulfilment_jobs j USING (order_id, line_no)
                   WHERE l.status IN ('Complete', 'Failed') AND j.kind = 'fulfil' GROUP BY ALL ORDER BY ALL"""
        assert failed.sql(lines).rows() == small.sql(lines).rows()
        assert set(failed.sql(lines)["done"]) == {1} and set(failed.sql(lines)["open"]) == {0}
    finally:
        failed.close()


def test_a_failed_order_queue_poll_is_undone_in_memory_too(tmp_path):
    """The order queue's messages and consumers live in memory: an Order Queue poll that fails is rolled
    back whole, so the messages it took are queued again, the next poll takes them from when each was
    enqueued, and every order is received, released and ends as in a run without the failure (one
    consumer, two minutes a message: the polls have messages to take and to receive)."""
    slow = {"service": {"order_queue": {"consumers": 1, "message_seconds": {"dist": "fixed", "value": 120}}}}
    runs = {}
    for name, faults in (("failed", [{"kind": "fail_job", "job": "Order Queue", "date": "2026-01-05"}]), ("kept", [])):
        runs[name] = cmpsim.run(load(TESTS / "scenarios" / "service-small.yaml", overrides=slow | {"faults": faults}),
                                out=tmp_path / name)
    try:
        failed, kept = runs["failed"], runs["kept"]
        assert failed.sql("SELECT count(*) AS n FROM job_runs WHERE job = 'Order Queue' AND status = 'Failed' "
                          "AND processed = 0")["n"][0] == 1
        queue = """SELECT s.order_id, s.queue_status, s.dequeued_at, s.received_at, s.queue_consumer, o.status
                   FROM service_orders s JOIN orders o USING (order_id) ORDER BY s.order_id"""
        assert failed.sql(queue).rows() == kept.sql(queue).rows()
        assert {r[1] for r in kept.sql(queue).rows() if r[5] != "Rejected"} == {"Received"}
        assert failed.sql("SELECT * FROM queue_consumers").rows() == kept.sql("SELECT * FROM queue_consumers").rows()
    finally:
        for run in runs.values():
            run.close()


def test_a_poll_that_releases_twice_logs_each_order_once(tmp_path):
    """One poll, two rounds: at 15:00 the poll releases X (submitted 14:50, started at once on the idle
    worker), completes BASE, and so releases BASE's follow-on (submitted past BASE's point of no return,
    12:00) in a second round. Each order's release and
    start is logged once, at its own moment: the second round must not overwrite what the first recorded
    (it did: X's release was lost and NEXT's logged twice)."""
    orders = [
        {"id": "BASE", "at": "2026-01-05T09:00", "account": "ACC-DEMO-1",
         "lines": [{"line": "1", "product": "INET", "action": "Add"}]},
        {"id": "NEXT", "type": "follow-on", "base_order": "BASE", "at": "2026-01-05T12:30", "account": "ACC-DEMO-1",
         "lines": [{"line": "1", "product": "INET", "action": "Suspend", "asset": "AS-BASE-1", "depends_on": "1"}]},
        {"id": "X", "at": "2026-01-05T14:50", "account": "ACC-DEMO-1",
         "lines": [{"line": "1", "product": "IPTV", "action": "Add"}]},
    ]
    scenario = load(TESTS / "scenarios" / "service-small.yaml",
                    overrides={"horizon_days": 2, "service": {"explicit_orders": orders}})
    run = cmpsim.run(scenario, out=tmp_path / "run")
    try:
        logged = run.sql("""
            SELECT s.external_id, e.activity, count(*) AS n, min(e.ts) AS ts FROM service_orders s
            JOIN events e ON e.object_id = s.order_id AND e.activity IN ('Order Released', 'Fulfilment Started')
            GROUP BY ALL ORDER BY ALL""").rows()
        assert [(x, a, n, hhmm(ts)) for x, a, n, ts in logged] == [
            ("BASE", "Fulfilment Started", 1, "05 09:00"), ("BASE", "Order Released", 1, "05 09:00"),
            ("NEXT", "Fulfilment Started", 1, "05 15:00"), ("NEXT", "Order Released", 1, "05 15:00"),
            ("X", "Fulfilment Started", 1, "05 14:50"), ("X", "Order Released", 1, "05 14:50")]
    finally:
        run.close()


@pytest.fixture(scope="module")
def follow_ons(tmp_path_factory) -> cmpsim.Run:
    """Seed 004's rules before a follow-on order is created, on service-small's clock (a line takes 6 h,
    its point of no return 3 h after it starts; two workers, both free)."""
    def order_of(ident: str, at: str, **extra) -> dict:
        line = {"line": "1", "product": "INET", "action": "Add"}
        return {"id": ident, "at": f"2026-01-05T{at}", "account": "ACC-DEMO-1", "lines": [line]} | extra

    def follow_on(ident: str, base: str, at: str) -> dict:
        return order_of(ident, at, type="follow-on", base_order=base, lines=[
            {"line": "1", "product": "INET", "action": "Suspend", "asset": f"AS-{base}-1", "depends_on": "1"}])

    orders = [
        order_of("EARLY-BASE", "08:00"),                      # starts 08:00, past its point of no return 11:00
        follow_on("TOO-EARLY", "EARLY-BASE", "10:00"),        # refused: a supplemental order would do
        order_of("REVISED", "08:00"),
        order_of("REVISION", "11:30", type="supplemental", base_order="REVISED",
                 lines=[{"line": "1", "product": "IPTV", "action": "Add"}]),
        follow_on("AFTER-PONR", "REVISED", "11:30"),          # accepted; REVISION, still pending, discarded
        follow_on("WHEN-DONE", "EARLY-BASE", "15:00"),        # EARLY-BASE completed 14:00: a modify order
        order_of("SAME-BATCH", "16:00"),
        follow_on("WITH-IT", "SAME-BATCH", "16:00"),          # its base was not even submitted before it
    ]
    scenario = load(TESTS / "scenarios" / "service-small.yaml",
                    overrides={"horizon_days": 2, "service": {"explicit_orders": orders}})
    run = cmpsim.run(scenario, out=tmp_path_factory.mktemp("follow-ons") / "run")
    yield run
    run.close()


@pytest.mark.parametrize("case, status, reason", [
    ("TOO-EARLY", "Rejected", "the base order is not past the point of no return: submit a supplemental order"),
    ("WHEN-DONE", "Rejected", "the base order is complete: submit a modify order"),
    ("WITH-IT", "Rejected", "the base order is not past the point of no return: submit a supplemental order"),
    ("AFTER-PONR", "Complete", None),
])
def test_a_follow_on_needs_its_base_open_and_past_the_point_of_no_return(follow_ons, case, status, reason):
    """Seed 004: "Check that the base order is past the point of no return" — and follow-on orders
    revise open orders, so a completed base takes a modify order."""
    assert (order(follow_ons, case)["status"], order(follow_ons, case)["status_reason"]) == (status, reason)


def test_a_pending_supplemental_order_is_discarded_before_the_follow_on(follow_ons):
    """Seed 004: "Discard any pending supplemental orders ... for the open order" before a follow-on."""
    revision, follow = order(follow_ons, "REVISION"), order(follow_ons, "AFTER-PONR")
    assert revision["status"] == "Discarded" and revision["revision_status"] == "Discarded"
    assert revision["status_reason"] == f"discarded for follow-on order {follow['order_id']}"
    assert revision["completed_at"] == follow["submitted_at"]
    logged = follow_ons.sql("SELECT activity FROM events WHERE object_id = ? ORDER BY seq",
                            [revision["order_id"]])["activity"].to_list()
    assert logged == ["Revision Submitted", "Revision Discarded"]
    # The base was not revised: its one line went on as first ordered, and the follow-on suspended it.
    base = follow_ons.sql("""SELECT l.product_id, l.status, a.state FROM service_lines l JOIN service_orders s
                             USING (order_id) JOIN assets a ON a.asset_id = 'AS-REVISED-1'
                             WHERE s.external_id = 'REVISED'""").rows()
    assert base == [("INET", "Complete", "Suspended")]
    assert follow_ons.sql("SELECT count(*) AS n FROM service_lines WHERE status = 'Discarded'")["n"][0] == 1
    report = check(follow_ons.con)
    assert report.ok, report.failures  # the lifecycle Pending -> Discarded, the lines' statuses


@pytest.fixture(scope="module")
def revised(tmp_path_factory) -> cmpsim.Run:
    """Revisions on service-small's clock (Design 1 h, Provision 2 h, Activate 3 h; two workers), with
    IPTV's point of no return set on the product, at the end of Design."""
    add = {"product": "INET", "action": "Add"}
    orders = [
        # Two lines start at 09:00; at 10:30 the revision keeps line 1 (naming the header's price list),
        # removes line 2 and adds line 3.
        {"id": "TWO", "at": "2026-01-05T09:00", "account": "ACC-DEMO-1",
         "lines": [{"line": "1", **add}, {"line": "2", "product": "MOBILE", "action": "Add"}]},
        {"id": "TWO-REV", "type": "supplemental", "base_order": "TWO", "at": "2026-01-05T10:30",
         "account": "ACC-DEMO-1", "lines": [{"line": "1", **add, "price_list": "Consumer Price List"},
                                            {"line": "3", "product": "IPTV", "action": "Add"}]},
        # IPTV is past its point of no return 1 h into its work: a revision 1 h 30 in is refused (an
        # order is past it once one of its items is).
        {"id": "TV", "at": "2026-01-06T09:00", "account": "ACC-DEMO-1",
         "lines": [{"line": "1", "product": "IPTV", "action": "Add"}]},
        {"id": "TV-REV", "type": "supplemental", "base_order": "TV", "at": "2026-01-06T10:30",
         "account": "ACC-DEMO-1", "lines": [{"line": "1", **add}]},
    ]
    products = [dict(p) | ({"point_of_no_return": "Design"} if p["id"] == "IPTV" else {})
                for p in load(TESTS / "scenarios" / "service-small.yaml").public_dict()["service"]["products"]]
    scenario = load(TESTS / "scenarios" / "service-small.yaml", overrides={
        "horizon_days": 2, "service": {"explicit_orders": orders, "products": products}})
    run = cmpsim.run(scenario, out=tmp_path_factory.mktemp("revised") / "run")
    yield run
    run.close()


def jobs_of(run, external_id: str) -> list[dict]:
    return run.sql("""SELECT j.line_no, j.kind, j.status, j.steps, j.step_durations_s, j.ponr_offset_s,
                             strftime(j.started_at, '%d %H:%M') AS started, strftime(j.ended_at, '%d %H:%M') AS ended
                      FROM fulfilment_jobs j JOIN service_orders s USING (order_id)
                      WHERE s.external_id = ? ORDER BY j.job_no""", [external_id]).rows(named=True)


def test_a_revision_suspends_the_whole_order_until_it_resumes(revised):
    """Seed 004: OSM "suspends the fulfillment flows associated with the revised order": line 1, not
    changed, pauses for the 15 minutes the revision takes (its worker waits with it), so its point of
    no return and its end come 15 minutes later; nothing of the revision starts before it resumes."""
    line_1, line_2, line_3, undo_2 = jobs_of(revised, "TWO")
    assert (line_1["line_no"], line_1["status"]) == (1, "Done")
    assert line_1["steps"] == ["Design", "Provision", "Suspended", "Provision", "Activate"]
    assert line_1["step_durations_s"] == [3600, 1800, 900, 5400, 10800]
    assert (line_1["ponr_offset_s"], line_1["ended"]) == (3 * 3600 + 900, "05 15:15")
    # Line 2, removed 1 h 30 in: Design undone (half its hour) once the order resumes, nothing redone.
    assert (line_2["line_no"], line_2["status"]) == (2, "Interrupted")
    assert (undo_2["kind"], undo_2["steps"], undo_2["step_durations_s"]) == ("compensate", ["Undo Design"], [1800])
    assert (undo_2["started"], undo_2["ended"]) == ("05 10:45", "05 11:15")
    # Line 3, added: released when the order resumes, it takes the worker the compensation frees.
    assert (line_3["line_no"], line_3["steps"], line_3["started"]) == (3, ["Design", "Provision", "Activate"],
                                                                       "05 11:15")
    logged = revised.sql("""SELECT e.activity, e.detail, strftime(e.ts, '%H:%M') FROM events e
                            JOIN service_orders s ON s.order_id = e.object_id WHERE s.external_id = 'TWO'
                              AND e.activity IN ('Fulfilment Suspended', 'Line Added', 'Line Removed',
                                                 'Fulfilment Resumed') ORDER BY e.seq""").rows()
    assert logged == [("Fulfilment Suspended", None, "10:30"), ("Line Added", "3", "10:30"),
                      ("Line Removed", "2", "10:30"), ("Fulfilment Resumed", None, "10:45")]


def test_a_revised_line_keeps_the_price_list_as_sent(revised):
    """The revision names the header's price list on line 1: nothing to reprice, but the line now says
    what was sent (docs/data-model.md: requested_price_list "as sent")."""
    line = revised.sql("""SELECT l.requested_price_list, l.resolved_price_list, l.status FROM service_lines l
                          JOIN service_orders s USING (order_id) WHERE s.external_id = 'TWO' AND l.line_ref = '1'
                          """).row(0)
    assert line == ("Consumer Price List", "Consumer Price List", "Complete")


def test_the_point_of_no_return_is_set_per_order_item(revised):
    """Seed 004: "OSM determines the point of no return as set for the order items": IPTV's is the end
    of Design, so 1 h 30 into its work it can no longer be revised (INET's, Provision, would allow it)."""
    (tv,) = jobs_of(revised, "TV")
    assert tv["ponr_offset_s"] == 3600 and tv["status"] == "Done"
    refused = order(revised, "TV-REV")
    assert (refused["status"], refused["status_reason"]) == (
        "Rejected", "the base order is past the point of no return: submit a follow-on order")
    assert jobs_of(revised, "TWO")[0]["ponr_offset_s"] > 3 * 3600  # INET's: the end of Provision


@pytest.fixture(scope="module")
def seed_rules(tmp_path_factory) -> cmpsim.Run:
    run = cmpsim.run(load(SCENARIOS / "seed-rules.yaml", overrides={"accounts": {"generate": {"count": 200}}}),
                     out=tmp_path_factory.mktemp("seed-rules") / "run")
    yield run
    run.close()


@pytest.mark.parametrize("case, status, reason", [
    ("HOME-TOO-SOON", "Rejected", "the base order is not past the point of no return: submit a supplemental order"),
    ("TV-REV", "Rejected", "the base order is past the point of no return: submit a follow-on order"),
    ("PAIR-REV", "Applied", None),
    ("HOME-DONE", "Rejected", "the base order is complete: submit a modify order"),
    ("PAIR-LATE-REV", "Discarded", "discarded for follow-on order {PAIR-FOLLOW}"),
    ("PAIR-FOLLOW", "Complete", None),
    ("HOME-MOVE", "Complete", None),
])
def test_the_seed_rules_scenario_shows_each_rule_on_a_real_run(seed_rules, case, status, reason):
    """scenarios/seed-rules.yaml: one explicit order per rule of seed 004, each ending as the seed says."""
    ids = dict(seed_rules.sql("SELECT external_id, order_id FROM service_orders WHERE external_id IS NOT NULL").rows())
    found = order(seed_rules, case)
    assert (found["status"], found["status_reason"]) == (status, reason and reason.format(**ids))


def test_the_seed_rules_scenario_names_priorities_and_moves_an_asset(seed_rules):
    priorities = dict(seed_rules.sql("""SELECT s.external_id, o.priority FROM orders o JOIN service_orders s
                                        USING (order_id) WHERE s.external_id IN ('HOME', 'TV', 'HOME-MOVE')""").rows())
    assert priorities == {"HOME": 9, "TV": 3, "HOME-MOVE": 7}  # Urgent, Low, High (Table 8-5)
    mix = seed_rules.sql("SELECT priority, count(*) AS n FROM orders WHERE kind = 'service' GROUP BY ALL")
    assert set(mix["priority"]) <= {3, 5, 7, 9}  # the random orders drew from the named mix
    moved = seed_rules.sql("SELECT state, location FROM assets WHERE asset_id = 'AS-HOME-1'").row(0)
    assert moved == ("Active", "2 New Street")
    logged = seed_rules.sql("""SELECT activity FROM events WHERE object_id = 'AS-HOME-1' ORDER BY seq""")
    assert logged["activity"].to_list() == ["Asset Active", "Asset Moving", "Asset Active"]
    assert check(seed_rules.con).ok


def test_the_order_queue_hands_control_back_and_takes_the_most_urgent_message_first(seed_rules):
    """Seed 004: the CRM drops an order into the queue and gives control back at once (Submitted at the
    moment of submission); priority is honoured by the queue, not only by fulfilment: one consumer, two
    minutes a message, three orders dropped at 14:00 with the Urgent one last."""
    received = seed_rules.sql("""
        SELECT s.external_id, strftime(s.submitted_at, '%H:%M:%S') AS submitted,
               strftime(s.received_at, '%H:%M:%S') AS received, s.queue_status,
               strftime(o.released_at, '%H:%M:%S') AS released
        FROM service_orders s JOIN (SELECT order_id, released_at FROM service_orders) o USING (order_id)
        WHERE s.external_id LIKE 'QUEUE-%' ORDER BY s.received_at""").rows()
    assert [r[0] for r in received] == ["QUEUE-URGENT", "QUEUE-LOW-1", "QUEUE-LOW-2"]
    assert {r[1] for r in received} == {"14:00:00"}
    assert [r[2] for r in received] == ["14:02:00", "14:04:00", "14:06:00"]
    assert all(r[3] == "Received" for r in received)
    assert [r[4] for r in received] == [r[2] for r in received]  # order management releases from receipt
    logged = seed_rules.sql("""
        SELECT e.activity, e.detail FROM events e JOIN service_orders s ON s.order_id = e.object_id
        WHERE s.external_id = 'QUEUE-LOW-2' ORDER BY e.seq""").rows()
    assert logged[:3] == [("Order Submitted", "new priority 3"), ("Order Received", "queued 360 s, consumer 0"),
                          ("Order Released", None)]
    # The way back: order management's status reaches the CRM's copy of every order, never before it
    # happened (Discarded, Rejected: decided by the CRM itself).
    copies = seed_rules.sql("""
        SELECT o.status, s.crm_status, s.crm_updated_at >= coalesce(o.completed_at, s.submitted_at)
        FROM orders o JOIN service_orders s USING (order_id)""").rows()
    assert {status for status, _, _ in copies} >= {"Complete", "Applied", "Rejected", "Discarded"}
    assert all(status == crm and later for status, crm, later in copies)


def test_failed_steps_go_to_fallout_and_the_operator_retries_fixes_or_cancels(seed_rules):
    """A failed step sends the line to the fallout queue, not to Failed: the operator (one, a shift a task)
    takes the tasks one at a time, most urgent first, and retries the line from the failed step (it may
    fail again), fixes it (it goes on and cannot) or cancels it (its done steps undone, latest first)."""
    jobs = {(r[0], r[1]): r[2:] for r in seed_rules.sql("""
        SELECT s.external_id, row_number() OVER (PARTITION BY j.order_id, j.line_no ORDER BY j.job_no) AS n,
               j.kind, j.steps, j.fallout_step, j.release_at
        FROM fulfilment_jobs j JOIN service_orders s USING (order_id)
        WHERE s.external_id LIKE 'FALL-%' AND j.line_no = 1""").rows()}
    tasks = {r[0]: r[1:] for r in seed_rules.sql("""
        SELECT s.external_id, t.step, t.outcome, t.queued_at, t.ended_at FROM fallout_tasks t
        JOIN service_orders s USING (order_id) WHERE s.external_id LIKE 'FALL-%'""").rows()}
    assert {k: v[:2] for k, v in tasks.items()} == {
        "FALL-RETRY": ("Provision", "retry"), "FALL-FIX": ("Activate", "fix"), "FALL-CANCEL": ("Activate", "cancel")}
    # The failed job ends with the failed step; the task is queued then; the line goes on when it ends.
    assert jobs[("FALL-RETRY", 1)][:3] == ("fulfil", ["Design", "Provision"], "Provision")
    assert jobs[("FALL-RETRY", 2)][:3] == ("fulfil", ["Provision", "Activate"], None)
    assert jobs[("FALL-FIX", 2)][:3] == ("fulfil", ["Activate"], None)
    assert jobs[("FALL-CANCEL", 2)][:3] == ("compensate", ["Undo Provision", "Undo Design"], None)
    for case, second in (("FALL-RETRY", 2), ("FALL-FIX", 2), ("FALL-CANCEL", 2)):
        assert jobs[(case, second)][3] == tasks[case][3]
    lines = dict(seed_rules.sql("""SELECT s.external_id || ' ' || l.line_ref, l.status || coalesce(': ' || l.reason, '')
                                   FROM service_lines l JOIN service_orders s USING (order_id)
                                   WHERE s.external_id LIKE 'FALL-%'""").rows())
    assert lines == {"FALL-RETRY 1": "Complete", "FALL-FIX 1": "Complete",
                     "FALL-CANCEL 1": "Cancelled: cancelled in fallout: Activate failed", "FALL-CANCEL 2": "Complete"}
    logged = seed_rules.sql("""SELECT e.activity FROM events e JOIN service_orders s ON s.order_id = e.object_id
                               WHERE s.external_id = 'FALL-CANCEL' AND e.activity LIKE '%Fallout%' ORDER BY e.seq""")
    assert logged["activity"].to_list() == ["Line Fallout", "Fallout Cancelled"]
    # Explicit orders fail only where scripted; random ones at the scenario's rate.
    named = seed_rules.sql("""SELECT DISTINCT s.external_id FROM fallout_tasks t JOIN service_orders s USING (order_id)
                              WHERE s.external_id IS NOT NULL""")["external_id"].to_list()
    assert sorted(named) == ["FALL-CANCEL", "FALL-FIX", "FALL-RETRY"]
    assert seed_rules.sql("""SELECT count(*) FROM fallout_tasks t JOIN service_orders s USING (order_id)
                             WHERE s.external_id IS NULL""").item() > 0
    # One operator, one task at a time; none started while a more urgent one was waiting.
    all_tasks = seed_rules.sql("SELECT task_no, priority, queued_at, started_at, ended_at FROM fallout_tasks "
                               "ORDER BY started_at").rows()
    assert all(b[3] >= a[4] for a, b in zip(all_tasks, all_tasks[1:], strict=False))
    assert not [(t, u) for t in all_tasks for u in all_tasks
                if u[2] <= t[3] < u[3] and u[1] > t[1]]
    # The slow desk leaves a task waiting over four hours: the probe Fallout Backlog raises its alert.
    breached = seed_rules.sql("SELECT count(*) FROM probe_results WHERE probe = 'Fallout Backlog' AND breached").item()
    assert breached > 0
    assert check(seed_rules.con).ok


def test_a_change_to_an_asset_is_judged_on_its_future_state(seed_rules):
    """Seed 004, future-dated orders: the CRM simulates the asset's future state and judges each order on
    the state the asset will be in when the order is due; several future-dated orders on one asset and
    a new order that invalidates an earlier one are what the seed's guidelines warn about."""
    ids = dict(seed_rules.sql("SELECT external_id, order_id FROM service_orders WHERE external_id LIKE 'TV-%'").rows())
    outcome = {case: (found["status"], found["status_reason"]) for case in
               ("TV-PAUSE", "TV-PAUSE-NOW", "TV-RESUME", "TV-RESUME-TWICE") for found in [order(seed_rules, case)]}
    assert outcome == {
        "TV-PAUSE-NOW": ("Complete", None), "TV-RESUME": ("Complete", None),
        # Invalidated by TV-PAUSE-NOW: order management rejects its line when it comes due.
        "TV-PAUSE": ("Failed", "1: Suspend needs an Active asset, found Suspended"),
        "TV-RESUME-TWICE": ("Rejected", "line 1: Resume needs a Suspended asset, found Active on 2026-01-08 12:00 "
                                        "after order TV-RESUME")}
    warned = seed_rules.sql("""
        SELECT s.external_id, e.activity, e.detail FROM events e JOIN service_orders s ON s.order_id = e.object_id
        WHERE e.activity IN ('Future State Conflict', 'Future-Dated Orders On Asset') ORDER BY e.seq""").rows()
    assert warned == [
        ("TV-PAUSE-NOW", "Future State Conflict", "invalidates order TV-PAUSE line 1 on asset AS-TV-1: revise it "
                                                  "(Suspend needs an Active asset, found Suspended)"),
        ("TV-RESUME", "Future-Dated Orders On Asset", "asset AS-TV-1 has future-dated order TV-PAUSE due "
                                                      "2026-01-08 09:00")]
    assert seed_rules.sql("SELECT state FROM assets WHERE asset_id = 'AS-TV-1'").item() == "Active"
    assert ids["TV-PAUSE"] != ids["TV-RESUME"]


def test_run_windows_and_the_fallout_desk_are_charted(seed_rules):
    """Charts of when work ran: the billing run of 8 January job by job (Invoice Production past the
    07:00 probe), and the fallout operator's tasks by outcome; each bar's exact times in its tooltip."""
    billing = ["Invoice Production", "Statement Production", "Bill Print", "Invoice Posting", "Usage Archiving"]
    spec = views.job_windows(seed_rules, "2026-01-08", billing).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert [r["lane"] for r in rows] == [job for job in billing if job in {r["lane"] for r in rows}]
    production = next(r for r in rows if r["lane"] == "Invoice Production")
    assert production["start"] == "2026-01-08T02:00:00" and production["end"] > "2026-01-08T07:00:00"
    desk = next(iter(views.fallout_desk(seed_rules).to_dict()["datasets"].values()))
    tasks = seed_rules.sql("SELECT count(*) FROM fallout_tasks WHERE started_at IS NOT NULL").item()
    assert len(desk) == tasks and {r["lane"] for r in desk} == {"operator 0"}
    outcomes = {r["series"] for r in desk}
    assert outcomes <= {"retry", "fix", "cancel"} and {"cancel", "fix"} <= outcomes


def test_the_seed_rules_billing_run_overruns_and_the_probe_says_so(seed_rules):
    """Jobs take time (the scenario's cost model): Invoice Production takes 30 s plus its time per
    account, each job of the chain starts when the one before ended, and the 07:00 probe finds the run
    not finished: an alert."""
    chain = seed_rules.sql("""SELECT job, started_at, ended_at, processed FROM job_runs
                              WHERE started_at::DATE = '2026-01-08' AND job IN ('Invoice Production',
                                    'Statement Production', 'Bill Print', 'Invoice Posting', 'Usage Archiving')
                              ORDER BY run_no""").rows()
    production = chain[0]
    assert production[0] == "Invoice Production" and production[3] > 2
    assert (production[2] - production[1]).total_seconds() == 30 + 7200 * production[3]
    assert all(after[1] == before[2] for before, after in zip(chain, chain[1:], strict=False))
    assert chain[-1][0] == "Usage Archiving" and chain[-1][2].hour >= 7
    probe = seed_rules.sql("""SELECT value, breached FROM probe_results WHERE probe = 'Billing Run Not Completed'
                              AND evaluated_at = '2026-01-08 07:00:00'""").rows()
    assert probe == [(0, True)]
