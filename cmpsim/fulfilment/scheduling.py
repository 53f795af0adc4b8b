"""Non-preemptive priority scheduling of fulfilment jobs on a pool of parallel workers.

One queue, `c` identical workers. When a worker is free at time f it takes, among the jobs released
at or before f and not yet started, the one with the highest priority (0-9, higher first), then the
earliest release, then the smallest seq; if none is released it waits for the next release. A
started job runs to its end: a later urgent job never pre-empts it. Workers free at the same time
(including every idle worker when a job is released) take jobs in worker-index order.

A daemon calls `schedule_window` at each wake-up with every job released before the window's end
(releases lie in the past, so all are known): the window is then exact, and cutting time into
windows of any length gives the same starts, ends and workers as one continuous queue.

`mean_waits_cobham` is the oracle the simulated queue is checked against (M/M/c, classes with one
common exponential service rate).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

PRIORITY_MIN, PRIORITY_MAX = 0, 9  # OSM/JMS priorities: Low 3, Medium 5, High 7, Urgent 9


@dataclass(frozen=True)
class Schedule:
    """The jobs that start in a window [t0, t1), in the order they start.

    `job_index` points into the arrays given to `schedule_window`; jobs absent from it stay queued.
    `busy_until_s` has one entry per worker: the end of its last job, or its free time as given if
    it took nothing (a time before the next window's t0 just means idle).
    """

    job_index: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    worker: np.ndarray
    busy_until_s: np.ndarray


def schedule_window(release_s: np.ndarray, priority: np.ndarray, seq: np.ndarray,
                    duration_s: np.ndarray, busy_until_s: np.ndarray,
                    t0_s: int, t1_s: int) -> Schedule:
    """Start queued jobs on free workers during [t0_s, t1_s); starts at or after t1_s are not made.

    Inputs describe the queued, not-yet-started jobs (one entry each, int64 seconds) and the free
    time of every worker (a worker idle before t0_s is free at t0_s). For the window to be exact,
    every job released before t1_s must be among them; jobs released later are simply ignored.
    """
    release_s, priority, seq, duration_s, busy_until_s = _checked_inputs(
        release_s, priority, seq, duration_s, busy_until_s, t0_s, t1_s)
    # The heap loop reads Python lists in release order: numpy scalar access per job is slow.
    by_release = np.lexsort((seq, release_s))
    positions, start_s, worker = _run_queue(
        release=release_s[by_release].tolist(), rank=(-priority[by_release]).tolist(),
        seq=seq[by_release].tolist(), duration=duration_s[by_release].tolist(),
        busy_until=busy_until_s.tolist(), t0=int(t0_s), t1=int(t1_s))
    job_index = by_release[np.asarray(positions, dtype=np.int64)]
    start = np.asarray(start_s, dtype=np.int64)
    end = start + duration_s[job_index]
    workers = np.asarray(worker, dtype=np.int64)
    busy_after = busy_until_s.copy()
    np.maximum.at(busy_after, workers, end)
    schedule = Schedule(job_index, start, end, workers, busy_after)
    _check_schedule(schedule, release_s, busy_until_s, t0_s, t1_s)
    return schedule


def _run_queue(release: list[int], rank: list[int], seq: list[int], duration: list[int],
               busy_until: list[int], t0: int, t1: int) -> tuple[list[int], list[int], list[int]]:
    """The event loop: jobs (lists sorted by release) against a heap of (free time, worker).

    Returns the positions (in release order) of started jobs, their starts and their workers.
    Time only moves forward: every worker pushed back is free at or after the one just popped.
    """
    free = [(max(b, t0), w) for w, b in enumerate(busy_until)]
    heapq.heapify(free)
    ready: list[tuple[int, int, int, int]] = []  # (-priority, release, seq, position): best first
    n, released = len(release), 0
    positions: list[int] = []
    starts: list[int] = []
    workers: list[int] = []
    heappush, heappop, heapreplace = heapq.heappush, heapq.heappop, heapq.heapreplace
    while True:
        f, w = free[0]
        if f >= t1:
            break  # the earliest free worker is already past the window
        while released < n and release[released] <= f:
            heappush(ready, (rank[released], release[released], seq[released], released))
            released += 1
        if ready:
            k = heappop(ready)[3]
            heapreplace(free, (f + duration[k], w))
            positions.append(k)
            starts.append(f)
            workers.append(w)
        elif released < n and release[released] < t1:
            # Idle until the next release; re-queued so that idle workers tie on worker index.
            heapreplace(free, (release[released], w))
        else:
            break  # nothing more is released in this window
    return positions, starts, workers


def _checked_inputs(release_s, priority, seq, duration_s, busy_until_s, t0_s, t1_s):
    """The inputs as 1-D int64 arrays, after refusing what the queue cannot mean."""
    arrays = [np.asarray(a, dtype=np.int64) for a in (release_s, priority, seq, duration_s,
                                                      busy_until_s)]
    release_s, priority, seq, duration_s, busy_until_s = arrays
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("scheduling inputs must be 1-D arrays")
    if not len(release_s) == len(priority) == len(seq) == len(duration_s):
        raise ValueError("release_s, priority, seq and duration_s must have one entry per job")
    if len(busy_until_s) == 0:
        raise ValueError("busy_until_s needs one entry per worker, and at least one worker")
    if not t0_s < t1_s:
        raise ValueError(f"empty window [{t0_s}, {t1_s})")
    if len(priority) and (priority.min() < PRIORITY_MIN or priority.max() > PRIORITY_MAX):
        raise ValueError(f"priorities must lie in {PRIORITY_MIN}..{PRIORITY_MAX}")
    if len(duration_s) and duration_s.min() < 0:
        raise ValueError("durations must not be negative")
    return release_s, priority, seq, duration_s, busy_until_s


def _check_schedule(schedule: Schedule, release_s: np.ndarray, busy_until_s: np.ndarray,
                    t0_s: int, t1_s: int) -> None:
    """Invariants of every window: what must never happen, whatever the inputs."""
    s = schedule
    if len(s.job_index) == 0:
        return
    assert len(np.unique(s.job_index)) == len(s.job_index), "a job started twice"
    assert np.all((s.start_s >= t0_s) & (s.start_s < t1_s)), "a start outside the window"
    assert np.all(s.start_s >= release_s[s.job_index]), "a job started before its release"
    # Per worker, in start order, each job starts once the previous one (or the input) has ended.
    order = np.lexsort((s.start_s, s.worker))
    w, start, end = s.worker[order], s.start_s[order], s.end_s[order]
    previous_end = np.where(np.r_[True, w[1:] != w[:-1]], busy_until_s[w], np.r_[0, end[:-1]])
    assert np.all(start >= previous_end), "a worker took two jobs at once"


def mean_waits_cobham(arrival_rate_by_priority: Mapping[int, float], service_rate: float,
                      workers: int) -> dict[int, float]:
    """Mean wait in queue per priority class of an M/M/c queue with non-preemptive priorities.

    Cobham (1954), for c servers and one exponential service rate mu common to all classes
    (Gross & Harris, Fundamentals of Queueing Theory, sec. 3.4; Kleinrock, Queueing Systems
    vol. 2, sec. 3.6). Classes ordered from the highest priority, k = 1, 2, ...:

        W_k = W0 / ((1 - s_{k-1}) (1 - s_k)),   s_k = sum_{i <= k} lambda_i / (c mu),  s_0 = 0,
        W0  = C(c, a) / (c mu),                 a = lambda / mu,

    with C(c, a) the Erlang C probability of waiting. For c = 1, W0 = lambda / mu^2; for one
    class, W = C(c, a) / (c mu - lambda), the plain M/M/c wait. Rates and waits in the same time
    unit (per second -> seconds). The queue must be stable: lambda < c mu.
    """
    total_rate = sum(arrival_rate_by_priority.values())
    capacity = workers * service_rate
    if not 0 < total_rate < capacity:
        raise ValueError(f"unstable or empty queue: lambda={total_rate}, c*mu={capacity}")
    w0 = erlang_c(workers, total_rate / service_rate) / capacity
    waits: dict[int, float] = {}
    sigma_before = 0.0
    for p in sorted(arrival_rate_by_priority, reverse=True):
        sigma = sigma_before + arrival_rate_by_priority[p] / capacity
        waits[p] = w0 / ((1 - sigma_before) * (1 - sigma))
        sigma_before = sigma
    return waits


def erlang_c(workers: int, offered_load: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda/mu < c.

    Erlang B by its recurrence B(n) = a B(n-1) / (n + a B(n-1)), B(0) = 1, then
    C = B / (1 - (a/c)(1 - B)): no factorials or powers, so no overflow for large c.
    """
    if not 0 <= offered_load < workers:
        raise ValueError(f"offered load {offered_load} must lie in [0, {workers})")
    blocking = 1.0
    for n in range(1, workers + 1):
        blocking = offered_load * blocking / (n + offered_load * blocking)
    return blocking / (1 - offered_load / workers * (1 - blocking))
