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

The messages not yet received and the consumers' free times live in memory (`MessageQueue`, a
working state: docs/engine.md), so the daemon's look, made at every poll, costs no statement. The
order's row (`service_orders`: queue status, dequeued, received, consumer) is written when it
changes, since Order Fulfilment reads it within the window; the consumers' free times
(`queue_consumers`) at every commit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from cmpsim.fulfilment import pools
from cmpsim.fulfilment.jobs import epoch_s, epoch_ts
from cmpsim.randomness import draw
from cmpsim.store import registered

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


def message_queue(sim) -> MessageQueue:
    """The run's order queue, loaded from the record the first time it is asked for."""
    return sim.store.working("order_queue", lambda store: MessageQueue(store.con, sim.start))


class MessageQueue:
    """The messages in the queue or in a consumer's hands (order id → seq, priority, enqueued, processing
    seconds, status Queued or Dequeued, end of processing), and the consumers' free times, in seconds
    since the run's start."""

    def __init__(self, con, start) -> None:
        self.start_sql = f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'"
        self.load(con)

    def load(self, con) -> None:
        seconds = f"(epoch({{}}) - epoch({self.start_sql}))::BIGINT"
        rows = con.execute(f"""
            SELECT s.order_id, s.seq, o.priority, {seconds.format('s.submitted_at')}, s.message_s, s.queue_status,
                   {seconds.format('s.received_at')}
            FROM service_orders s JOIN orders o USING (order_id)
            WHERE s.queue_status IN ('Queued', 'Dequeued') ORDER BY s.seq""").fetchall()
        self.messages: dict[str, tuple] = {r[0]: r[1:] for r in rows}
        consumers = con.execute(f"SELECT consumer, {seconds.format('busy_until')} FROM queue_consumers "
                                "ORDER BY consumer").fetchall()
        self.consumers = [c for c, _ in consumers]
        self.busy_s = np.array([b for _, b in consumers], dtype=np.int64)
        self.busy_changed = False

    # The working-state protocol (Store.working).
    def mark(self) -> None:
        self._mark = (dict(self.messages), self.busy_s.copy(), self.busy_changed)

    def restore(self) -> None:
        messages, busy_s, self.busy_changed = self._mark
        self.messages, self.busy_s = dict(messages), busy_s.copy()

    def write(self, con) -> None:
        """The consumers' free times (the messages' rows are written as they change)."""
        if self.busy_changed:
            con.execute(f"""UPDATE queue_consumers SET busy_until = {self.start_sql} + to_seconds(b.busy_s)
                            FROM (SELECT unnest(?::BIGINT[]) AS consumer, unnest(?::BIGINT[]) AS busy_s) b
                            WHERE queue_consumers.consumer = b.consumer""", [self.consumers, self.busy_s.tolist()])
            self.busy_changed = False

    # What the daemon and the CRM ask and do.
    def look(self) -> tuple[int, int | None, int | None]:
        """Messages queued, the first second a message in hand is processed, the first consumer free."""
        queued = sum(1 for m in self.messages.values() if m[4] == "Queued")
        next_end = min((m[5] for m in self.messages.values() if m[4] == "Dequeued"), default=None)
        return queued, next_end, int(self.busy_s.min()) if len(self.busy_s) else None

    def enqueue(self, orders: pl.DataFrame) -> None:
        """Messages dropped by the CRM (order_id, seq, priority, submitted_s, message_s)."""
        for order_id, seq, priority, submitted_s, message_s in orders.select(
                "order_id", "seq", "priority", "submitted_s", "message_s").iter_rows():
            self.messages[order_id] = (seq, priority, submitted_s, message_s, "Queued", None)

    def withdraw(self, order_ids: list[str]) -> None:
        """Messages the CRM took back out of the queue (those a consumer holds stay)."""
        for order_id in order_ids:
            if order_id in self.messages and self.messages[order_id][4] == "Queued":
                del self.messages[order_id]

    def queued(self) -> pl.DataFrame:
        """The queued messages by seq, as `pools.take_by` takes them."""
        rows = sorted((m[0], key, m[1], m[2], m[3]) for key, m in self.messages.items() if m[4] == "Queued")
        return pl.DataFrame(rows, schema={"seq": pl.Int64, "key": pl.String, "priority": pl.Int32,
                                          "release_s": pl.Int64, "duration_s": pl.Int64}, orient="row")

    def taken(self, taken: pl.DataFrame, busy_s: np.ndarray, now_s: int) -> None:
        """Consumers took these messages (key, end_s); those processed by `now_s` are received."""
        for key, end_s in taken.select("key", "end_s").iter_rows():
            if end_s <= now_s:
                del self.messages[key]
            else:
                self.messages[key] = self.messages[key][:4] + ("Dequeued", end_s)
        self.busy_s, self.busy_changed = busy_s, True

    def received(self, order_ids: list[str]) -> None:
        for order_id in order_ids:
            del self.messages[order_id]


def order_queue_wake_at(sim) -> int | None:
    """The first second the consumers have something to do: a consumer frees up for a queued message,
    or a message's processing ends."""
    queued, next_end, first_free = message_queue(sim).look()
    return min((m for m in (next_end, first_free if queued else None) if m is not None), default=None)


def order_queue_due(sim) -> bool:
    """Messages to take or received, or status changes in order management the CRM has not been sent
    (counted in the log and in the events held in memory): the look costs no statement."""
    moment = order_queue_wake_at(sim)
    return (moment is not None and moment <= sim.now_s) or _crm_behind(sim)


def _crm_behind(sim) -> bool:
    """Order management changed a status since the CRM was last sent them (the look writes nothing)."""
    return sim.store.has_events_since(sim.store.allocate(CRM_CURSOR, 0), tuple(CRM_STATUS))


def order_queue_step(sim) -> int:
    """Take the messages a consumer is free for, receive those processed by now, send the status
    changes back: each only when the look says it has something."""
    queued, next_received, _ = message_queue(sim).look()
    taken = dequeue(sim) if queued else 0
    received = _receive(sim) if next_received is not None and next_received <= sim.now_s else 0
    updated = _update_crm(sim) if _crm_behind(sim) else 0
    return taken + received + updated


def dequeue(sim) -> int:
    """Consumers take the queued messages, highest priority first, from when each was enqueued: at every
    poll, and as soon as CRM Order Capture has put orders in the queue (the consumers listen to it)."""
    queue = message_queue(sim)
    queued = queue.queued()
    taken, busy_s = pools.take_by(queued, queue.consumers, queue.busy_s, sim.now_s, "consumer")
    if taken.height == 0:
        return 0
    queue.taken(taken, busy_s, sim.now_s)
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
    message_queue(sim).received([r[1] for r in received])
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
