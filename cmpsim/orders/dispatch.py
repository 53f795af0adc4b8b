"""Load Sales Orders From Generic Format daemon and the Sales Order Dispatch job.

The load daemon collects the order-dispatch files delivered by the warehouse adaptors, checks and
decrypts them (see `cmpsim.files.load_inbound`) and creates one CMP dispatch batch per file.
The dispatch job applies every loaded batch: request lines become Dispatched (with serial numbers)
or Error; stock is taken out of the warehouse and its reservation released; serialised units
become devices; an order line is final when all its units are, and an order when all its lines
are: Complete if everything was dispatched, Error (with the reason) otherwise. Dispatched items are
billed: a charge per order line, taken by the billing run at once or on the next invoice.
"""

from __future__ import annotations

import polars as pl

from cmpsim.files import InboundKind, load_inbound, parse_timestamps


def _stage_dispatch(sim, file_id: str, document: dict) -> int:
    batch_no = sim.store.allocate("dispatch_batch", 1) + 1
    batch_id = f"DB-{batch_no:07d}"
    lines = pl.DataFrame(document["lines"], infer_schema_length=None)
    for column, dtype in (
        ("dispatchedAt", pl.Utf8),
        ("serialNumbers", pl.List(pl.Utf8)),
        ("error", pl.Struct({"code": pl.Utf8, "message": pl.Utf8})),
    ):
        if column not in lines.columns:
            lines = lines.with_columns(pl.lit(None, dtype).alias(column))
    staged = lines.select(
        batch_id=pl.lit(batch_id),
        request_line_id="requestLineId",
        order_id="orderId",
        product_id="productId",
        quantity=pl.col("quantity").cast(pl.Int32),
        outcome="status",
        serial_numbers=pl.col("serialNumbers").cast(pl.List(pl.Utf8)),
        error_code=pl.col("error").struct.field("code"),
        error_text=pl.col("error").struct.field("message"),
        dispatched_at=parse_timestamps(lines["dispatchedAt"], "lines[{i}].dispatchedAt"),
        applied=pl.lit(None, pl.Utf8),
    )
    sim.store.insert("dispatch_lines", staged)
    sim.con.execute(
        "INSERT INTO dispatch_batches VALUES (?, ?, ?, ?, 'Loaded', ?, NULL)",
        [batch_id, file_id, document["warehouseId"], sim.now, staged.height],
    )
    return staged.height


ORDER_DISPATCH = InboundKind(kind="order-dispatch", schema="order-dispatch.schema.json", stage=_stage_dispatch)


def load_sales_orders_step(sim) -> int:
    return load_inbound(sim, ORDER_DISPATCH)


def sales_order_dispatch_step(sim) -> int:
    con = sim.con
    batches = sim.store.scalar("SELECT count(*) FROM dispatch_batches WHERE status = 'Loaded'")
    if batches == 0:
        return 0
    # A line applies once, to a request line that was sent and not yet answered and that it matches;
    # anything else (unknown reference, answer already applied, other quantity) is kept and marked.
    con.execute("""
        UPDATE dispatch_lines SET applied = x.verdict
        FROM (SELECT d.batch_id, d.request_line_id,
                     CASE WHEN r.request_line_id IS NULL THEN 'ignored: unknown request line'
                          WHEN r.status <> 'Sent' THEN 'ignored: request line already ' || r.status
                          WHEN r.order_id <> d.order_id OR r.product_id <> d.product_id OR r.quantity <> d.quantity
                              THEN 'ignored: order, product or quantity differ from the request line'
                          WHEN row_number() OVER (PARTITION BY d.request_line_id ORDER BY d.batch_id) > 1
                              THEN 'ignored: answered twice'
                          ELSE 'applied' END AS verdict
              FROM dispatch_lines d LEFT JOIN request_lines r USING (request_line_id)
              WHERE d.batch_id IN (SELECT batch_id FROM dispatch_batches WHERE status = 'Loaded')) x
        WHERE dispatch_lines.batch_id = x.batch_id AND dispatch_lines.request_line_id = x.request_line_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _answer AS
        SELECT d.*, r.warehouse_id, r.line_no FROM dispatch_lines d JOIN request_lines r USING (request_line_id)
        WHERE d.applied = 'applied'
          AND d.batch_id IN (SELECT batch_id FROM dispatch_batches WHERE status = 'Loaded')""")
    con.execute("""
        UPDATE request_lines SET status = CASE a.outcome WHEN 'dispatched' THEN 'Dispatched' ELSE 'Error' END,
               serial_no = a.serial_numbers[1], error_code = a.error_code, error_text = a.error_text,
               dispatched_at = a.dispatched_at
        FROM _answer a WHERE request_lines.request_line_id = a.request_line_id""")
    con.execute("""
        UPDATE stock SET on_hand = stock.on_hand - a.shipped, reserved = stock.reserved - a.answered
        FROM (SELECT warehouse_id, product_id, sum(quantity) AS answered,
                     sum(CASE WHEN outcome = 'dispatched' THEN quantity ELSE 0 END) AS shipped
              FROM _answer GROUP BY ALL) a
        WHERE stock.warehouse_id = a.warehouse_id AND stock.product_id = a.product_id""")
    _register_devices(sim)
    _record_line_events(sim)
    finished_lines = _finish_lines(sim)
    _finish_orders(sim)
    _create_charges(sim)
    con.execute("UPDATE dispatch_batches SET status = 'Processed', processed_at = ? WHERE status = 'Loaded'", [sim.now])
    return batches + finished_lines


def _register_devices(sim) -> None:
    sim.con.execute(
        """
        INSERT INTO devices
        SELECT a.serial_numbers[1], a.order_id, a.line_no, a.product_id, p.manufacturer, o.account_id,
               a.dispatched_at,
               CASE WHEN d.enrol_devices AND p.enrolable THEN 'Pending' ELSE 'Not Requested' END,
               ?, NULL
        FROM _answer a JOIN products p USING (product_id) JOIN orders o USING (order_id)
             JOIN sales_order_details d USING (order_id)
        WHERE a.outcome = 'dispatched' AND p.serialised AND len(a.serial_numbers) > 0
        ORDER BY a.serial_numbers[1]""",
        [sim.now],
    )


def _record_line_events(sim) -> None:
    sim.store.record_events(
        """
        SELECT coalesce(dispatched_at, ?::TIMESTAMP) AS ts, 'order' AS object_type, order_id AS object_id,
               CASE outcome WHEN 'dispatched' THEN 'Item Dispatched' ELSE 'Item Failed' END AS activity,
               ? AS job,
               line_no || ': ' || product_id || ' from ' || warehouse_id
               || coalesce(' serial ' || serial_numbers[1], '') || coalesce(' ' || error_code, '') AS detail
        FROM _answer""",
        [sim.now, sim.current_job],
    )


def _finish_lines(sim) -> int:
    """Order lines whose units are all answered (or cancelled) become Complete or Error."""
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _lines_done AS
        SELECT r.order_id, r.line_no,
               sum(CASE WHEN r.status = 'Dispatched' THEN r.quantity ELSE 0 END) AS shipped,
               bool_and(r.status = 'Dispatched') AS all_shipped,
               min(r.error_code) FILTER (WHERE r.status = 'Error') AS error_code,
               min(r.error_text) FILTER (WHERE r.status = 'Error') AS error_text
        FROM request_lines r JOIN order_lines l USING (order_id, line_no)
        WHERE l.status = 'Awaiting Dispatch' AND r.order_id IN (SELECT order_id FROM _answer)
        GROUP BY r.order_id, r.line_no
        HAVING bool_and(r.status IN ('Dispatched', 'Error', 'Cancelled'))""")
    con.execute(
        """
        UPDATE order_lines SET status = CASE WHEN d.all_shipped THEN 'Complete' ELSE 'Error' END,
               status_reason = CASE WHEN NOT d.all_shipped THEN d.error_code || ': ' || d.error_text END,
               completed_at = ?
        FROM _lines_done d WHERE order_lines.order_id = d.order_id AND order_lines.line_no = d.line_no""",
        [sim.now],
    )
    return sim.store.scalar("SELECT count(*) FROM _lines_done")


def _finish_orders(sim) -> None:
    con = sim.con
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _orders_done AS
        SELECT l.order_id, bool_and(l.status = 'Complete') AS complete,
               count(*) FILTER (WHERE l.status = 'Error') AS failed, count(*) AS lines,
               min(l.line_no || ' (' || l.product_id || ') ' || l.status_reason)
                   FILTER (WHERE l.status = 'Error') AS first_error
        FROM order_lines l JOIN orders o USING (order_id)
        WHERE o.status = 'Awaiting Dispatch' AND l.order_id IN (SELECT order_id FROM _lines_done)
        GROUP BY l.order_id HAVING bool_and(l.status IN ('Complete', 'Error'))""")
    con.execute(
        """
        UPDATE orders SET status = CASE WHEN d.complete THEN 'Complete' ELSE 'Error' END,
               status_reason = CASE WHEN NOT d.complete THEN
                   d.failed || ' of ' || d.lines || ' line(s) failed; line ' || d.first_error END,
               completed_at = ?
        FROM _orders_done d WHERE orders.order_id = d.order_id""",
        [sim.now],
    )
    sim.store.record_events(
        """
        SELECT ?::TIMESTAMP AS ts, 'order' AS object_type, o.order_id AS object_id,
               'Order ' || o.status AS activity, ? AS job, o.status_reason AS detail
        FROM orders o WHERE o.order_id IN (SELECT order_id FROM _orders_done)""",
        [sim.now, sim.current_job],
    )


def _create_charges(sim) -> None:
    """A charge per finished order line with dispatched units; tax rounded half-up per line. Billed as the
    customer chose (`accounts.hardware_charges`), else as the scenario says (`billing.hardware_charges`)."""
    mode = sim.scenario["billing"]["hardware_charges"]
    sim.con.execute(
        """
        INSERT INTO charges
        SELECT 'CH-' || d.order_id || '-' || lpad(d.line_no::VARCHAR, 3, '0'), o.account_id, 'sales_order',
               d.order_id, d.line_no, l.product_id, p.product_class, p.name, d.shipped::INTEGER, l.unit_price,
               net, p.tax_rate, tax, net + tax, coalesce(a.hardware_charges, ?), ?, 'Unbilled', NULL
        FROM _lines_done d JOIN order_lines l USING (order_id, line_no) JOIN orders o USING (order_id)
             JOIN accounts a ON a.account_id = o.account_id JOIN products p ON p.product_id = l.product_id,
             LATERAL (SELECT (l.unit_price * d.shipped)::DECIMAL(18,2) AS net),
             LATERAL (SELECT round(net * p.tax_rate, 2)::DECIMAL(18,2) AS tax)
        WHERE d.shipped > 0 ORDER BY 1""",
        [mode, sim.now],
    )
    sim.store.record_events(
        """
        SELECT charge_date AS ts, 'charge' AS object_type, charge_id AS object_id, 'Charge Created' AS activity,
               ? AS job, billing_mode || ' ' || gross_amount::VARCHAR AS detail
        FROM charges WHERE charge_date = ? AND source_id IN (SELECT order_id FROM _lines_done)""",
        [sim.current_job, sim.now],
    )
