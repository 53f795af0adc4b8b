"""Order Fulfilment's open work in memory: the jobs queued or running and when each worker is free.

The first process whose working state lives in memory (docs/engine.md, "Working state"). The
daemon's polls read and change this state instead of querying `fulfilment_jobs` and
`fulfilment_workers`: whether a poll has work, which queued jobs a window starts, which running jobs
ended. The record follows at every commit (`write`): the jobs that changed since are written in one
statement, a job that left the queue (Done) leaves memory with it. Times are kept as seconds since
the run's start and written as the same TIMESTAMPs the SQL steps wrote.

Revisions change the open work with set-based SQL over the record, rarely: around them the queue is
written, `detached` (jobs queued meanwhile go straight to the record) and loaded again.
"""

from __future__ import annotations

import numpy as np
import polars as pl

OPEN = ("Queued", "Running")
SCHEMA = {"job_no": pl.Int64, "order_id": pl.String, "line_no": pl.Int32, "kind": pl.String, "priority": pl.Int32,
          "seq": pl.Int64, "release_s": pl.Int64, "duration_s": pl.Int64, "steps": pl.List(pl.String),
          "step_durations_s": pl.List(pl.Int64), "ponr_offset_s": pl.Int64, "status": pl.String,
          "worker": pl.Int32, "started_s": pl.Int64, "ended_s": pl.Int64, "interrupted_s": pl.Int64,
          "fallout_step": pl.String}
# The columns of `fulfilment_jobs`, in its order: SCHEMA's, with TIMES as TIMESTAMPs.
JOB_COLUMNS = ("job_no", "order_id", "line_no", "kind", "priority", "seq", "release_at", "duration_s", "steps",
               "step_durations_s", "ponr_offset_s", "status", "worker", "started_at", "ended_at", "interrupted_at",
               "fallout_step")
TIMES = {"release_at": "release_s", "started_at": "started_s", "ended_at": "ended_s", "interrupted_at": "interrupted_s"}
# What a job's completion needs of its line, held from its release (`WorkQueue.lines_of`).
LINE_SCHEMA = {"order_id": pl.String, "line_no": pl.Int32, "line_ref": pl.String, "action": pl.String,
               "asset_id": pl.String, "location": pl.String, "product_id": pl.String,
               "resolved_price_list": pl.String, "price_list_from_header": pl.Boolean,
               "price_override": pl.Decimal(18, 2), "quantity": pl.Int32, "account_id": pl.String,
               "order_seq": pl.Int64, "external_id": pl.String}
LINES = """
    SELECT l.order_id, l.line_no, l.line_ref, l.action, l.asset_id, l.location, l.product_id, l.resolved_price_list,
           l.price_list_from_header, l.price_override, l.quantity, o.account_id, s.seq AS order_seq, s.external_id
    FROM service_lines l JOIN orders o USING (order_id) JOIN service_orders s USING (order_id)
    JOIN (SELECT unnest(?::VARCHAR[]) AS order_id, unnest(?::INTEGER[]) AS line_no) k USING (order_id, line_no)"""


def work_queue(sim) -> WorkQueue:
    """The run's fulfilment queue, loaded from the record the first time a poll asks for it."""
    return sim.store.working("fulfilment", lambda store: WorkQueue(store.con, sim.start))


class WorkQueue:
    """Open fulfilment jobs (one row each, `SCHEMA`) and the workers' free times, in seconds."""

    def __init__(self, con, start) -> None:
        self.start_sql = f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'"
        self.detached = False
        # The poll's look at the orders (revisions pending, next due), read again only when it may have
        # changed (fulfil._state): ((the versions, the wake-up it was read at), revisions, next due).
        self.orders_changed = 0
        self.orders_look: tuple = ((None, None), 0, None)
        self.load(con)

    def job_columns_sql(self, alias: str) -> str:
        """SQL: the columns of `fulfilment_jobs`, in its order, from a frame of `SCHEMA` named `alias`."""
        def column(name: str) -> str:
            return f"{self.start_sql} + to_seconds({alias}.{TIMES[name]}) AS {name}" if name in TIMES \
                else f"{alias}.{name}"
        return ", ".join(column(c) for c in JOB_COLUMNS)

    def load(self, con) -> None:
        """The open jobs and the workers as the record holds them."""
        seconds = {c: f"(epoch({c}) - epoch({self.start_sql}))::BIGINT AS {s}" for c, s in TIMES.items()}
        columns = ", ".join(seconds.get(c, c) for c in JOB_COLUMNS)
        self.open = con.sql(f"SELECT {columns} FROM fulfilment_jobs WHERE status IN {OPEN} ORDER BY job_no"
                            ).pl().cast(SCHEMA)
        workers = con.execute(f"SELECT worker, (epoch(busy_until) - epoch({self.start_sql}))::BIGINT "
                              "FROM fulfilment_workers ORDER BY worker").fetchall()
        self.workers = np.array([w for w, _ in workers], dtype=np.int64)
        self.busy_s = np.array([b for _, b in workers], dtype=np.int64)
        self.changed: set[int] = set()  # job numbers whose row the record does not hold yet
        self.left = pl.DataFrame(schema=SCHEMA)  # jobs that left memory since the last write
        self.busy_changed = False
        self.detached = False
        self.lines: dict[tuple[str, int], tuple] = {}  # (order_id, line_no) → the row of LINE_SCHEMA

    # The working-state protocol (Store.working).
    def mark(self) -> None:
        self._mark = (self.open, set(self.changed), self.left, self.busy_s.copy(), self.busy_changed,
                      self.orders_changed)

    def restore(self) -> None:
        (self.open, self.changed, self.left, self.busy_s, self.busy_changed, self.orders_changed) = self._mark
        self.changed = set(self.changed)
        self.lines = {}  # read again from the record as it is after the rollback

    def write(self, con) -> None:
        """Bring the record up to date: the changed jobs' rows replaced, the workers' free times set."""
        rows = pl.concat([self.open.filter(pl.col("job_no").is_in(sorted(self.changed))), self.left])
        if rows.height:
            con.register("_wq_rows", rows.to_arrow())
            con.execute("DELETE FROM fulfilment_jobs WHERE job_no IN (SELECT job_no FROM _wq_rows)")
            con.execute(f"INSERT INTO fulfilment_jobs SELECT {self.job_columns_sql('r')} FROM _wq_rows r "
                        "ORDER BY job_no")
            con.unregister("_wq_rows")
        if self.busy_changed:
            con.execute(f"""UPDATE fulfilment_workers SET busy_until = {self.start_sql} + to_seconds(b.busy_s)
                            FROM (SELECT unnest(?::BIGINT[]) AS worker, unnest(?::BIGINT[]) AS busy_s) b
                            WHERE fulfilment_workers.worker = b.worker""",
                        [self.workers.tolist(), self.busy_s.tolist()])
        self.changed, self.left, self.busy_changed = set(), pl.DataFrame(schema=SCHEMA), False

    # What the polls ask and do.
    def look(self, now_s: int) -> tuple[int, int | None, int | None, int | None]:
        """Jobs queued and released before `now_s`, the second the first running job ends, the second
        the first worker is free, the first second a poll can start a job released later (a revised
        order's, held until its fulfilment resumes)."""
        status = self.open["status"]
        running = self.open.filter(status == "Running")["ended_s"]
        queued = self.open.filter(status == "Queued")["release_s"]
        later = queued.filter(queued >= now_s)
        return (queued.len() - later.len(), running.min() if running.len() else None,
                int(self.busy_s.min()) if len(self.busy_s) else None, later.min() + 1 if later.len() else None)

    def add(self, jobs: pl.DataFrame) -> None:
        """Queue new jobs (columns of `SCHEMA` but status and the times of a start)."""
        jobs = jobs.with_columns(status=pl.lit("Queued"), worker=pl.lit(None), started_s=pl.lit(None),
                                 ended_s=pl.lit(None), interrupted_s=pl.lit(None)).select(list(SCHEMA)).cast(SCHEMA)
        self.open = pl.concat([self.open, jobs])
        self.changed.update(jobs["job_no"].to_list())

    def queued_before(self, now_s: int) -> pl.DataFrame:
        """Queued jobs released before `now_s`, by job number."""
        return self.open.filter((pl.col("status") == "Queued") & (pl.col("release_s") < now_s)).sort("job_no")

    def start(self, started: pl.DataFrame, busy_s: np.ndarray) -> None:
        """Jobs start (`started`: job_no, start_s, end_s, worker); the workers are busy until `busy_s`."""
        self.open = (self.open.join(started, on="job_no", how="left", maintain_order="left")
                     .with_columns(status=pl.when(pl.col("start_s").is_not_null()).then(pl.lit("Running"))
                                   .otherwise("status"),
                                   worker=pl.coalesce(pl.col("worker_right").cast(pl.Int32), "worker"),
                                   started_s=pl.coalesce("start_s", "started_s"),
                                   ended_s=pl.coalesce("end_s", "ended_s"))
                     .select(list(SCHEMA)))
        self.changed.update(started["job_no"].to_list())
        self.busy_s, self.busy_changed = np.asarray(busy_s, dtype=np.int64), True

    def ended_by(self, now_s: int) -> pl.DataFrame:
        """Running jobs that ended at or before `now_s`."""
        return self.open.filter((pl.col("status") == "Running") & (pl.col("ended_s") <= now_s))

    def finish(self, job_nos: pl.Series) -> None:
        """Jobs done: they leave memory (and the record has them Done at the next write)."""
        done = self.open["job_no"].is_in(job_nos.implode())
        self.left = pl.concat([self.left, self.open.filter(done).with_columns(status=pl.lit("Done"))])
        self.open = self.open.filter(~done)
        self.changed.difference_update(job_nos.to_list())

    def orders_with_open_jobs(self) -> list[str]:
        return self.open["order_id"].unique().sort().to_list()

    # The lines of the open jobs: what completion needs of each, held from the line's release. A line is
    # read from the record when it is not held (after a resume, a revision or a rollback, which empty
    # the held lines: a revision changes lines with SQL over the record) and forgotten once complete.
    def hold_lines(self, lines: pl.DataFrame) -> None:
        """Lines released now (the columns of `LINE_SCHEMA`)."""
        for row in lines.select(list(LINE_SCHEMA)).iter_rows():
            self.lines[row[0], row[1]] = row

    def lines_of(self, con, jobs: pl.DataFrame) -> pl.DataFrame:
        """The lines of `jobs` (order_id, line_no), in the jobs' order."""
        keys = list(zip(jobs["order_id"].to_list(), jobs["line_no"].to_list(), strict=True))
        missing = sorted({key for key in keys if key not in self.lines})
        if missing:
            for row in con.execute(LINES, [[o for o, _ in missing], [n for _, n in missing]]).fetchall():
                self.lines[row[0], row[1]] = tuple(row)
        return pl.DataFrame([self.lines[key] for key in keys], schema=LINE_SCHEMA, orient="row")

    def forget_lines(self, lines: pl.DataFrame) -> None:
        for key in zip(lines["order_id"].to_list(), lines["line_no"].to_list(), strict=True):
            self.lines.pop(key, None)
