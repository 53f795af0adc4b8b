"""The order queue between the CRM and order management (seed 004: the JMS queue in front of AIA).

When a CRM user submits an order, the CRM drops it into the queue and hands control back at once:
CRM Order Capture records the order as Submitted (or Pending, a revision) with `queue_status`
Queued and the time its message takes to process (`message_s`, drawn from
`service.order_queue.message_seconds`: the connector's transformation and the hand-over to order
management). The Order Queue daemon is the queue's consumers: a limited number
(`order_queue.consumers`) each take one message at a time, the highest JMS priority first (the
order's priority, 0-9), the earliest enqueued within a priority, never pre-empting one begun
(`pools.take`, the same rule as the fulfilment workers). A message taken is
`Dequeued`; at the end of its processing order management has the order (`received_at`), and
the first poll after that logs "Order Received" (with its wait and consumer) and marks it
`Received`. Fulfilment releases and revises an order once it is received (`received_at` has passed),
from that moment. Consumers take messages at each poll and as soon as the CRM has dropped some:
order management can have an order the second it was submitted.

The way back: the daemon also sends order management's status changes (released, complete, failed,
a revision applied or rejected) back to the CRM's copy of the order (`crm_status`,
`crm_updated_at`) at each poll where the log has such a change.

A message enqueued before the daemon saw it (the CRM records its users' submissions in batches)
is taken from the moment it was enqueued when a consumer was free then: the queue loses no time to
the batching, so a queue with free consumers and instant messages delivers every order the
second it was submitted.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.fulfilment import pools
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts
from cmpsim.randomness import draw
from cmpsim.store import registered

LOOK = """
    SELECT count(*) FILTER (WHERE queue_status = 'Queued'),
           min(received_at) FILTER (WHERE queue_status = 'Dequeued'),
           (SELECT min(busy_until) FROM queue_consumers)
    FROM service_orders WHERE queue_status IN ('Queued', 'Dequeued')"""


# Status updates back to the CRM's copy of the order: what each event of order management makes it.
CRM_STATUS = {"Order Released": "In Progress", "Order Complete": "Complete", "Order Failed": "Failed",
              "Revision Applied": "Applied", "Revision Rejected": "Rejected"}
CRM_CURSOR = "crm.updates_seq"  # the last event sent back to the CRM


def message_seconds(sim, n: int) -> np.ndarray:
    """How long each of `n` messages enqueued now takes a consumer, in whole seconds."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    spec = sim.scenario["service"]["order_queue"]["message_seconds"]
    return np.round(draw(spec, sim.rng("order_queue.messages"), n)).astype(np.int64)


def order_queue_wake_at(sim) -> int | None:
    """The first second the consumers have something to do: a consumer frees up for a queued message,
    or a message's processing ends."""
    return pools.next_moment(sim, LOOK)


def order_queue_due(sim) -> bool:
    """Messages to take or received, or status changes in order management the CRM has not been sent
    (counted in the log and in the events held in memory: the look writes nothing)."""
    moment = order_queue_wake_at(sim)
    return (moment is not None and moment <= sim.now_s) or _crm_behind(sim)


def _crm_behind(sim) -> bool:
    """Order management changed a status since the CRM was last sent them (the look writes nothing)."""
    return sim.store.has_events_since(sim.store.allocate(CRM_CURSOR, 0), tuple(CRM_STATUS))


def order_queue_step(sim) -> int:
    """Take the messages a consumer is free for, receive those processed by now, send the status
    changes back: each only when the look says it has something."""
    queued, next_received, _ = sim.con.execute(LOOK).fetchall()[0]
    taken = dequeue(sim) if queued else 0
    received = _receive(sim) if next_received is not None and sim.second_of(next_received) <= sim.now_s else 0
    updated = _update_crm(sim) if _crm_behind(sim) else 0
    return taken + received + updated


def dequeue(sim) -> int:
    """Consumers take the queued messages, highest priority first, from when each was enqueued: at every
    poll, and as soon as CRM Order Capture has put orders in the queue (the consumers listen to it)."""
    queued = sim.store.frame(f"""
        SELECT s.order_id AS key, s.seq, o.priority, {epoch_s(sim, 's.submitted_at')} AS release_s,
               s.message_s AS duration_s
        FROM service_orders s JOIN orders o USING (order_id)
        WHERE s.queue_status = 'Queued' ORDER BY s.seq""")
    taken = pools.take(sim, queued, "queue_consumers", "consumer")
    if taken.height == 0:
        return 0
    # A message whose processing is over by now is received at once (instant messages: the second the
    # order was submitted); the others when a poll finds their end passed.
    taken = taken.join(queued.select("key", "release_s"), on="key").with_columns(
        status=pl.when(pl.col("end_s") <= sim.now_s).then(pl.lit("Received")).otherwise(pl.lit("Dequeued")))
    with registered(sim.con, "_taken", taken.to_arrow()):
        sim.con.execute(f"""
            UPDATE service_orders SET queue_status = t.status, dequeued_at = {epoch_ts(sim, 't.start_s')},
                   received_at = {epoch_ts(sim, 't.end_s')}, queue_consumer = t.consumer
            FROM _taken t WHERE service_orders.order_id = t.key""")
    received = taken.filter(pl.col("status") == "Received").sort("end_s", "key")
    sim.store.record_event_frame(received.select(
        ts=pl.lit(sim.start) + pl.duration(seconds="end_s"), object_type=pl.lit("order"), object_id="key",
        activity=pl.lit("Order Received"),
        detail=pl.format("queued {} s, consumer {}", pl.col("end_s") - pl.col("release_s"), "consumer")),
        sim.current_job)
    return taken.height


def _receive(sim) -> int:
    """Messages processed by now: order management has the order."""
    received = sim.con.execute(f"""
        UPDATE service_orders SET queue_status = 'Received'
        WHERE queue_status = 'Dequeued' AND received_at <= ?
        RETURNING received_at, order_id,
                  'queued ' || ({epoch_s(sim, 'received_at')} - {epoch_s(sim, 'submitted_at')})::VARCHAR
                  || ' s, consumer ' || queue_consumer::VARCHAR, seq""", [sim.now]).fetchall()
    received.sort(key=lambda r: (r[0], r[3]))
    sim.store.record_events_at([r[0] for r in received], "order", [r[1] for r in received], "Order Received",
                               sim.current_job, [r[2] for r in received])
    return len(received)


def _update_crm(sim) -> int:
    """Seed 004: order management sends status updates back to the CRM order, at each poll: the CRM's
    copy (`crm_status`, `crm_updated_at`) follows order management's status (released, complete,
    failed, a revision applied or rejected) one poll later at most."""
    cursor = sim.store.allocate(CRM_CURSOR, 0)
    sim.store.allocate(CRM_CURSOR, sim.store.allocate("event", 0) - cursor)  # the log is sent up to here
    return len(sim.con.execute(f"""
        UPDATE service_orders SET crm_status = o.status, crm_updated_at = ? FROM orders o
        WHERE o.order_id = service_orders.order_id AND o.kind = 'service'
          AND o.status IN {tuple(CRM_STATUS.values())} AND service_orders.crm_status IS DISTINCT FROM o.status
        RETURNING service_orders.order_id""", [sim.now]).fetchall())
