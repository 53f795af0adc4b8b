"""A run: a scenario replayed into a run folder, and the object users explore it through.

run = cmpsim.run("scenarios/baseline.yaml", seed=7, out="runs/try")
run.table("orders")             # a polars DataFrame
run.sql("SELECT status, count(*) FROM orders GROUP BY ALL")
run.con                         # the DuckDB connection itself
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from cmpsim import billing, comms, fulfilment, ledger, orders, probes, reference
from cmpsim.check import check_day
from cmpsim.engine import DAY_S, Chain, Simulation, Step, waking_names
from cmpsim.errors import InputError, RunInterrupted, RunStopped, StopRequested, first_line
from cmpsim.files import encode_document, is_own_temporary, remove_own_temporaries, write_atomic
from cmpsim.paths import RUN_LAYOUT
from cmpsim.scenario import Scenario, load, stored
from cmpsim.store import Store
from cmpsim.summary import summarise

DB_NAME = "cmpsim.duckdb"
MARKER = "run.json"  # written when a run finishes
RUN_MARK = ".cmpsim-run"  # written first into every run folder: what makes a folder cmpsim's to replace
LOCK_NAME = ".cmpsim-lock"

# (days done, days in all): called at the start, at every simulated hour (a fraction of a day) and at
# each midnight. It may raise cmpsim.errors.StopRequested to stop the run there, resumable.
Progress = Callable[[float, int], None]


@dataclass
class Run:
    """A finished (or opened) run: its folder, its scenario and its database."""

    run_dir: Path
    scenario: Scenario | None
    store: Store
    wall_s: dict[str, float] = field(default_factory=dict)  # wall seconds per step of this replay, not stored
    lock: FolderLock | None = None  # an opened run's shared lock on its folder: no run replaces it meanwhile

    @property
    def con(self):
        return self.store.con

    def table(self, name: str) -> pl.DataFrame:
        """A whole table (or view) of the run database as a polars DataFrame."""
        known = self.store.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
        if not known:
            raise InputError(str(self.run_dir / DB_NAME), name, "a table of the run database", "no such table")
        return self.store.frame(f'SELECT * FROM "{name}"')

    def sql(self, query: str, params: list | None = None) -> pl.DataFrame:
        return self.store.frame(query, params)

    def summary(self) -> dict[str, Any]:
        return summarise(self.con)

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_out(scenario: Scenario) -> Path:
    return Path("runs") / f"{scenario.name}-seed{scenario.seed}"


def run(
    scenario: str | Path | Scenario,
    *,
    seed: int | None = None,
    out: str | Path | None = None,
    days: int | None = None,
    progress: Progress | None = None,
    check: bool = False,
) -> Run:
    """Replay a scenario into a fresh run folder and return the run, its database still open.

    With `check`, every invariant (cmpsim.check) is checked at each simulated midnight and at the end;
    the first day that breaks one stops the run with `InvariantsBroken`, which holds the rows."""
    scenario = prepare(scenario, seed=seed, days=days)
    run_dir = Path(out) if out is not None else default_out(scenario)
    _check_replaceable(run_dir, scenario)
    if progress is None:
        progress = _notebook_progress(scenario, run_dir)
    lock = FolderLock.take(run_dir)
    try:
        return _run_into(run_dir, scenario, progress, check)
    finally:
        lock.release()


def _notebook_progress(scenario: Scenario, run_dir: Path) -> Progress | None:
    """In a Jupyter kernel, a run shows its progress under the cell (cmpsim.progress); elsewhere none."""
    from cmpsim.progress import NotebookProgress, in_kernel

    if not in_kernel():
        return None

    return NotebookProgress.shown(f"{scenario.name} into {run_dir.name}", scenario.horizon_days)


def _run_into(run_dir: Path, scenario: Scenario, progress: Progress | None, check: bool) -> Run:
    """The run itself, in a folder this process holds the lock of."""
    _check_replaceable(run_dir, scenario)  # again, now that no other process can be writing it
    _clear(run_dir)
    store = Store(run_dir / DB_NAME)
    with _disk_guard(run_dir, store), _stoppable(run_dir, store, lambda: 0.0, scenario.horizon_days, progress):
        _create(store, scenario)
    sim = Simulation(scenario=scenario, store=store, run_dir=run_dir, key=scenario.key(), steps=_steps(scenario))
    if check:
        sim.day_hooks.append(check_day)
    finished = _simulate(sim, progress)
    if check:
        check_day(sim, scenario.horizon_days)  # the last midnight: the clock stops before its hooks
    return finished


def unfinished(run_dir: str | Path) -> bool:
    """True for a run folder whose run began and did not finish (stopped, killed): `resume` continues it."""
    run_dir = Path(run_dir)
    return (run_dir / RUN_MARK).is_file() and (run_dir / DB_NAME).is_file() and not (run_dir / MARKER).is_file()


def resume(run_dir: str | Path, scenario: str | Path | Scenario | None = None,
           progress: Progress | None = None) -> Run:
    """Continue a run that was interrupted (killed, power cut) from what its database committed.

    A finished run is returned as it is. Otherwise the schedule is replayed from the journal of
    wake-ups up to the last one committed, without running any step; the file changes made after the
    last flush are undone (cmpsim.journal), committed file moves that did not happen are made, cmpsim's
    own half-written temporaries (`.<name>.cmpsim-tmp`) removed (a partner's `*.part` upload is left
    alone); then the run goes on for real. It ends with the same database and files as a run that was
    never interrupted. The scenario is the one stored with the run; the file key comes from the
    environment variable it names or, when the scenario file holds the key, from `scenario` (which must
    be the one the run was started with)."""
    run_dir = Path(run_dir)
    if (run_dir / MARKER).is_file():
        return open_run(run_dir)  # it had finished (killed after its last write): nothing to do
    if not (run_dir / RUN_MARK).is_file() and not (run_dir / DB_NAME).is_file():
        if scenario is None or (run_dir.exists() and any(run_dir.iterdir())):
            raise InputError(str(run_dir), "", "a run folder written by cmpsim run (marked .cmpsim-run)",
                             "no such mark and no cmpsim.duckdb")
        return run(scenario, out=run_dir, progress=progress)  # killed before it began: start it
    lock = FolderLock.take(run_dir)
    try:
        return _resume_locked(run_dir, scenario, progress)
    finally:
        lock.release()


def _resume_locked(run_dir: Path, scenario: str | Path | Scenario | None, progress: Progress | None) -> Run:
    if not (run_dir / DB_NAME).is_file():
        if scenario is None:
            raise InputError(str(run_dir), "", "a run folder with cmpsim.duckdb", "no database")
        return _run_into(run_dir, prepare(scenario), progress, False)  # killed before it began: start it
    store = Store(run_dir / DB_NAME)
    stored = store.scalar("SELECT value FROM run_info WHERE key = 'scenario_json'")
    if stored is None:  # interrupted before its first commit: nothing to continue from
        store.close()
        if scenario is None:
            raise InputError(str(run_dir), "run_info.scenario_json", "a run that had begun",
                             "none: it stopped before its first commit; give the scenario to start it again")
        return _run_into(run_dir, prepare(scenario), progress, False)
    try:
        checked = _stored_scenario(run_dir, json.loads(stored), scenario)
        sim = Simulation(scenario=checked, store=store, run_dir=run_dir, key=checked.key(), steps=_steps(checked))
    except BaseException:
        store.close()
        raise
    sim.resume_from()
    store.journal.undo(committed_wake_no=sim.replay_until)  # the files back to the last flush
    store.finish_moves()
    remove_own_temporaries(run_dir)
    return _simulate(sim, progress)


def _stored_scenario(run_dir: Path, data: dict[str, Any], given: str | Path | Scenario | None) -> Scenario:
    if given is None:
        return stored(data, str(run_dir / DB_NAME))
    checked = prepare(given, seed=int(data["seed"]), days=int(data["horizon_days"]))
    if json.dumps(checked.public_dict(), sort_keys=True) != json.dumps(data, sort_keys=True):
        raise InputError(str(checked.source), "", f"the scenario the run in {run_dir} was started with",
                         "a different scenario")
    return checked


def _simulate(sim: Simulation, progress: Progress | None) -> Run:
    scenario, store, run_dir = sim.scenario, sim.store, sim.run_dir
    if progress is None:
        progress = _notebook_progress(scenario, run_dir)
    days = scenario.horizon_days
    with _disk_guard(run_dir, store), _stoppable(run_dir, store, lambda: sim.now_s / DAY_S, days, progress):
        if progress is not None:
            progress(sim.now_s / DAY_S, days)
            sim.hour_hooks.append(lambda _sim, done: progress(done, days))
        sim.run(days)
        if progress is not None:
            progress(float(days), days)
        store.con.execute("CHECKPOINT")
        summary = summarise(store.con)
        write_atomic(run_dir / "summary.json", encode_document(summary))
        write_atomic(
            run_dir / MARKER,
            encode_document(
                {"scenario": scenario.name, "seed": scenario.seed, "days": scenario.horizon_days, "database": DB_NAME}
            ),
        )
    return Run(run_dir, scenario, store, dict(sim.wall_s))


@contextmanager
def _stoppable(run_dir: Path, store: Store, days_done: Callable[[], float], days: int,
               progress: Progress | None = None) -> Iterator[None]:
    """Ctrl-C (the notebook's interrupt) or a progress callback's StopRequested stops the run with
    RunInterrupted: the open flush window is rolled back and the database closed, so that the last
    flush is what `resume` continues from, in this process or another (a progress callback's stop
    comes between two wake-ups, and flushes first). A progress
    display with a `stopped(days done, days)` method is told."""
    try:
        yield
    except (KeyboardInterrupt, StopRequested, RuntimeError, duckdb.Error) as exc:
        if not _is_interrupt(exc):
            raise
        try:
            store.close()
        except duckdb.Error:
            pass
        done = days_done()
        if hasattr(progress, "stopped"):
            progress.stopped(done, days)
        raise RunInterrupted(run_dir, done, days) from None


def _is_interrupt(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C or a stop request, however DuckDB passed it on: in the middle of a
    statement it comes out as InterruptException or RuntimeError("Query interrupted"); while DuckDB
    reads a registered frame (its Arrow stream runs Python) as an InvalidInputException that says
    "KeyboardInterrupt"."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (KeyboardInterrupt, StopRequested, duckdb.InterruptException)):
            return True
        if isinstance(exc, RuntimeError) and str(exc).startswith("Query interrupted"):
            return True
        if isinstance(exc, duckdb.Error) and "KeyboardInterrupt" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def _disk_guard(run_dir: Path, store: Store) -> Iterator[None]:
    """A full disk stops the run with RunStopped (what to do next), not a traceback."""
    try:
        yield
    except (OSError, duckdb.Error) as exc:
        reason = _no_space(exc)
        if reason is None:
            raise
        try:
            store.close()
        except duckdb.Error:
            pass  # a fatal write error leaves the connection unusable; the file keeps what committed
        raise RunStopped(run_dir, reason) from None


def prepare(scenario: str | Path | Scenario, *, seed: int | None = None, days: int | None = None) -> Scenario:
    """The scenario to run, with `--seed` and `--days` applied: every input checked before a run starts.
    The file is judged as written; --days may shorten its horizon (what falls after is not reached) or
    lengthen it as far as the calendar goes (`Scenario.replace`)."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    if seed is not None:
        scenario = scenario.replace(seed=_checked_int("--seed", seed, 0, 2**32 - 1))
    if days is not None:
        scenario = scenario.replace(horizon_days=_checked_int("--days", days, 1, 3660))
    scenario.key()
    _steps(scenario)
    return scenario


def _steps(scenario: Scenario) -> list[Step | Chain]:
    """Every job, daemon and outside party of the run; a fault naming a job that is not there is refused."""
    chosen = set(scenario["processes"])
    steps = [step for name, package in (("hardware", orders), ("service", fulfilment), ("billing", billing),
                                        ("ledger", ledger), ("probes", probes), ("comms", comms))
             if name in chosen for step in package.steps(scenario)]
    names = waking_names(steps)
    for i, fault in enumerate(scenario["faults"]):
        if fault["kind"] == "fail_job" and fault["job"] not in names:
            raise InputError(scenario.source, f"faults[{i}].job", f"one of the jobs {', '.join(names)}",
                             repr(fault["job"]))
    return steps


def open_run(run_dir: str | Path, writable: bool = False) -> Run:
    """Open a finished run folder, read-only unless `writable` (to apply status updates from outside).

    The run holds a shared lock on its folder until it is closed: a run or resume into the folder is
    refused meanwhile (it would delete the files being read), and a folder a run or resume is writing
    now is refused here. Several readers share the folder."""
    run_dir = Path(run_dir)
    lock = FolderLock.share(run_dir)
    store = None
    try:
        if not (run_dir / MARKER).is_file() or not (run_dir / DB_NAME).is_file():
            raise InputError(str(run_dir), "", "a run folder written by cmpsim run", "no run.json and cmpsim.duckdb")
        store = Store(run_dir / DB_NAME, read_only=not writable)
        store.scalar("SELECT count(*) FROM run_info")
    except duckdb.Error as exc:  # truncated, foreign, or written by another DuckDB
        if store is not None:
            store.close()
        if lock is not None:
            lock.release()
        raise InputError(str(run_dir / DB_NAME), "", "the database of a cmpsim run",
                         f"a file DuckDB cannot read as one ({first_line(exc)})") from None
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return Run(run_dir, None, store, lock=lock)


NO_SPACE = ("No space left on device", "File too large", "Disk quota exceeded")


def _no_space(exc: BaseException) -> str | None:
    """The reason, when `exc` is the disk refusing to take more."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"the disk is full ({exc.strerror})"
    text = str(exc)
    found = next((reason for reason in NO_SPACE if reason in text), None)
    return None if found is None else f"the disk is full ({found})"


def _checked_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"argument {name}", "", f"a whole number from {low} to {high}", repr(value))
    return value


def _check_replaceable(run_dir: Path, scenario: Scenario) -> None:
    """A folder a run may be written into: new, empty, or provably an earlier run of cmpsim's.

    Provably: it holds the mark cmpsim writes first into every run folder (`.cmpsim-run`) and nothing
    outside the run layout. A folder with files of the user's in it — even beside a `run.json` or a
    `cmpsim.duckdb` — is refused, and nothing in it is touched. Creates the folder when it is new."""
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise InputError(str(run_dir), "", "a folder for the run", "a file or a symlink")
    run_dir.mkdir(parents=True, exist_ok=True)
    entries = sorted(p.name for p in run_dir.iterdir())
    if entries and not set(entries) <= {LOCK_NAME} and RUN_MARK not in entries:
        raise InputError(str(run_dir), "", "a new or empty folder, or an earlier cmpsim run (marked .cmpsim-run)",
                         f"a folder with other files in it ({_listing(entries)})")
    foreign = [name for name in entries if name not in _layout(scenario) and not _own_temporary(name)]
    if foreign:
        raise InputError(str(run_dir), "", "an earlier cmpsim run with nothing else in it",
                         f"files that are not cmpsim's beside the run ({_listing(foreign)})")


def _clear(run_dir: Path) -> None:
    """Empty a run folder this process holds the lock of, and mark it as cmpsim's."""
    for path in sorted(run_dir.iterdir()):
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    write_atomic(run_dir / RUN_MARK, encode_document({"cmpsim": "run folder"}))


def _layout(scenario: Scenario) -> frozenset[str]:
    return RUN_LAYOUT | {scenario["comms"]["storage"]["folder"]}


def _own_temporary(name: str) -> bool:
    # A file cmpsim was writing at the top of the folder when it stopped (`.part`: older versions).
    return is_own_temporary(name) or name.endswith(".part")


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more"


class FolderLock:
    """An OS lock on a run folder: exclusive while a run or a resume writes into it (`take`), shared
    while a run is open for reading (`share`, `open_run`).

    The lock is `flock` on `.cmpsim-lock` in the folder: the operating system releases it when the
    process ends however it ends (kill -9 included), so a killed run never leaves the folder locked.
    Locks on separate opens conflict within one process too: a notebook that holds a run open cannot
    run into its folder until it closes it."""

    def __init__(self, run_dir: Path, fd: int):
        self.run_dir, self._fd = run_dir, fd

    @classmethod
    def take(cls, run_dir: Path) -> FolderLock:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(str(run_dir), "", "a run folder no other cmpsim run or resume is writing",
                             "one that another cmpsim process is writing or reading now (wait for it, close the "
                             "run it holds open, or use another --out)") from None
        return cls(run_dir, fd)

    @classmethod
    def share(cls, run_dir: Path) -> FolderLock | None:
        """The shared lock of a reader; None where the folder has no lock file and none can be made
        (a run on read-only media, which nothing can be writing either)."""
        path = run_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if not (run_dir / MARKER).is_file():
                return None  # not a finished run: open_run says so
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError:
                return None
        except OSError:
            return None  # not a folder, a lock that is a link, no permission: open_run says what it finds
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(str(run_dir), "", "a finished run folder no cmpsim run or resume is writing",
                             "one that a cmpsim run or resume is writing now (wait for it to finish)") from None
        return cls(run_dir, fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1


def _create(store: Store, scenario: Scenario) -> None:
    with store.transaction():
        orders.create_tables(store)
        fulfilment.create_tables(store)
        billing.create_tables(store)
        ledger.create_tables(store)
        probes.create_tables(store)
        comms.create_tables(store)
        reference.load_reference(store, scenario)
        orders.load_reference(store, scenario)
        fulfilment.load_reference(store, scenario)
        billing.load_reference(store, scenario)
        ledger.load_reference(store, scenario)
        comms.load_reference(store, scenario)
        store.set_info("scenario", scenario.name)
        store.set_info("seed", str(scenario.seed))
        store.set_info("start_date", scenario["start_date"])
        store.set_info("horizon_days", str(scenario.horizon_days))
        store.set_info("scenario_json", json.dumps(scenario.public_dict(), sort_keys=True))
