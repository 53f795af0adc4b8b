"""TMF622 out: every service order of a run as a ProductOrder, with its lines as items.

The way back of `cmpsim.exchange.tmf622` (docs/exchange.md), so an imported order can be followed
to its end state: `externalId` is the CRM id the scenario gave the order (the TMF id it was imported
with), item ids are the line references, `state` is the order's state in TMF terms. Priority goes
back to TMF's scale ("0" for 9 and above, "1" for 7–8, "2" for 5–6, "3" for 3–4, "4" below); the
seeds' Suspend and Resume are `modify` with the product's status `suspended` or `active`, Move-Add
and Move-Delete are `add` and `delete` of the product at its new and old place. Item prices are the
product's prices at the line's resolved price list; a manual price override replaces the monthly one.
"""

from __future__ import annotations

from cmpsim.exchange.jsontext import array, json_str, moment, money, obj

API = "/tmf-api/productOrderingManagement/v4/productOrder/"
ORDER_STATES = """CASE WHEN o.status = 'Complete' AND failed.order_id IS NOT NULL THEN 'partial'
                       ELSE CASE o.status WHEN 'Submitted' THEN 'acknowledged' WHEN 'In Progress' THEN 'inProgress'
                            WHEN 'Complete' THEN 'completed' WHEN 'Failed' THEN 'failed' WHEN 'Rejected' THEN 'rejected'
                            WHEN 'Pending' THEN 'pending' WHEN 'Applied' THEN 'completed'
                            WHEN 'Discarded' THEN 'cancelled' ELSE 'acknowledged' END END"""
ITEM_STATES = """CASE l.status WHEN 'Complete' THEN 'completed' WHEN 'Failed' THEN 'failed'
                     WHEN 'Rejected' THEN 'rejected' WHEN 'In Progress' THEN 'inProgress'
                     WHEN 'Cancelled' THEN 'cancelled' WHEN 'Discarded' THEN 'cancelled' WHEN 'Fallout' THEN 'held'
                     WHEN 'Applied' THEN 'completed' ELSE 'acknowledged' END"""
ACTIONS = """CASE l.action WHEN 'Add' THEN 'add' WHEN 'Move-Add' THEN 'add' WHEN 'Delete' THEN 'delete'
                 WHEN 'Move-Delete' THEN 'delete' ELSE 'modify' END"""
PRIORITY = """CASE WHEN o.priority >= 9 THEN '0' WHEN o.priority >= 7 THEN '1' WHEN o.priority >= 5 THEN '2'
                   WHEN o.priority >= 3 THEN '3' ELSE '4' END"""


def _item_prices() -> str:
    def price(amount: str) -> str:
        return obj(("taxRate", "to_json(sp.tax_rate)"),
                   ("dutyFreeAmount", money(f"{amount} * l.quantity", "cfg.currency")))

    monthly = "coalesce(l.price_override, pr.recurring)"  # a manual price override wins over the price list
    recurring = obj(("name", json_str("'MonthlyFee'")), ("priceType", json_str("'recurring'")),
                    ("recurringChargePeriod", json_str("'month'")), ("price", price(monthly)))
    one_off = obj(("name", json_str("'OneOffFee'")), ("priceType", json_str("'nonRecurring'")),
                  ("price", price("pr.one_off")))
    return f"CASE WHEN pr.product_id IS NOT NULL THEN '[' || {recurring} || ',' || {one_off} || ']' END"


def _items() -> str:
    product = obj(
        ("id", json_str("l.asset_id")), ("isBundle", "CASE WHEN l.is_bundle THEN 'true' ELSE 'false' END"),
        ("status", json_str("CASE l.action WHEN 'Suspend' THEN 'suspended' WHEN 'Resume' THEN 'active' END")),
        ("place", "CASE WHEN l.location IS NOT NULL THEN '[' || " + obj(
            ("id", json_str("l.location")), ("role", json_str("'installationAddress'"))) + " || ']' END"),
        ("@type", json_str("'Product'")))
    return obj(
        ("id", json_str("l.line_ref")),
        ("quantity", "l.quantity::VARCHAR"),
        ("action", json_str(ACTIONS)),
        ("itemPrice", _item_prices()),
        ("product", product),
        ("productOffering", obj(("id", json_str("l.product_id")), ("name", json_str("sp.name")))),
        ("productOrderItemRelationship", "bundled.items"),
        ("state", json_str(ITEM_STATES)),
        ("@type", json_str("'ProductOrderItem'")))


def product_orders_sql() -> str:
    """One ProductOrder (JSON text) per service order, ordered by order id."""
    based = "CASE WHEN s.base_order_id IS NOT NULL THEN o.order_type || ' order of ' || s.base_order_id END"
    return f"""
        WITH cfg AS (SELECT coalesce(max(json_extract_string(value, '$.currency')), 'EUR') AS currency
                     FROM run_info WHERE key = 'scenario_json'),
        bundled AS (
            SELECT order_id, parent_ref AS line_ref, {array(obj(
                ("id", json_str("line_ref")), ("relationshipType", json_str("'bundles'"))), "line_no")} AS items
            FROM service_lines WHERE parent_ref IS NOT NULL GROUP BY ALL),
        items AS (
            SELECT l.order_id, {array(_items(), "l.line_no")} AS items
            FROM service_lines l LEFT JOIN bundled USING (order_id, line_ref)
                 LEFT JOIN service_products sp USING (product_id)
                 LEFT JOIN service_prices pr ON pr.product_id = l.product_id AND pr.price_list = l.resolved_price_list
                 LEFT JOIN cfg ON true
            GROUP BY l.order_id),
        failed AS (SELECT DISTINCT order_id FROM service_lines WHERE status = 'Failed')
        SELECT {obj(
            ("id", json_str("o.order_id")),
            ("href", json_str(f"'{API}' || o.order_id")),
            ("category", json_str("o.order_type")),
            ("completionDate", moment("o.completed_at")),
            ("description", json_str(f"nullif(concat_ws('; ', {based}, o.status_reason), '')")),
            ("externalId", json_str("s.external_id")),
            ("orderDate", moment("s.submitted_at")),
            ("priority", json_str(PRIORITY)),
            ("requestedStartDate", moment("CASE WHEN s.due_at > s.submitted_at THEN s.due_at END")),
            ("billingAccount", obj(("id", json_str("o.account_id")), ("name", json_str("a.name")),
                                   ("@referredType", json_str("'BillingAccount'")))),
            ("productOrderItem", "items.items"),
            ("state", json_str(ORDER_STATES)),
            ("@type", json_str("'ProductOrder'")))}
        FROM orders o JOIN service_orders s USING (order_id) JOIN items USING (order_id)
             LEFT JOIN accounts a USING (account_id) LEFT JOIN failed USING (order_id)
        ORDER BY o.order_id"""
