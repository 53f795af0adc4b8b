"""The simulated warehouses: an outside party CMP only meets through files, each through its adaptor.

Intake: the warehouse's adaptor collects the order-request generic files CMP extracted for it and
writes each as a pick-request CSV of the warehouse's own format (`PICK_COLUMNS`) into
`files/parties/<warehouse>/inbox/`; the warehouse reads those CSVs, and only those, and gives each
line a moment it is ready to pick (lead time drawn per line) and a failure draw.
Dispatch run, daily at the warehouse's dispatch time: strict FIFO over ready lines within the
day's capacity (units); a line fails with the warehouse's error rate, or for lack of physical
stock; dispatched serialised units get serial numbers. The warehouse writes its answer as a CSV
file of its own format; its adaptor converts that into an order-dispatch generic file for CMP.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from cmpsim.files import collect_outbound, csv_bytes, deliver_inbound, read_csv_text, write_atomic
from cmpsim.randomness import draw

ERROR_KINDS = [
    ("DAMAGED_IN_PICKING", "Item damaged during picking"),
    ("ADDRESS_UNDELIVERABLE", "Carrier cannot deliver to the delivery address"),
]
CSV_COLUMNS = ["CMP_REF", "ORDER_REF", "SKU", "QTY", "STATUS", "SERIALS", "ERR_CODE", "ERR_TEXT", "DISPATCH_TS"]
# The warehouse's pick request: one row per request line, in the order lines of the generic file.
PICK_COLUMNS = ["CMP_REF", "ORDER_REF", "LINE_NO", "SKU", "QTY", "SERIALISED", "CUSTOMER_REF", "SHIP_TO_NAME",
                "SHIP_TO_ADDRESS", "SHIP_TO_CITY", "SHIP_TO_POSTCODE", "SHIP_TO_COUNTRY", "BATCH_REF"]
_ORDER_REQUEST = pl.Struct({
    "orderId": pl.Utf8, "accountId": pl.Utf8,
    "delivery": pl.Struct({"name": pl.Utf8, "line1": pl.Utf8, "city": pl.Utf8, "postcode": pl.Utf8,
                           "country": pl.Utf8}),
    "lines": pl.List(pl.Struct({"requestLineId": pl.Utf8, "lineNo": pl.Int64, "productId": pl.Utf8,
                                "quantity": pl.Int64, "serialised": pl.Boolean}))})


def inbox(wid: str) -> Path:
    """Where the warehouse's adaptor leaves its pick requests, relative to the run folder."""
    return Path("files", "parties", wid, "inbox")


def warehouse_intake_step(sim) -> int:
    """Every warehouse's adaptor delivers the order-request files waiting for it as pick requests,
    and the warehouse takes in the lines of the pick requests delivered; returns lines taken in."""
    received = 0
    for warehouse in sim.scenario["warehouses"]:
        received += _take_in(sim, warehouse, deliver_pick_requests(sim, warehouse["id"]))
    return received


def deliver_pick_requests(sim, wid: str) -> list[Path]:
    """The warehouse adaptor, outbound: each order-request file CMP hands over (`collect_outbound`)
    written whole as `<inbox>/<file name without .json.enc>.csv`; returns the CSVs, in name order."""
    paths = []
    for name, document in collect_outbound(sim, "order-request", wid):
        path = sim.run_dir / inbox(wid) / f"{name.removesuffix('.json.enc')}.csv"
        write_atomic(path, pick_request_csv(document))
        paths.append(path)
    return paths


def pick_request_csv(document: dict) -> bytes:
    """An order-request document as the warehouse's pick-request CSV (`PICK_COLUMNS`): one row per
    request line, quantities as whole numbers, SERIALISED `Y` or `N`, the order's delivery address."""
    lines = (pl.DataFrame({"order": document["orders"]}, schema={"order": _ORDER_REQUEST}).unnest("order")
             .explode("lines").unnest("delivery", "lines"))
    return csv_bytes(lines.select(
        CMP_REF="requestLineId", ORDER_REF="orderId", LINE_NO="lineNo", SKU="productId", QTY="quantity",
        SERIALISED=pl.when("serialised").then(pl.lit("Y")).otherwise(pl.lit("N")), CUSTOMER_REF="accountId",
        SHIP_TO_NAME="name", SHIP_TO_ADDRESS="line1", SHIP_TO_CITY="city", SHIP_TO_POSTCODE="postcode",
        SHIP_TO_COUNTRY="country", BATCH_REF=pl.lit(document["batchId"], pl.Utf8)))


def read_pick_request(data: bytes) -> pl.DataFrame:
    """The warehouse reading a pick-request CSV: `PICK_COLUMNS`, LINE_NO and QTY whole numbers,
    SERIALISED true or false (anything but `Y` or `N` is an error), the rest text as written."""
    return read_csv_text(data, PICK_COLUMNS).with_columns(
        pl.col("LINE_NO", "QTY").cast(pl.Int64), pl.col("SERIALISED").replace_strict({"Y": True, "N": False}))


def _take_in(sim, warehouse, paths: list[Path]) -> int:
    """The warehouse reads the pick requests just delivered: a lead time and a failure draw per line,
    drawn in request-line order from the warehouse's own stream, kept in `wh_requests`."""
    wid = warehouse["id"]
    frames = [read_pick_request(path.read_bytes()).with_columns(file_name=pl.lit(path.name)) for path in paths]
    if not frames:
        return 0
    lines = pl.concat(frames).sort("CMP_REF")
    rng = sim.rng(f"warehouse.{wid}")
    lead_s = (draw(warehouse["lead_time_hours"], rng, lines.height) * 3600).round().astype("int64")
    lines = lines.with_columns(lead_s=pl.Series(lead_s), fail_draw=pl.Series(rng.random(lines.height)))
    sim.con.register("_received", lines.to_arrow())
    sim.con.execute(
        """
        INSERT INTO wh_requests
        SELECT ?, file_name, CMP_REF, ORDER_REF, SKU, QTY, SERIALISED, ?::TIMESTAMP,
               ?::TIMESTAMP + to_seconds(lead_s), fail_draw, NULL, NULL, NULL, NULL, NULL
        FROM _received ORDER BY CMP_REF""",
        [wid, sim.now, sim.now],
    )
    return lines.height


def warehouse_dispatch_step(sim) -> int:
    """The daily dispatch run of every warehouse whose dispatch time is now."""
    clock = sim.now.strftime("%H:%M")
    handled = 0
    for warehouse in sim.scenario["warehouses"]:
        if warehouse["dispatch_time"] == clock:
            handled += _dispatch_run(sim, warehouse)
    return handled


def _dispatch_run(sim, warehouse) -> int:
    con, wid = sim.con, warehouse["id"]
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _pick AS
        WITH ready AS (
            SELECT q.*, sum(quantity) OVER (ORDER BY received_at, request_line_id) AS cum_units
            FROM wh_requests q WHERE warehouse_id = ? AND outcome IS NULL AND ready_at <= ?),
        picked AS (
            SELECT *, fail_draw < ? AS failed,
                   sum(CASE WHEN fail_draw < ? THEN 0 ELSE quantity END) OVER (
                       PARTITION BY product_id ORDER BY received_at, request_line_id) AS cum_need
            FROM ready WHERE cum_units <= ?)
        SELECT p.request_line_id, p.order_id, p.product_id, p.quantity, p.serialised,
               CASE WHEN p.failed THEN (CASE WHEN p.fail_draw < ? / 2 THEN ? ELSE ? END)
                    WHEN p.cum_need > coalesce(s.on_hand, 0) THEN 'OUT_OF_STOCK' END AS error_code
        FROM picked p LEFT JOIN wh_stock s ON s.warehouse_id = ? AND s.product_id = p.product_id""",
        [
            wid,
            sim.now,
            warehouse["error_rate"],
            warehouse["error_rate"],
            warehouse["daily_capacity_units"],
            warehouse["error_rate"],
            ERROR_KINDS[0][0],
            ERROR_KINDS[1][0],
            wid,
        ],
    )
    n = sim.store.scalar("SELECT count(*) FROM _pick")
    if n == 0:
        return 0
    serial_base = sim.store.allocate(
        f"serial.{wid}", sim.store.scalar("SELECT count(*) FROM _pick WHERE serialised AND error_code IS NULL")
    )
    stamp = sim.now.strftime("%Y%m%d_%H%M")
    csv_name = f"dispatch_{wid}_{stamp}.csv"
    con.execute(
        """
        UPDATE wh_requests SET dispatched_at = CASE WHEN p.error_code IS NULL THEN ?::TIMESTAMP END,
               outcome = CASE WHEN p.error_code IS NULL THEN 'SHIPPED' ELSE 'FAILED' END,
               error_code = p.error_code, answered_in = ?,
               serial_numbers = CASE WHEN p.serialised AND p.error_code IS NULL THEN
                   [? || '-' || lpad((? + p.serial_rank)::VARCHAR, 8, '0')] END
        FROM (SELECT *, row_number() OVER (PARTITION BY serialised AND error_code IS NULL
                                           ORDER BY request_line_id) AS serial_rank FROM _pick) p
        WHERE wh_requests.warehouse_id = ? AND wh_requests.request_line_id = p.request_line_id""",
        [sim.now, csv_name, _serial_prefix(wid), serial_base, wid],
    )
    con.execute(
        """
        UPDATE wh_stock SET on_hand = wh_stock.on_hand - d.quantity
        FROM (SELECT product_id, sum(quantity) AS quantity FROM _pick WHERE error_code IS NULL GROUP BY ALL) d
        WHERE wh_stock.warehouse_id = ? AND wh_stock.product_id = d.product_id""",
        [wid],
    )
    _answer(sim, wid, csv_name)
    return n


def _serial_prefix(wid: str) -> str:
    return "SN" + "".join(ch for ch in wid.upper() if ch.isalnum())[-6:]


def _answer(sim, wid: str, csv_name: str) -> None:
    """Write the warehouse's own CSV answer, then let its adaptor deliver the generic file."""
    answer = sim.store.frame(
        """
        SELECT request_line_id AS CMP_REF, order_id AS ORDER_REF, product_id AS SKU, quantity AS QTY,
               outcome AS STATUS, array_to_string(serial_numbers, '|') AS SERIALS, error_code AS ERR_CODE,
               CASE error_code WHEN 'OUT_OF_STOCK' THEN 'No stock of ' || product_id || ' at ' || warehouse_id
                    WHEN ? THEN ? WHEN ? THEN ? END AS ERR_TEXT,
               strftime(dispatched_at, '%Y-%m-%dT%H:%M:%S') AS DISPATCH_TS
        FROM wh_requests WHERE warehouse_id = ? AND answered_in = ? ORDER BY request_line_id""",
        [ERROR_KINDS[0][0], ERROR_KINDS[0][1], ERROR_KINDS[1][0], ERROR_KINDS[1][1], wid, csv_name],
    )
    csv_path = sim.run_dir / "files" / "parties" / wid / "outbox" / csv_name
    write_atomic(csv_path, csv_bytes(answer.select(CSV_COLUMNS)))
    document = adapt_dispatch_csv(wid, csv_path.read_bytes(), csv_name, sim.now)
    deliver_inbound(sim, "order-dispatch", wid, f"order-dispatch__{wid}__{csv_name[:-4]}.json.enc", document)


def adapt_dispatch_csv(wid: str, data: bytes, csv_name: str, run_at: dt.datetime) -> dict:
    """The warehouse adaptor: its CSV answer → an order-dispatch document."""
    rows = read_csv_text(data, CSV_COLUMNS).with_columns(pl.col("QTY").cast(pl.Int64))
    lines = []
    for row in rows.iter_rows(named=True):
        line = {
            "requestLineId": row["CMP_REF"],
            "orderId": row["ORDER_REF"],
            "productId": row["SKU"],
            "quantity": row["QTY"],
            "status": "dispatched" if row["STATUS"] == "SHIPPED" else "error",
        }
        if row["STATUS"] == "SHIPPED":
            line["dispatchedAt"] = row["DISPATCH_TS"]
            if row["SERIALS"]:
                line["serialNumbers"] = row["SERIALS"].split("|")
        else:
            line["error"] = {"code": row["ERR_CODE"], "message": row["ERR_TEXT"]}
        lines.append(line)
    return {
        "fileType": "order-dispatch",
        "warehouseId": wid,
        "sourceFile": csv_name,
        "dispatchRunAt": run_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "lines": lines,
    }
