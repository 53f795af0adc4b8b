"""Fulfilment jobs on limited workers: non-preemptive priorities, exact windows, queueing theory."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cmpsim.fulfilment.scheduling import erlang_c, mean_waits_cobham, schedule_window

LOW, MEDIUM, HIGH, URGENT = 3, 5, 7, 9
FOREVER_S = 2**62


def starts_by_job(schedule, n_jobs: int) -> np.ndarray:
    """Start time of every job (-1 if it did not start), indexed like the input arrays."""
    start = np.full(n_jobs, -1, dtype=np.int64)
    start[schedule.job_index] = schedule.start_s
    return start


def test_one_worker_serves_higher_priority_first_fifo_within_and_never_preempts():
    #          A    B    C       D    U
    release = [0, 10, 20, 30, 40]
    priority = [LOW, LOW, HIGH, LOW, URGENT]
    duration = [100, 50, 30, 20, 10]
    s = schedule_window(release, priority, np.arange(5), duration, [0], 0, 1000)
    # A starts alone at 0 and runs to 100 although Urgent U arrives at 40; then U, C (High),
    # and the two Low jobs in arrival order: B before D.
    assert s.job_index.tolist() == [0, 4, 2, 1, 3]
    assert s.start_s.tolist() == [0, 100, 110, 140, 190]
    assert s.end_s.tolist() == [100, 110, 140, 190, 210]
    assert s.busy_until_s.tolist() == [210]


def test_jobs_of_equal_priority_and_release_go_in_seq_order():
    s = schedule_window([0, 0, 0], [MEDIUM] * 3, [7, 2, 5], [10, 10, 10], [0], 0, 1000)
    assert s.job_index.tolist() == [1, 2, 0]


def test_three_workers_one_busy_until_50():
    #           a       b       c       d    e
    release = [0, 0, 0, 0, 15]
    priority = [MEDIUM, MEDIUM, URGENT, LOW, HIGH]
    duration = [40, 10, 30, 10, 20]
    busy = [50, 0, 0]
    s = schedule_window(release, priority, np.arange(5), duration, busy, 0, 1000)
    # At 0 workers 1 and 2 are free: 1 takes Urgent c, 2 takes a (Medium, before b by seq).
    # e (High) arrives at 15 and takes worker 1 at 30; b gets worker 2 at 40; at 50 all three
    # are free and worker 0, the lowest index, takes the Low job d.
    assert starts_by_job(s, 5).tolist() == [0, 40, 0, 50, 30]
    assert dict(zip(s.job_index.tolist(), s.worker.tolist(), strict=True)) == {2: 1, 0: 2, 4: 1, 1: 2, 3: 0}
    assert s.busy_until_s.tolist() == [60, 50, 50]
    # A window ending at 50 leaves d queued: a start at t1 belongs to the next window.
    cut = schedule_window(release, priority, np.arange(5), duration, busy, 0, 50)
    assert 3 not in cut.job_index and cut.busy_until_s.tolist() == [50, 50, 50]


def random_jobs(n: int, workers: int, seed: int):
    """Jobs arriving at 95% of the workers' capacity, so that queues form and drain."""
    rng = np.random.default_rng(seed)
    mean_service_s = 1200.0
    release = np.cumsum(rng.exponential(mean_service_s / (0.95 * workers), n)).astype(np.int64)
    priority = rng.choice([LOW, MEDIUM, HIGH, URGENT], size=n)
    duration = rng.exponential(mean_service_s, n).astype(np.int64)
    return release, priority, np.arange(n), duration


def run_in_windows(jobs, workers: int, window_s: int) -> tuple[np.ndarray, np.ndarray]:
    """A daemon waking every window_s: each wake-up sees the jobs still queued and the workers."""
    release, priority, seq, duration = jobs
    start = np.full(len(release), -1, dtype=np.int64)
    worker = np.full(len(release), -1, dtype=np.int64)
    busy = np.zeros(workers, dtype=np.int64)
    t0 = 0
    while (start < 0).any():
        queued = np.flatnonzero((start < 0) & (release < t0 + window_s))
        s = schedule_window(release[queued], priority[queued], seq[queued], duration[queued],
                            busy, t0, t0 + window_s)
        start[queued[s.job_index]] = s.start_s
        worker[queued[s.job_index]] = s.worker
        busy, t0 = s.busy_until_s, t0 + window_s
    return start, worker


@pytest.mark.parametrize("window_s", [60, 900, 3600])
def test_cutting_time_into_windows_changes_no_start_and_no_worker(window_s):
    workers = 3
    jobs = random_jobs(3000, workers, seed=20240611)
    whole = schedule_window(*jobs, np.zeros(workers, dtype=np.int64), 0, FOREVER_S)
    assert len(whole.job_index) == 3000
    start, worker = run_in_windows(jobs, workers, window_s)
    assert np.array_equal(start, starts_by_job(whole, 3000))
    assert np.array_equal(worker[whole.job_index], whole.worker)


# Queueing validation: Poisson arrivals, exponential service, three classes at 80% utilisation.
SHARE_BY_PRIORITY = {URGENT: 0.2, MEDIUM: 0.3, LOW: 0.5}
MEAN_SERVICE_S = 600.0
UTILISATION = 0.8
CUSTOMERS = 2_000_000  # the Low class mean then has a relative standard error of about 1.2%
WARM_UP = 100_000
BATCHES = 20
RELATIVE_ERROR_MAX = 0.06


def simulated_waits(workers: int, seed: int) -> dict[int, tuple[float, float]]:
    """Mean wait in queue per priority and its standard error by batch means, in seconds."""
    rng = np.random.default_rng(seed)
    rate = UTILISATION * workers / MEAN_SERVICE_S
    # Rounding to whole seconds moves means by well under a second against waits of minutes.
    release = np.rint(np.cumsum(rng.exponential(1 / rate, CUSTOMERS))).astype(np.int64)
    priority = rng.choice(list(SHARE_BY_PRIORITY), size=CUSTOMERS,
                          p=list(SHARE_BY_PRIORITY.values()))
    duration = np.rint(rng.exponential(MEAN_SERVICE_S, CUSTOMERS)).astype(np.int64)
    s = schedule_window(release, priority, np.arange(CUSTOMERS), duration,
                        np.zeros(workers, dtype=np.int64), 0, FOREVER_S)
    wait = (starts_by_job(s, CUSTOMERS) - release)[WARM_UP:]
    priority = priority[WARM_UP:]
    result = {}
    for p in SHARE_BY_PRIORITY:
        # Successive waits are strongly correlated; means of long batches are nearly independent.
        batch_means = [wait[b][priority[b] == p].mean()
                       for b in np.array_split(np.arange(len(wait)), BATCHES)]
        result[p] = (float(wait[priority == p].mean()),
                     float(np.std(batch_means, ddof=1) / math.sqrt(BATCHES)))
    return result


@pytest.mark.parametrize("workers", [1, 4])
def test_simulated_waits_per_priority_match_cobham(workers):
    rate = UTILISATION * workers / MEAN_SERVICE_S
    theory = mean_waits_cobham({p: share * rate for p, share in SHARE_BY_PRIORITY.items()},
                               1 / MEAN_SERVICE_S, workers)
    simulated = simulated_waits(workers, seed=4 + workers)
    for p, (mean_s, standard_error_s) in simulated.items():
        error_s = abs(mean_s - theory[p])
        assert error_s < max(4 * standard_error_s, 0.03 * theory[p]), (p, mean_s, theory[p])
        assert error_s / theory[p] < RELATIVE_ERROR_MAX, (p, mean_s, theory[p])
    assert simulated[URGENT][0] < simulated[MEDIUM][0] < simulated[LOW][0]


def test_cobham_with_one_worker_is_the_mm1_priority_formula():
    rates, mu = {URGENT: 0.1, MEDIUM: 0.2, LOW: 0.3}, 1.0
    sigma = [0.0, 0.1, 0.3, 0.6]
    waits = mean_waits_cobham(rates, mu, 1)
    expected = [(0.6 / mu**2) / ((1 - sigma[k]) * (1 - sigma[k + 1])) for k in range(3)]
    assert [waits[p] for p in (URGENT, MEDIUM, LOW)] == pytest.approx(expected, rel=1e-12)


def erlang_c_by_sums(c: int, a: float) -> float:
    """Erlang C straight from its textbook definition, as an independent oracle."""
    tail = a**c / math.factorial(c) / (1 - a / c)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)


@pytest.mark.parametrize("workers, load", [(1, 0.5), (2, 1.6), (4, 3.2), (10, 7.0)])
def test_cobham_with_one_class_is_the_plain_mmc_wait(workers, load):
    mu = 1 / 600
    waits = mean_waits_cobham({MEDIUM: load * mu}, mu, workers)
    assert waits[MEDIUM] == pytest.approx(
        erlang_c_by_sums(workers, load) / (workers * mu - load * mu), rel=1e-12)


def test_mm2_wait_has_its_closed_form():
    rho, mu = 0.7, 2.0
    waits = mean_waits_cobham({LOW: 2 * rho * mu}, mu, 2)
    assert waits[LOW] == pytest.approx(rho**2 / (mu * (1 - rho**2)), rel=1e-12)


def test_priorities_redistribute_waiting_without_changing_its_average():
    # Work conservation: with one common service rate the rate-weighted mean of the class waits
    # equals the FIFO wait of the same M/M/c queue.
    rates, mu, workers = {URGENT: 0.3, HIGH: 0.5, LOW: 1.2}, 0.5, 5
    waits = mean_waits_cobham(rates, mu, workers)
    average = sum(rates[p] * waits[p] for p in rates) / sum(rates.values())
    fifo = mean_waits_cobham({LOW: sum(rates.values())}, mu, workers)[LOW]
    assert average == pytest.approx(fifo, rel=1e-12)


def test_erlang_c_stays_finite_for_large_pools():
    assert 0 < erlang_c(2000, 1900.0) < 1
    assert erlang_c(1, 0.8) == pytest.approx(0.8)


def test_an_unstable_queue_has_no_mean_wait():
    with pytest.raises(ValueError):
        mean_waits_cobham({LOW: 1.0}, 0.5, 2)
