"""The simulation engine: one SimPy clock, the schedule of jobs and daemons, nothing else.

A `Step` declares a job or daemon of the platform (or an outside party the run simulates): its
name, what wakes it, and one set-based function over the database. The engine wakes each step
when due, runs the function, records a `job_runs` row when it did work, and raises the signals that
wake the steps waiting for that work. The wake-ups commit together in flush windows (every simulated
midnight, before each probe, at the end; docs/engine.md), and a stopped run resumes from the last
flush. A wake-up that did work takes simulated time by the scenario's cost model (start-up plus time
per record, optionally random): its `job_runs` row ends then, a daemon's next poll comes after it
(polls due meanwhile are skipped: it never overlaps itself), a chained job starts when the one before
ended, a job waits for one of its class's batch slots, and work signalled meanwhile wakes it again
once it is done. Its effects are stamped with the moment it started (the records it selected then).

A `Chain` is a scheduled process of several jobs that must run strictly in sequence (the daily
billing run): each job starts only when the one before completed, and a job that fails stops the
chain for that wake-up. A failure is a `JobFailure` raised by the step (an injected fault, or a
check of its own: `Step.may_fail`): what it wrote is rolled back (a step that fails before writing
has nothing to roll back) and the failure is recorded in `job_runs` and `events`; a job that
crashes half-way keeps what it committed at its checkpoint (`Simulation.checkpoint`). Any other
exception is a defect of cmpsim and stops the run.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import simpy

from cmpsim import faults, randomness
from cmpsim.errors import InputError
from cmpsim.scenario import Scenario
from cmpsim.store import Store

DAY_S = 86_400
HOUR_S = 3_600


@dataclass(frozen=True)
class Every:
    """Wake every `interval_s` seconds, first at `offset_s` (a polling daemon)."""

    interval_s: int
    offset_s: int = 0


@dataclass(frozen=True)
class DailyAt:
    """Wake at fixed seconds of every day (a scheduled job)."""

    times_s: tuple[int, ...]


@dataclass(frozen=True)
class OnWork:
    """Wake as soon as another step raises `signal` (a job triggered by arriving work)."""

    signal: str


@dataclass(frozen=True)
class OnEvents:
    """Run within the wake-up of any step whose work logged an event of one of `activities`: a trigger
    that step invokes (the Comms Trigger). It runs at that wake-up's moment, once the step's work is
    done, on the log as the work left it, and commits with it; it takes no time of its own, and its
    signals are raised when the work that invoked it is over (the step's wake-up, or its chain's run)."""

    activities: tuple[str, ...]


Trigger = Every | DailyAt | OnWork | OnEvents


class JobFailure(Exception):
    """A job that fails as the platform's jobs can (a crash, a lost connection): the wake-up is
    rolled back and recorded as Failed, and the run goes on."""


@dataclass(frozen=True)
class Step:
    """A job, daemon or simulated outside party, declared once."""

    name: str
    component: str  # "job" | "daemon" | "user" | "external"
    trigger: Trigger
    run: Callable[[Simulation], int]  # returns how many records it processed
    emits: tuple[str, ...] = ()  # signals raised after a wake-up that processed something
    # A cheap read-only look (a folder listing, one indexed query) that says whether a wake-up
    # has anything to do; an idle poll then costs no transaction at all.
    due: Callable[[Simulation], bool] | None = None
    # When `due` depends only on what steps wrote (files, rows), a poll after an idle one is idle
    # too until some step commits work: the engine then skips the look. Never for an inbox, where
    # parties outside the run may drop files: its look is a folder listing made at every poll, so a
    # file dropped by hand is seen at the next poll (and a resumed run sees it at the same one). When
    # it also depends on the clock, `wake_at` gives the earliest second (since the start) it may turn true with nothing
    # written in between, or None for never. A step whose work is all in that moment (its first item due) declares
    # `wake_at` alone: it is due when the moment has come, and one look answers both questions.
    due_on_state_only: bool = False
    wake_at: Callable[[Simulation], int | None] | None = None
    # What a wake-up that did work may have changed (a process's tables and files: "orders",
    # "service", "billing", "ledger", "comms", "probes"; None: anything), and what the due look reads:
    # an idle look stays idle until one of the domains it reads changes.
    writes: tuple[str, ...] | None = None
    due_reads: tuple[str, ...] | None = None
    # How a step may fail of itself (JobFailure), not only by an injected fault: "before writing" — it
    # checks all it needs before it writes anything, so a failure has nothing to roll back and its
    # wake-ups run in the flush window like any other; "anywhere" — its wake-ups that have work run in
    # a transaction of their own, so that a failure rolls back that wake-up alone (two commits each).
    may_fail: Literal["before writing", "anywhere"] | None = None
    # What a step reads of what a flush window holds until its commit: "events" (the event log, read
    # in the window: the events recorded so far are written into it first) or "committed" (the record
    # as committed, read on a connection of its own, as a probe's query is: the window is flushed
    # first). The engine does it before the wake-up, and for "committed" before the due look too; a due
    # look that reads the log asks `Store.has_events_since`, which counts the events held in memory,
    # so that an idle look writes nothing.
    reads_pending: Literal["events", "committed"] | None = None


@dataclass(frozen=True)
class Chain:
    """Jobs run one after another at each wake-up; a failed job stops the rest of that wake-up.

    Every job of a chain leaves a `job_runs` row, idle or not, so that a day's run reads whole."""

    name: str
    trigger: Trigger
    jobs: tuple[Step, ...]


def waking_names(items: list[Step | Chain]) -> list[str]:
    """The jobs and daemons that wake up of themselves (not a trigger another's work invokes): the
    names a cost model or a fault may give."""
    return sorted({s.name for item in items for s in (item.jobs if isinstance(item, Chain) else (item,))
                   if not isinstance(s.trigger, OnEvents)})


def in_domain(items: list[Step | Chain], *writes: str) -> list[Step | Chain]:
    """The steps of a process, declared to write its domains; a due look reads the first of them
    unless the step says what it reads."""
    def declared(step: Step) -> Step:
        return replace(step, writes=step.writes or writes, due_reads=step.due_reads or writes[:1])
    return [replace(i, jobs=tuple(declared(j) for j in i.jobs)) if isinstance(i, Chain) else declared(i)
            for i in items]


@dataclass
class Simulation:
    """The clock, the database and the run folder that every step works on."""

    scenario: Scenario
    store: Store
    run_dir: Path
    key: bytes = field(repr=False)
    steps: list[Step | Chain] = field(default_factory=list)
    day_hooks: list[Callable[[Simulation, int], None]] = field(default_factory=list)
    hour_hooks: list[Callable[[Simulation, float], None]] = field(default_factory=list)  # (sim, days done)

    def __post_init__(self) -> None:
        self.env = simpy.Environment()
        self._waiting: dict[str, list[simpy.Event]] = {}
        self._raised: Counter[str] = Counter()  # signals raised so far, by name (for a busy job's missed work)
        self._costs = self.scenario["cost_model"]
        self._check_cost_model()
        self._took_s = 0  # simulated seconds the last wake-up took (its cost)
        self._signals_after: tuple[str, ...] = ()  # what it signals once that time is over
        # The triggers a wake-up's work may invoke (OnEvents), and what those it invoked signal once the
        # invoking work is over: the wake-up's time, or its chain's run.
        self._triggers = [s for s in self.steps if isinstance(s, Step) and isinstance(s.trigger, OnEvents)]
        self._invoked_after: tuple[str, ...] = ()
        self._slots_free = {"job": int(self._costs["slots"]["job"])}
        self._slot_queue: dict[str, list[simpy.Event]] = {"job": []}
        self.start = self.scenario.start
        self.current_job = ""
        # Versions of what steps wrote, per domain ("*": every domain): bumped by each wake-up that
        # committed work, so that an idle look stays idle while what it reads is unchanged.
        self.versions: dict[str, int] = {"*": 0}
        self._idle: dict[str, tuple[tuple[int, ...], int | None]] = {}
        self.check_idle = os.environ.get("CMPSIM_CHECK_IDLE") == "1"
        # Every wake-up of every step is numbered in the order SimPy runs them; the ones that did
        # work (or failed) are journaled in `wakeups`, in their own transaction. A resumed run replays
        # the schedule up to the last journaled wake-up from the journal, without running any step,
        # and runs for real from there (see `resume_from`).
        self.wake_no = 0
        self.replay_until = 0
        self._journal: dict[int, int | None] = {}
        self._invoked_journal: dict[int, set[str]] = {}  # the triggers each journaled wake-up invoked
        # Wall seconds spent in each step, for benchmarks and profiling: kept in memory only, since
        # wall time differs from run to run and must never reach the database or the files.
        self.wall_s: Counter[str] = Counter()

    @property
    def con(self):
        return self.store.con

    @property
    def now_s(self) -> int:
        return int(self.env.now)

    @property
    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.now_s)

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def second_of(self, moment: dt.datetime | None) -> int | None:
        """Seconds since the start of the run at `moment` (rounded up), or None."""
        return None if moment is None else -int((self.start - moment).total_seconds() // 1)

    def rng(self, stream: str) -> np.random.Generator:
        """The random stream `stream` for this very moment of the run (see randomness.stream)."""
        return randomness.stream(self.scenario.seed, stream, self.now_s)

    def signal(self, name: str) -> None:
        """Wake every step waiting for `name`; signals raised while it is pending coalesce (and a step
        busy with earlier work when one is raised wakes again once it is done)."""
        self._raised[name] += 1
        for event in self._waiting.pop(name, []):
            event.succeed()

    def run(self, days: int) -> None:
        """Replay `days` simulated days from the start (or from where the clock stands).

        The wake-ups commit in flush windows (Store.open_window): at every simulated midnight, before
        every probe and at the end. A run stopped in between keeps its last flush, for `resume`."""
        for step in self.steps:
            if step not in self._triggers:  # a trigger runs within the wake-ups that invoke it
                self.env.process(self._stopping_at_once(self._lifecycle(step)))
        self.env.process(self._stopping_at_once(self._day_ticker()))
        self.store.open_window()
        try:
            self.env.run(until=days * DAY_S)
            self.store.flush(reopen=False)
        except BaseException:
            self.store.abort_window()
            raise

    def execute(self, step: Step, record_idle: bool = False) -> int | None:
        """One wake-up of a step: atomic, recorded when it did work (or always, in a chain).

        Returns how many records it processed, or None when it failed (see JobFailure)."""
        began = time.perf_counter()
        try:
            return self._execute(step, record_idle)
        finally:
            self.wall_s[step.name] += time.perf_counter() - began

    def _execute(self, step: Step, record_idle: bool) -> int | None:
        self.wake_no += 1
        self.store.journal.wake_no = self.wake_no
        if self.wake_no <= self.replay_until:
            return self._replay(step, record_idle)
        if step.reads_pending == "committed" and self.store.window:
            self.store.flush()  # the look and the wake-up read the committed record on a connection of their own
        if (step.due is not None or step.wake_at is not None) and self._idle_now(step):
            return 0
        if step.reads_pending == "events":
            self.store.write_events()  # the wake-up reads the log (its look counts what is held: has_events_since)
        if self.store.window and (step.may_fail == "anywhere" or self._fault_today(step)):
            self.store.flush(reopen=False)  # so that a failure rolls back this wake-up alone
            try:
                return self._wake_up(step, record_idle)
            finally:
                self.store.open_window()
        return self._wake_up(step, record_idle)

    def _fault_today(self, step: Step) -> bool:
        return bool(faults.remaining(self, "fail_job", job=step.name) or faults.remaining(self, "crash_job",
                                                                                          job=step.name))

    def _wake_up(self, step: Step, record_idle: bool) -> int | None:
        """The wake-up itself: in the flush window, or in a transaction of its own outside one."""
        started = self.now
        self.current_job = step.name
        try:
            with self.store.transaction():
                processed = int(step.run(self))
                self._injected_failure(step)
                if processed or record_idle:
                    self._took_s = self.cost_s(step, processed)
                    self._record_run(step, started, processed, "Completed", None)
                    self._journal_wakeup(step, processed)
                invoked = self._invoke(step) if processed else ()
        except JobFailure as failure:
            if self.store.window and step.may_fail != "before writing":
                # what it wrote in the window cannot be rolled back alone: a defect of its declaration
                raise RuntimeError(f"{step.name} failed in a flush window, so it must be declared "
                                   f"may_fail: {failure}") from failure
            self._changed(step)
            self._took_s = self.cost_s(step, None)
            with self.store.transaction():
                self._record_run(step, started, 0, "Failed", str(failure))
                self._journal_wakeup(step, None)
                for kind in ("fail_job", "crash_job"):
                    for fault_no, _ in faults.remaining(self, kind, job=step.name)[:1]:
                        faults.record(self, fault_no, "job", step.name, str(failure))
            return None
        return self._done(step, processed, record_idle, invoked)

    def _invoke(self, step: Step) -> tuple[Step, ...]:
        """Run the triggers the wake-up's work invoked (OnEvents: it logged one of their activities),
        within the wake-up and at its moment; returns those that did work, each journaled under the
        wake-up's number so that a resumed run raises their signals as this one does."""
        if not self._triggers:
            return ()
        logged = self.store.number_events()
        return tuple(t for t in self._triggers if t is not step and logged.intersection(t.trigger.activities)
                     and self._run_trigger(t, step))

    def _run_trigger(self, trigger: Step, step: Step) -> bool:
        """One trigger invoked by `step`'s work: True when it did work."""
        if trigger.reads_pending == "events":
            self.store.write_events()
        began, self.current_job = time.perf_counter(), trigger.name
        try:
            processed = int(trigger.run(self))
        finally:
            self.current_job, spent = step.name, time.perf_counter() - began
            self.wall_s[trigger.name] += spent  # its own, not the invoking step's
            self.wall_s[step.name] -= spent
        if processed:
            self._journal_wakeup(trigger, processed)
            self._changed(trigger)
        return bool(processed)

    def _done(self, step: Step, processed: int, record_idle: bool, invoked: tuple[Step, ...] = ()) -> int:
        if processed or record_idle:
            self._changed(step)
        if processed:
            if self._took_s:  # the work is done when the wake-up's time is over: the signals wait for it
                self._signals_after += step.emits
            else:
                for name in step.emits:
                    self.signal(name)
            self._invoked_after += tuple(name for trigger in invoked for name in trigger.emits)
        return processed

    def _journal_wakeup(self, step: Step, processed: int | None) -> None:
        self.store.append("wakeups", (self.wake_no, self.now_s, step.name, processed))

    def _replay(self, step: Step, record_idle: bool) -> int | None:
        """A wake-up the interrupted run already made: its journaled outcome, nothing run again (an
        unjournaled one found nothing to do). The schedule then unfolds exactly as it did."""
        if self.wake_no not in self._journal:
            return self._done(step, 0, record_idle)
        processed = self._journal[self.wake_no]
        self._took_s = self.cost_s(step, processed)  # as the wake-up took: its schedule unfolds the same
        if processed is None:
            self._changed(step)
            return None
        invoked = tuple(t for t in self._triggers if t.name in self._invoked_journal.get(self.wake_no, ()))
        for trigger in invoked:
            self._changed(trigger)
        return self._done(step, processed, record_idle, invoked)

    def resume_from(self) -> int:
        """Prepare to continue an interrupted run from its database: returns the wake-ups to replay."""
        rows = self.con.execute("SELECT wake_no, step, processed FROM wakeups").fetchall()
        triggers = {t.name for t in self._triggers}
        self._journal = {wake_no: processed for wake_no, step, processed in rows if step not in triggers}
        for wake_no, step, _ in rows:
            if step in triggers:
                self._invoked_journal.setdefault(wake_no, set()).add(step)
        self.replay_until = max(self._journal, default=0)
        return self.replay_until

    def _changed(self, step: Step) -> None:
        """A wake-up committed work: bump its domains ("?" for a step that may change anything, which
        every look reads) and "*" (what a look without declared reads goes by)."""
        for domain in ("*",) + (step.writes if step.writes is not None else ("?",)):
            self.versions[domain] = self.versions.get(domain, 0) + 1

    def _read_versions(self, step: Step) -> tuple[int, ...]:
        if step.due_reads is None:
            return (self.versions["*"],)
        return tuple(self.versions.get(d, 0) for d in step.due_reads) + (self.versions.get("?", 0),)

    def _idle_now(self, step: Step) -> bool:
        """True when the step's due look says (or would say) there is nothing to do."""
        known = self._idle.get(step.name)
        seen = self._read_versions(step)
        if known is not None and known[0] == seen and (known[1] is None or self.now_s < known[1]):
            assert not self.check_idle or not self._has_work(step)[0], f"{step.name}: skipped a poll that had work"
            return True
        has_work, moment = self._has_work(step)
        if has_work:
            return False
        if step.due_on_state_only or step.wake_at is not None:
            self._idle[step.name] = (seen, moment)
        return True

    def _has_work(self, step: Step) -> tuple[bool, int | None]:
        """Whether the step has work now, and (when it has none) the first second it may have some: from
        `due` and `wake_at`, or from `wake_at` alone, asked once."""
        if step.due is None:
            moment = step.wake_at(self)
            return moment is not None and moment <= self.now_s, moment
        if step.due(self):
            return True, None
        return False, step.wake_at(self) if step.wake_at is not None else None

    def checkpoint(self) -> None:
        """A point in a step between two parts of its work (Invoice Posting: after the S/L, before the
        G/L). Normally nothing happens; under a scenario fault `crash_job` the work so far is committed
        and the job crashes here, leaving the rest undone, as a real job killed half-way would."""
        if faults.remaining(self, "crash_job", job=self.current_job):
            self.store.commit_so_far()
            raise JobFailure(f"{self.current_job} crashed half-way (injected fault): its work up to its "
                             "checkpoint was kept, the rest was not done")

    def _injected_failure(self, step: Step) -> None:
        """A scenario fault `fail_job` makes the job crash after its work, which is then rolled back;
        `crash_job` on a job without a checkpoint of its own crashes it after all its work is kept."""
        if faults.remaining(self, "fail_job", job=step.name):
            raise JobFailure(f"{step.name} crashed (injected fault): its work was rolled back")
        self.checkpoint()

    def _record_run(self, step: Step, started: dt.datetime, processed: int, status: str, detail: str | None) -> None:
        run_no = self.store.allocate("job_run", 1) + 1
        ended = started + dt.timedelta(seconds=self._took_s)
        self.store.append("job_runs", (run_no, step.name, step.component, started, ended, processed, status,
                                       detail))
        if status == "Failed":
            self.store.record_events_at(self.now, "job", [step.name], "Job Failed", step.name, [detail])

    # Steps take time (the scenario's cost model).
    def cost_s(self, step: Step, processed: int | None) -> int:
        """Simulated seconds a wake-up of `step` that handled `processed` records takes (None: it
        failed, after its start-up): start-up + per record, plus its random part, drawn from a stream
        of its own at this moment (so a resumed run draws the same)."""
        spec = self._costs["steps"].get(step.name) or self._costs["defaults"].get(step.component)
        if not spec:
            return 0
        seconds = float(spec.get("startup_seconds", 0)) + float(spec.get("per_record_seconds", 0)) * (processed or 0)
        if spec.get("random_seconds"):
            seconds += float(randomness.draw(spec["random_seconds"], self.rng(f"cost.{step.name}"), 1)[0])
        return max(0, round(seconds))

    def _check_cost_model(self) -> None:
        names = waking_names(self.steps)
        for name in self._costs["steps"]:
            if name not in names:
                raise InputError(self.scenario.source, f"cost_model.steps.{name}",
                                 f"a job or daemon of the run ({', '.join(names)})", repr(name))

    def _wake(self, item: Step | Chain, seen: dict[str, int] | None = None) -> Iterator[simpy.Event]:
        """Wake a step (or a chain's jobs one after another), each taking the time its work costs; a
        job first takes a batch slot of its class, waiting for one when all are taken. `seen` gets the
        count of the step's signal as its wake-up ended (what it signalled itself is spent). What the
        triggers its work invoked signal is raised when that work is over: the step's, or the chain's."""
        chain = isinstance(item, Chain)
        invoked: tuple[str, ...] = ()
        for job in item.jobs if chain else (item,):
            slot = job.component if job.component in self._slots_free else None
            if slot is not None:
                if self._slots_free[slot] == 0:  # all taken: wait for one, handed over in turn (no
                    freed = self.env.event()     # yield at all when one is free, so that a run without
                    self._slot_queue[slot].append(freed)  # waits unfolds as it always did)
                    yield freed
                else:
                    self._slots_free[slot] -= 1
            self._took_s = 0
            processed = self.execute(job, record_idle=chain)
            if seen is not None:
                seen.update((name, self._raised[name]) for name in seen)
            invoked, self._invoked_after = invoked + self._invoked_after, ()
            if self._took_s:
                signals, self._signals_after = self._signals_after, ()
                yield self.env.timeout(self._took_s)
                for name in signals:
                    self.signal(name)
            if slot is not None:
                if self._slot_queue[slot]:
                    self._slot_queue[slot].pop(0).succeed()  # the slot goes to the first job waiting
                else:
                    self._slots_free[slot] += 1
            if processed is None and chain:
                break  # a failed job stops the chain for this wake-up
        for name in invoked:
            self.signal(name)

    def _lifecycle(self, step: Step | Chain) -> Iterator[simpy.Event]:
        env, trigger = self.env, step.trigger
        if isinstance(trigger, Every):
            yield env.timeout(trigger.offset_s)
            while True:
                woke = env.now
                yield from self._wake(step)
                # the next poll due after this one's work (a daemon never overlaps itself)
                polls = max(1, -(-int(env.now - woke) // trigger.interval_s))
                yield env.timeout(woke + polls * trigger.interval_s - env.now)
        elif isinstance(trigger, DailyAt):
            day = int(env.now // DAY_S)
            while True:
                for moment in sorted(trigger.times_s):
                    at = day * DAY_S + moment
                    if at >= env.now:
                        yield env.timeout(at - env.now)
                        yield from self._wake(step)
                day += 1
        else:
            seen = {trigger.signal: self._raised[trigger.signal]}
            while True:
                if self._raised[trigger.signal] == seen[trigger.signal]:  # nothing came while it worked
                    event = env.event()
                    self._waiting.setdefault(trigger.signal, []).append(event)
                    yield event
                yield from self._wake(step, seen)  # work signalled while it worked wakes it again at once


    def _stopping_at_once(self, process: Iterator[simpy.Event]) -> Iterator[simpy.Event]:
        """A step's schedule whose exception (Ctrl-C landing in a wake-up, a stop request, a defect)
        stops the run before anything else happens. SimPy on its own only fails the process and raises
        when it gets to that event, after the other steps due in the same second have run (and a probe
        among them may have flushed the window): a resumed run then replayed a different schedule."""
        try:
            yield from process
        except BaseException as exc:
            halt = self.env.event()
            halt.callbacks.append(partial(_raise, exc))
            halt._ok, halt._value = True, None
            self.env.schedule(halt, priority=simpy.core.URGENT)  # before any other event of this second
            raise

    def _day_ticker(self) -> Iterator[simpy.Event]:
        """Call the hour hooks at each simulated hour (when there are any) and the day hooks at each
        midnight, before any step due at that same moment. Between two wake-ups everything is
        committed, so a hook may stop the run (cmpsim.errors.StopRequested) and leave it resumable."""
        every = HOUR_S if self.hour_hooks else DAY_S
        tick = int(self.env.now // every)
        while True:
            tick += 1
            moment = self.env.event()
            moment._ok, moment._value = True, None
            self.env.schedule(moment, priority=simpy.core.URGENT, delay=tick * every - self.env.now)
            yield moment
            midnight = tick * every % DAY_S == 0
            if midnight and self.store.window:
                self.store.flush()
            try:
                for hook in self.hour_hooks:
                    hook(self, tick * every / DAY_S)
            except BaseException:
                if self.store.window:
                    self.store.flush()  # a hook that stops the run stops it between two wake-ups
                raise
            if midnight:
                for hook in self.day_hooks:
                    hook(self, tick * every // DAY_S)


def _raise(exc: BaseException, _event: simpy.Event) -> None:
    raise exc
