"""Sales Order Request job and the Extract Sales Orders To Generic Format daemon.

The job takes every order Awaiting Generation, splits its lines to warehouse granularity (one
request line per unit of a serialised product, so that each unit gets its own serial number; one
per line otherwise), picks a warehouse for each (the first in preference order whose free stock
still covers it, else the preferred one, which will answer out of stock), reserves the stock and
batches the request lines per warehouse. The orders are then Awaiting Dispatch.

The extract daemon turns Ready batches into encrypted order-request files. When the module property
`sales.order.request.extract.fraudcheckrequired` is on, the file carries the fraud-check flag and
the delivery name and address of each order are checked before the file leaves for the warehouse:
an order that fails stops in Error with the reason, and its lines are taken out of the batch.
"""

from __future__ import annotations

from cmpsim.files import OutboundFile, write_outbound

FRAUD_PROPERTY = "sales.order.request.extract.fraudcheckrequired"


def sales_order_request_step(sim) -> int:
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _units AS
        SELECT l.order_id, l.line_no, u.unit_no,
               CASE WHEN p.serialised THEN 1 ELSE l.quantity END AS quantity, l.product_id,
               sum(CASE WHEN p.serialised THEN 1 ELSE l.quantity END) OVER (
                   PARTITION BY l.product_id ORDER BY l.order_id, l.line_no, u.unit_no) AS cum_demand
        FROM orders o JOIN order_lines l USING (order_id) JOIN products p USING (product_id),
             LATERAL (SELECT unnest(range(1, CASE WHEN p.serialised THEN l.quantity ELSE 1 END + 1)) AS unit_no) u
        WHERE o.kind = 'hardware' AND o.status = 'Awaiting Generation'""")
    n = sim.store.scalar("SELECT count(*) FROM _units")
    if n == 0:
        return 0
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _placed AS
        WITH offer AS (
            SELECT s.product_id, s.warehouse_id, w.preference,
                   sum(greatest(s.on_hand - s.reserved, 0)) OVER (
                       PARTITION BY s.product_id ORDER BY w.preference) AS cum_free
            FROM stock s JOIN warehouses w USING (warehouse_id))
        SELECT u.order_id, u.line_no, u.unit_no, u.product_id, u.quantity,
               coalesce(arg_min(f.warehouse_id, f.preference) FILTER (WHERE u.cum_demand <= f.cum_free),
                        arg_min(f.warehouse_id, f.preference)) AS warehouse_id
        FROM _units u JOIN offer f USING (product_id)
        GROUP BY ALL""")
    batch_base = sim.store.allocate(
        "warehouse_batch", sim.store.scalar("SELECT count(DISTINCT warehouse_id) FROM _placed")
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _batches AS
        SELECT warehouse_id, ? + row_number() OVER (ORDER BY warehouse_id) AS batch_no, count(*) AS lines
        FROM _placed GROUP BY warehouse_id""",
        [batch_base],
    )
    base = sim.store.allocate("request_line", n)
    con.execute(
        """
        INSERT INTO warehouse_batches
        SELECT 'WB-' || lpad(batch_no::VARCHAR, 7, '0'), warehouse_id, ?, 'Ready', lines, NULL
        FROM _batches ORDER BY batch_no""",
        [sim.now],
    )
    con.execute(
        """
        INSERT INTO request_lines
        SELECT 'RL-' || lpad((? + row_number() OVER (ORDER BY p.order_id, p.line_no, p.unit_no))::VARCHAR, 9, '0'),
               p.order_id, p.line_no, p.unit_no, p.product_id, p.quantity, p.warehouse_id,
               'WB-' || lpad(b.batch_no::VARCHAR, 7, '0'), 'Batched', NULL, NULL, NULL, NULL
        FROM _placed p JOIN _batches b USING (warehouse_id)""",
        [base],
    )
    con.execute("""
        UPDATE stock SET reserved = stock.reserved + r.quantity
        FROM (SELECT warehouse_id, product_id, sum(quantity) AS quantity FROM _placed GROUP BY ALL) r
        WHERE stock.warehouse_id = r.warehouse_id AND stock.product_id = r.product_id""")
    return _mark_awaiting_dispatch(sim)


def _mark_awaiting_dispatch(sim) -> int:
    con = sim.con
    con.execute("CREATE OR REPLACE TEMP TABLE _requested AS SELECT DISTINCT order_id FROM _placed")
    con.execute("""UPDATE orders SET status = 'Awaiting Dispatch'
                   FROM _requested r WHERE orders.order_id = r.order_id""")
    con.execute("""UPDATE order_lines SET status = 'Awaiting Dispatch'
                   FROM _requested r WHERE order_lines.order_id = r.order_id""")
    sim.store.record_events(
        """
        SELECT ?::TIMESTAMP AS ts, 'order' AS object_type, r.order_id AS object_id,
               'Order Request Generated' AS activity, ? AS job,
               string_agg(DISTINCT p.warehouse_id, ',' ORDER BY p.warehouse_id) AS detail
        FROM _requested r JOIN _placed p USING (order_id) GROUP BY r.order_id""",
        [sim.now, sim.current_job],
    )
    n = sim.store.scalar("SELECT count(*) FROM _requested")
    return n


def extract_sales_orders_step(sim) -> int:
    """Ready batches → fraud check (when required) → one encrypted order-request file per batch."""
    con = sim.con
    ready = sim.store.scalar("SELECT count(*) FROM warehouse_batches WHERE status = 'Ready'")
    fraud_required = bool(sim.scenario.property(FRAUD_PROPERTY))
    if fraud_required:
        _fraud_check(sim)
    con.execute("""
        UPDATE warehouse_batches SET status = 'Cancelled'
        WHERE status = 'Ready' AND NOT EXISTS (
            SELECT 1 FROM request_lines r WHERE r.batch_id = warehouse_batches.batch_id AND r.status = 'Batched')""")
    files = [
        OutboundFile(
            kind="order-request",
            party=warehouse,
            name=f"order-request__{warehouse}__{batch}.json.enc",
            document=_request_document(sim, batch, warehouse, created, fraud_required, orders),
            records=sum(len(o["lines"]) for o in orders),
            batch_id=batch,
        )
        for batch, warehouse, created, orders in _ready_batches(sim)
    ]
    file_ids = write_outbound(sim, files, "order-request.schema.json")
    if files:
        con.execute(
            """
            UPDATE warehouse_batches SET status = 'Extracted', file_id = f.file_id
            FROM (SELECT unnest(?) AS batch_id, unnest(?) AS file_id) f
            WHERE warehouse_batches.batch_id = f.batch_id""",
            [[f.batch_id for f in files], file_ids],
        )
        con.execute(
            """
            UPDATE request_lines SET status = 'Sent'
            WHERE status = 'Batched' AND batch_id IN (SELECT unnest(?))""",
            [[f.batch_id for f in files]],
        )
    return ready


def _ready_batches(sim):
    """(batch, warehouse, created, orders) for each Ready batch, nested as the file needs them."""
    return sim.con.execute("""
        WITH lines AS (
            SELECT r.batch_id, r.order_id,
                   list(struct_pack(requestLineId := r.request_line_id, lineNo := r.line_no,
                                    productId := r.product_id, quantity := r.quantity,
                                    serialised := p.serialised)
                        ORDER BY r.request_line_id) AS lines
            FROM request_lines r JOIN products p USING (product_id)
            WHERE r.status = 'Batched' GROUP BY ALL)
        SELECT b.batch_id, b.warehouse_id, strftime(b.created_at, '%Y-%m-%dT%H:%M:%S'),
               list(struct_pack(orderId := o.order_id, accountId := o.account_id,
                    delivery := struct_pack(name := d.delivery_name, line1 := d.delivery_line1,
                                            city := d.delivery_city, postcode := d.delivery_postcode,
                                            country := d.delivery_country),
                    fraudCheck := d.fraud_check, lines := l.lines) ORDER BY o.order_id)
        FROM warehouse_batches b JOIN lines l USING (batch_id) JOIN orders o USING (order_id)
             JOIN sales_order_details d USING (order_id)
        WHERE b.status = 'Ready' GROUP BY ALL ORDER BY b.batch_id""").fetchall()


def _request_document(sim, batch: str, warehouse: str, created: str, fraud: bool, orders: list) -> dict:
    return {
        "fileType": "order-request",
        "batchId": batch,
        "warehouseId": warehouse,
        "createdAt": created,
        "extractedAt": sim.now.strftime("%Y-%m-%dT%H:%M:%S"),
        "fraudCheckRequired": fraud,
        "orders": orders,
    }


def _fraud_check(sim) -> None:
    """Check delivery name and address of every order in a Ready batch not checked yet.

    Fails: a postcode on the watch list; a delivery name that is not the account holder's, with
    probability `gift_fail_rate`; anything else with probability `fail_rate` (the draw was made
    when the order was taken, so the outcome does not depend on when the daemon runs).
    """
    spec = sim.scenario["fraud_check"]
    con = sim.con
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _fraud AS
        SELECT d.order_id,
               CASE WHEN list_contains(?, d.delivery_postcode) THEN 'delivery postcode on the fraud watch list'
                    WHEN d.delivery_name <> a.name AND d.fraud_draw < ?
                        THEN 'delivery name does not match the account holder'
                    WHEN d.fraud_draw < ? THEN 'delivery address could not be verified'
               END AS reason
        FROM sales_order_details d JOIN orders o USING (order_id) JOIN accounts a USING (account_id)
        WHERE d.fraud_check = 'not checked' AND d.order_id IN (
            SELECT r.order_id FROM request_lines r JOIN warehouse_batches b USING (batch_id)
            WHERE b.status = 'Ready' AND r.status = 'Batched')""",
        [list(spec["watch_postcodes"]), spec["gift_fail_rate"], spec["fail_rate"]],
    )
    con.execute("""UPDATE sales_order_details
                   SET fraud_check = CASE WHEN f.reason IS NULL THEN 'passed' ELSE 'failed' END
                   FROM _fraud f WHERE sales_order_details.order_id = f.order_id""")
    con.execute("CREATE OR REPLACE TEMP TABLE _failed AS SELECT * FROM _fraud WHERE reason IS NOT NULL")
    con.execute(
        """UPDATE orders SET status = 'Error', status_reason = 'Fraud check failed: ' || f.reason,
                   completed_at = ? FROM _failed f WHERE orders.order_id = f.order_id""",
        [sim.now],
    )
    con.execute("""UPDATE order_lines SET status = 'Error', status_reason = 'Fraud check failed'
                   FROM _failed f WHERE order_lines.order_id = f.order_id""")
    con.execute("""
        UPDATE stock SET reserved = stock.reserved - r.quantity
        FROM (SELECT warehouse_id, product_id, sum(quantity) AS quantity FROM request_lines
              WHERE status = 'Batched' AND order_id IN (SELECT order_id FROM _failed) GROUP BY ALL) r
        WHERE stock.warehouse_id = r.warehouse_id AND stock.product_id = r.product_id""")
    con.execute("""UPDATE request_lines SET status = 'Cancelled', error_text = 'Fraud check failed'
                   WHERE status = 'Batched' AND order_id IN (SELECT order_id FROM _failed)""")
    sim.store.record_events(
        """
        SELECT ?::TIMESTAMP AS ts, 'order' AS object_type, order_id AS object_id,
               CASE WHEN reason IS NULL THEN 'Fraud Check Passed' ELSE 'Fraud Check Failed' END AS activity,
               ? AS job, reason AS detail FROM _fraud
        UNION ALL
        SELECT ?::TIMESTAMP, 'order', order_id, 'Order Error', ?, 'Fraud check failed: ' || reason
        FROM _failed""",
        [sim.now, sim.current_job, sim.now, sim.current_job],
    )
