"""What a completed line does: its asset changes, and billing gets its charges.

The line's action is judged again against the asset as it is now (another order may have changed
it since release): a line that no longer fits fails with the reason. An accepted Add creates the
asset and a one-off charge; every change of state or price list closes the asset's current
recurring-charge period and opens the next, which the billing run pro-rates. A line's manual price
override (Siebel CRM's, seed 004) stays with its asset and is the monthly price of every period
after it, whatever the price list says, until an Update overrides it again.
"""

from __future__ import annotations

import polars as pl

from cmpsim.fulfilment import assets as asset_rules
from cmpsim.fulfilment.jobs import named_assets

# Actions after which the asset's recurring charge runs on in a new period (state or price list).
NEW_PERIOD = ("Add", "Suspend", "Resume", "Update")
CLOSES_PERIOD = ("Suspend", "Resume", "Update", "Delete")


def apply_line_effects(sim, ended: pl.DataFrame) -> None:
    if ended.height == 0:
        return
    # A new asset is named after its order (the CRM id when the scenario gave one) and line.
    ended = ended.with_columns(asset_id=pl.when(pl.col("action") == "Add")
                               .then(pl.format("AS-{}-{}", pl.coalesce("external_id", pl.col("order_id").str.slice(3)),
                                               "line_ref"))
                               .otherwise("asset_id"))
    verdicts = asset_rules.judge_lines(
        ended.select("order_id", seq="order_seq", line_no="line_ref", action="action", asset_id="asset_id",
                     location="location"),
        named_assets(sim, ended["asset_id"]))
    judged = ended.join(verdicts.select("order_id", line_ref="line_no", verdict="verdict", reason="reason",
                                        new_state="new_state", new_location="new_location"),
                        on=["order_id", "line_ref"], how="left")
    con = sim.con
    con.register("_judged", judged.to_arrow())
    # The actions accepted: a statement with nothing to change is not made (each costs a millisecond).
    done = set(judged.filter(pl.col("verdict") == "accepted")["action"].to_list())
    _change_assets(sim, done)
    _hand_to_billing(sim, done)
    con.execute("""UPDATE service_lines SET status = CASE j.verdict WHEN 'accepted' THEN 'Complete' ELSE 'Failed' END,
                          reason = j.reason, asset_id = j.asset_id
                   FROM _judged j WHERE service_lines.order_id = j.order_id AND service_lines.line_no = j.line_no""")
    _log(sim, judged)


def _log(sim, judged: pl.DataFrame) -> None:
    """Each line's completion or failure on its order, and each accepted line's new asset state."""
    accepted = pl.col("verdict") == "accepted"
    lines = judged.select(
        ts="ended_at", object_type=pl.lit("order"), object_id="order_id",
        activity=pl.when(accepted).then(pl.lit("Line Complete")).otherwise(pl.lit("Line Failed")),
        detail=pl.concat_str("line_ref", pl.lit(" "), "action", pl.lit(" "), "product_id",
                             pl.coalesce(pl.concat_str(pl.lit(": "), "reason"), pl.lit(""))))
    changed = judged.filter(accepted).select(
        ts="ended_at", object_type=pl.lit("asset"), object_id="asset_id",
        activity=pl.concat_str(pl.lit("Asset "), "new_state"),
        detail=pl.concat_str("order_id", pl.lit(" line "), "line_ref", pl.lit(" "), "action"))
    # A move whose two lines end in the same second logs the asset leaving before it arrives: the
    # Move-Adds are recorded after the rest (the log's order for one object at one moment).
    arrives = pl.col("detail").str.ends_with(" Move-Add")
    sim.store.record_event_frame(pl.concat([lines, changed.filter(~arrives)]), sim.current_job)
    sim.store.record_event_frame(changed.filter(arrives), sim.current_job)


def _change_assets(sim, done: set[str]) -> None:
    con = sim.con
    if "Add" in done:
        con.execute("""
            INSERT INTO assets SELECT asset_id, account_id, product_id, 'Active', location, resolved_price_list,
                   coalesce(price_list_from_header, true), order_id, ended_at, price_override
            FROM _judged WHERE verdict = 'accepted' AND action = 'Add' ORDER BY asset_id""")
    if done - {"Add"}:
        con.execute("""
            UPDATE assets SET state = j.new_state, location = j.new_location, changed_at = j.ended_at,
                   price_list = CASE WHEN j.action = 'Update' THEN coalesce(j.resolved_price_list, assets.price_list)
                                     ELSE assets.price_list END,
                   price_list_from_header = CASE WHEN j.action = 'Update'
                                                 THEN coalesce(j.price_list_from_header, assets.price_list_from_header)
                                                 ELSE assets.price_list_from_header END,
                   price_override = CASE WHEN j.action = 'Update' THEN coalesce(j.price_override, assets.price_override)
                                         ELSE assets.price_override END
            FROM _judged j WHERE assets.asset_id = j.asset_id AND j.verdict = 'accepted' AND j.action <> 'Add'""")


def _hand_to_billing(sim, done: set[str]) -> None:
    """One-off charges for new assets; recurring-charge periods for every change of state or price."""
    con = sim.con
    if "Add" in done:
        _one_off_charges(con)
    if done & set(CLOSES_PERIOD):
        con.execute(f"""
            UPDATE recurring_charges SET active_to = j.ended_at FROM _judged j
            WHERE recurring_charges.asset_id = j.asset_id AND recurring_charges.active_to IS NULL
              AND j.verdict = 'accepted' AND j.action IN {CLOSES_PERIOD}""")
    if done & set(NEW_PERIOD):
        _new_periods(con)


def _one_off_charges(con) -> None:
    con.execute("""
        INSERT INTO charges
        SELECT 'CH-' || order_id || '-' || lpad(line_no::VARCHAR, 3, '0'), account_id, 'service_order', order_id,
               line_no, product_id, product_class, name, quantity, one_off, net, tax_rate, tax, net + tax,
               'next_invoice', ended_at, 'Unbilled', NULL
        FROM (SELECT *, round(net * tax_rate, 2)::DECIMAL(18,2) AS tax
              FROM (SELECT j.order_id, j.line_no, j.account_id, j.product_id, j.quantity, j.ended_at,
                           sp.product_class, sp.name, sp.tax_rate, pr.one_off,
                           (pr.one_off * j.quantity)::DECIMAL(18,2) AS net
                    FROM _judged j JOIN service_products sp USING (product_id)
                         JOIN service_prices pr
                           ON pr.product_id = j.product_id AND pr.price_list = j.resolved_price_list
                    WHERE j.verdict = 'accepted' AND j.action = 'Add' AND pr.one_off > 0))
        ORDER BY 1""")


def _new_periods(con) -> None:
    con.execute(f"""
        INSERT INTO recurring_charges
        SELECT a.asset_id, a.account_id, a.product_id, a.price_list,
               (coalesce(a.price_override, pr.recurring) * j.quantity)::DECIMAL(18,2),
               sp.tax_rate, a.state, j.ended_at, NULL, j.order_id, j.line_no
        FROM _judged j JOIN (SELECT * FROM assets WHERE asset_id IN (SELECT asset_id FROM _judged)) a USING (asset_id)
             JOIN service_products sp ON sp.product_id = a.product_id
             JOIN service_prices pr ON pr.product_id = a.product_id AND pr.price_list = a.price_list
        WHERE j.verdict = 'accepted' AND j.action IN {NEW_PERIOD} ORDER BY a.asset_id""")
