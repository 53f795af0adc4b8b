"""Whatever a partner leaves in an inbox, the Load daemon handles it and the run goes on.

A directory named like a generic file, a link (dangling, to a file outside the run, to /dev/zero), a
named pipe, a sparse file of a gigabyte, a file of another name, a file of another kind: each is set
aside unread with its reason (registered Quarantined, so `cmpsim summary` reports it), nothing outside
the run folder is read or changed, and the next file still loads. A partner's upload in progress
(`*.part`) is left alone, by the load and by resume. The entries that used to hang a run or exhaust
its memory are loaded under a wall-clock bound (a child process with its memory capped, or an alarm).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cmpsim.files import encrypt
from conftest import SMALL, TESTS

KEY = bytes(range(32))
DISPATCH = "order-dispatch"
VALID = "order-dispatch__WH-NORTH__valid.json.enc"
LOAD_S_MAX = 20  # a load of a few entries takes well under a second: more is a hang
GIB = 1 << 30


def dispatch_document() -> dict:
    return {"fileType": "order-dispatch", "warehouseId": "WH-NORTH", "dispatchRunAt": "2026-01-05T17:00:00",
            "sourceFile": "x.csv", "lines": [{"requestLineId": "RL-000000001", "orderId": "HW-00000001",
                                              "productId": "PHN-X200", "quantity": 1, "status": "dispatched",
                                              "dispatchedAt": "2026-01-05T17:00:00", "serialNumbers": ["SN1"]}]}


def deliver(run_dir: Path, name: str, kind: str = DISPATCH) -> bytes:
    """A valid dispatch file (encrypted as a dispatch file) delivered into the inbox of `kind`."""
    inbox = run_dir / "files" / "in" / kind
    inbox.mkdir(parents=True, exist_ok=True)
    blob = encrypt(KEY, DISPATCH, name, json.dumps(dispatch_document()).encode())
    (inbox / name).write_bytes(blob)
    return blob


def loader(run_dir: Path):
    """A bare run folder with the hardware and billing tables and the Load daemons of two kinds, nothing
    else running. Returns the simulation and `wake(kind)`: one wake-up of the kind's daemon as the engine
    makes it, giving (entries handled, whether the daemon would wake again, what a second wake-up handles)."""
    from cmpsim import billing, orders
    from cmpsim.billing.payments import load_payments_step
    from cmpsim.engine import Every, Simulation, Step
    from cmpsim.files import inbox_has_files
    from cmpsim.orders.dispatch import load_sales_orders_step
    from cmpsim.scenario import load
    from cmpsim.store import Store

    store = Store(run_dir / "cmpsim.duckdb")
    orders.create_tables(store)
    billing.create_tables(store)
    sim = Simulation(scenario=load(SMALL), store=store, run_dir=run_dir, key=KEY)
    loads = {DISPATCH: load_sales_orders_step, "bank-statement": load_payments_step}

    def wake(kind: str) -> list:
        step = Step(f"Load {kind}", "daemon", Every(3600), loads[kind], due=lambda s: inbox_has_files(s, kind))
        return [sim.execute(step), inbox_has_files(sim, kind), sim.execute(step)]
    return sim, wake


@contextlib.contextmanager
def alarm(seconds: int):
    """A load that blocks (a read of a named pipe with no writer) fails the test instead of hanging it."""
    def expired(signum, frame):
        raise TimeoutError(f"the load did not finish in {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def load_here(run_dir: Path, *kinds: str) -> list[list]:
    sim, wake = loader(run_dir)
    try:
        with alarm(LOAD_S_MAX):
            return [wake(kind) for kind in kinds]
    finally:
        sim.store.close()


def load_in_child(run_dir: Path, headroom: int = GIB // 2) -> list[list]:
    """The dispatch load in a child process allowed `headroom` bytes of memory more than it holds when the
    load begins, and LOAD_S_MAX seconds: reading a gigabyte (or /dev/zero) fails it, a hang is killed."""
    code = "import sys; sys.path.insert(0, 'tests'); from test_inbox_entries import child; child()"
    done = subprocess.run([sys.executable, "-c", code, str(run_dir), str(headroom)], capture_output=True, text=True,
                          cwd=TESTS.parent, timeout=LOAD_S_MAX + 120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["seconds"] < LOAD_S_MAX
    return result["loads"]


def child() -> None:
    """The body of `load_in_child`."""
    import resource

    import polars as pl

    sim, wake = loader(Path(sys.argv[1]))
    pl.DataFrame({"x": [1, 2]}).sum()  # the thread pools started before the memory is capped
    sim.con.execute("SELECT 1").fetchall()
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size_kb * 1024 + int(sys.argv[2]), resource.RLIM_INFINITY))
    began = time.monotonic()
    loads = [wake(DISPATCH)]
    print(json.dumps({"loads": loads, "seconds": time.monotonic() - began}))
    sim.store.close()


@pytest.fixture
def run_dir(tmp_path):
    """A run folder beside a folder of files outside it (which nothing may read or change)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the run folder\n")
    folder = tmp_path / "run"
    (folder / "files" / "in" / DISPATCH).mkdir(parents=True)
    before = snapshot(tmp_path, skip=folder)
    yield folder
    assert snapshot(tmp_path, skip=folder) == before, "something outside the run folder changed"


def snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under `root` but `skip`: its type, size, time of change and content (no link followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        info = path.lstat()
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else None
        out[str(path.relative_to(root))] = (info.st_mode, info.st_size, info.st_mtime_ns, content)
    return out


def registered(run_dir: Path, name: str, kind: str = DISPATCH) -> dict:
    """The generic_files row of `name` in the inbox of `kind`, which must be registered once."""
    con = duckdb.connect(str(run_dir / "cmpsim.duckdb"), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM generic_files WHERE name = ? AND kind = ?", [name, kind])
        rows, columns = cursor.fetchall(), [c[0] for c in cursor.description]
    finally:
        con.close()
    assert len(rows) == 1, f"{name}: registered {len(rows)} times"
    return dict(zip(columns, rows[0], strict=True))


def assert_set_aside(run_dir: Path, name: str, reason: str, description: dict, kept: bool, loads: list) -> Path:
    """The entry `name` of the dispatch inbox is Quarantined with `reason`, registered as its description
    (a regular file with its reason note beside it), kept unread beside that (`kept`) or gone; the valid
    file delivered with it loaded, and the daemon has nothing left to do. Returns where the entry is kept."""
    assert loads == [[2, False, 0]], "the entry and the valid file handled in one wake-up, nothing left after"
    row = registered(run_dir, name)
    assert (row["status"], row["reason"], row["kind"], row["direction"]) == ("Quarantined", reason, DISPATCH, "in")
    quarantine = run_dir / "files" / "quarantine" / DISPATCH
    described = quarantine / f"{name}.entry.json"
    assert row["path"] == str(described.relative_to(run_dir))
    assert described.is_file() and not described.is_symlink()
    assert json.loads(described.read_bytes()) == description
    assert hashlib.sha256(described.read_bytes()).hexdigest() == row["sha256"]
    note = json.loads((quarantine / f"{name}.entry.json.reason.json").read_text())
    assert note == {"file_id": row["file_id"], "status": "Quarantined", "reason": reason}
    kept_at = quarantine / f"{name}.entry"
    assert os.path.lexists(kept_at) == kept
    assert not os.path.lexists(run_dir / "files" / "in" / DISPATCH / name), "the entry stayed in the inbox"
    assert registered(run_dir, VALID)["status"] == "Loaded"
    assert (run_dir / "files" / "archive" / DISPATCH / VALID).is_file()
    leftovers = [p for p in run_dir.rglob("*") if p.is_symlink() or (p.exists() and not (p.is_file() or p.is_dir()))]
    assert leftovers == [], "a link or a special file stayed in the run folder"
    return kept_at


def test_a_directory_named_like_a_generic_file_is_kept_whole_and_unread(run_dir):
    entry = run_dir / "files" / "in" / DISPATCH / "x.json.enc"
    (entry / "inside").mkdir(parents=True)
    (entry / "inside" / "a.json.enc").write_bytes(b"a partner's bytes")
    deliver(run_dir, VALID)
    kept = assert_set_aside(run_dir, "x.json.enc", "not a generic file: a directory (kept unread)",
                            {"entry": "directory"}, True, load_here(run_dir, DISPATCH))
    assert (kept / "inside" / "a.json.enc").read_bytes() == b"a partner's bytes"


def test_a_dangling_link_is_replaced_by_its_description(run_dir):
    os.symlink("/nonexistent/cmpsim/x.json.enc", run_dir / "files" / "in" / DISPATCH / "gone.json.enc")
    deliver(run_dir, VALID)
    assert_set_aside(run_dir, "gone.json.enc", "not a generic file: a symbolic link to "
                     "'/nonexistent/cmpsim/x.json.enc' (removed; what it points to not read)",
                     {"entry": "symbolic link", "target": "/nonexistent/cmpsim/x.json.enc"}, False,
                     load_here(run_dir, DISPATCH))


def test_a_link_to_a_file_outside_the_run_is_neither_followed_nor_copied(run_dir):
    secret = run_dir.parent / "outside" / "secret.txt"
    os.symlink(secret, run_dir / "files" / "in" / DISPATCH / "leak.json.enc")
    deliver(run_dir, VALID)
    assert_set_aside(run_dir, "leak.json.enc", f"not a generic file: a symbolic link to '{secret}' "
                     "(removed; what it points to not read)", {"entry": "symbolic link", "target": str(secret)},
                     False, load_here(run_dir, DISPATCH))
    assert secret.read_text() == "not for the run folder\n"  # and the fixture checks it was not touched
    assert not any(b"not for the run folder" in p.read_bytes() for p in run_dir.rglob("*") if p.is_file())


def test_a_link_to_dev_zero_is_never_read(run_dir):
    os.symlink("/dev/zero", run_dir / "files" / "in" / DISPATCH / "zero.json.enc")
    deliver(run_dir, VALID)
    assert_set_aside(run_dir, "zero.json.enc", "not a generic file: a symbolic link to '/dev/zero' "
                     "(removed; what it points to not read)", {"entry": "symbolic link", "target": "/dev/zero"},
                     False, load_in_child(run_dir))


def test_a_named_pipe_is_removed_unopened_and_does_not_hang_the_run(run_dir):
    os.mkfifo(run_dir / "files" / "in" / DISPATCH / "pipe.json.enc")
    deliver(run_dir, VALID)
    assert_set_aside(run_dir, "pipe.json.enc", "not a generic file: a named pipe (removed, never opened)",
                     {"entry": "named pipe"}, False, load_here(run_dir, DISPATCH))


def test_a_sparse_file_of_a_gigabyte_is_kept_without_being_read(run_dir):
    with open(run_dir / "files" / "in" / DISPATCH / "huge.json.enc", "wb") as huge:
        huge.truncate(GIB)  # a gigabyte that takes no disk: reading it whole would take a gigabyte of memory
    deliver(run_dir, VALID)
    loads = load_in_child(run_dir)
    from cmpsim.files import INBOX_BYTES_MAX

    kept = assert_set_aside(run_dir, "huge.json.enc",
                            f"not a generic file: {GIB} bytes, over the limit of {INBOX_BYTES_MAX} (kept unread)",
                            {"entry": "regular file", "bytes": GIB}, True, loads)
    assert kept.is_file() and kept.stat().st_size == GIB


def test_a_file_of_another_name_is_reported_and_kept(run_dir):
    (run_dir / "files" / "in" / DISPATCH / "notes.txt").write_text("call the warehouse\n")
    deliver(run_dir, VALID)
    kept = assert_set_aside(run_dir, "notes.txt", "not a generic file name: it does not end in .json.enc "
                            "(kept unread)", {"entry": "regular file", "bytes": 19}, True,
                            load_here(run_dir, DISPATCH))
    assert kept.read_text() == "call the warehouse\n"


def test_a_partners_upload_in_progress_is_left_alone(run_dir):
    inbox = run_dir / "files" / "in" / DISPATCH
    (inbox / "upload.json.enc.part").write_bytes(b"half an upl")
    assert load_here(run_dir, DISPATCH) == [[0, False, 0]]  # it does not even wake the daemon
    deliver(run_dir, VALID)
    assert load_here(run_dir, DISPATCH) == [[1, False, 0]]
    assert (inbox / "upload.json.enc.part").read_bytes() == b"half an upl"
    from cmpsim.files import remove_own_temporaries, write_atomic

    # cmpsim's own temporaries are named so that resume removes them and only them.
    (inbox / ".order-dispatch__WH-NORTH__x.json.enc.cmpsim-tmp").write_bytes(b"cmpsim's own, left by a crash")
    write_atomic(run_dir / "summary.json", b"{}")
    assert sorted(p.name for p in run_dir.iterdir()) == ["cmpsim.duckdb", "files", "summary.json"]
    assert remove_own_temporaries(run_dir) == [inbox / ".order-dispatch__WH-NORTH__x.json.enc.cmpsim-tmp"]
    assert sorted(p.name for p in inbox.iterdir()) == ["upload.json.enc.part"]


def test_a_dispatch_file_in_the_bank_statement_inbox_is_of_the_wrong_kind_not_a_duplicate(run_dir):
    blob = deliver(run_dir, VALID)
    resent = "order-dispatch__WH-NORTH__valid.resent.json.enc"  # as the duplicate fault names it
    (run_dir / "files" / "in" / DISPATCH / resent).write_bytes(blob)
    misplaced = run_dir / "files" / "in" / "bank-statement" / VALID
    misplaced.parent.mkdir(parents=True)
    misplaced.write_bytes(blob)
    assert load_here(run_dir, DISPATCH, "bank-statement") == [[2, False, 0], [1, False, 0]]
    loaded = registered(run_dir, VALID)
    con = duckdb.connect(str(run_dir / "cmpsim.duckdb"), read_only=True)
    rows = con.execute("SELECT kind, name, status, reason, path FROM generic_files ORDER BY file_id").fetchall()
    con.close()
    assert rows == [
        (DISPATCH, VALID, "Loaded", None, f"files/archive/{DISPATCH}/{VALID}"),
        (DISPATCH, resent, "Duplicate", f"same content as {loaded['file_id']}, already loaded",
         f"files/quarantine/{DISPATCH}/{resent}"),
        ("bank-statement", VALID, "Quarantined",
         f"not a bank-statement file: its content was loaded as order-dispatch {loaded['file_id']}",
         f"files/quarantine/bank-statement/{VALID}")]
    assert (run_dir / rows[2][4]).read_bytes() == blob
    assert json.loads((run_dir / (rows[2][4] + ".reason.json")).read_text())["reason"] == rows[2][3]


def test_names_that_are_not_utf8_or_too_long_to_keep_beside_a_note_are_handled(run_dir):
    inbox = run_dir / "files" / "in" / DISPATCH
    blob = deliver(run_dir, VALID)
    (inbox / VALID).rename(os.fsdecode(bytes(inbox / "bad") + b"\xff.json.enc"))  # a name of bytes
    long = "L" * 246 + ".json.enc"  # the longest name a file system takes: no room for ".reason.json"
    (inbox / long).write_bytes(b"not encrypted")
    assert load_here(run_dir, DISPATCH) == [[2, False, 0]]
    loaded, rejected = registered(run_dir, "bad\\xff.json.enc"), registered(run_dir, long)
    assert (loaded["status"], loaded["path"]) == ("Loaded", f"files/archive/{DISPATCH}/bad\\xff.json.enc")
    assert (run_dir / loaded["path"]).read_bytes() == blob
    assert rejected["status"] == "Quarantined"
    assert rejected["path"] == f"files/quarantine/{DISPATCH}/{rejected['file_id']}.json.enc"  # named by its id
    assert (run_dir / (rejected["path"] + ".reason.json")).is_file()


# The crash scenario cut to three days (its faults within them): the entries meet the bank's statement
# of 6 January, loaded at 05:04 on the 7th.
CRASH_DAYS = {"horizon_days": 3, "faults": [{"kind": "tamper", "file_kind": "order-dispatch", "date": "2026-01-07"}]}

# Resume: a run that meets these entries, killed just after the commit that set them aside (a link
# moved but not yet replaced by its description, the entries after it not moved), resumed, ends with
# the same database and files as a run never interrupted; the partner's upload in progress stays.
CRASH_RUN = """
import json, os, shutil, sys
from pathlib import Path

import cmpsim
import cmpsim.store
from cmpsim.scenario import load

out, outside, kill = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "kill"


def drop(day, days):
    if day != 2:  # the midnight of 7 January, before the bank's statement of the 6th arrives
        return
    inbox = out / "files" / "in" / "bank-statement"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "dir.json.enc").mkdir()
    (inbox / "dir.json.enc" / "a.txt").write_text("inside")
    os.symlink("/nonexistent/cmpsim", inbox / "dangling.json.enc")
    os.symlink(outside, inbox / "link.json.enc")
    os.mkfifo(inbox / "pipe.json.enc")
    (inbox / "notes.txt").write_text("notes")
    (inbox / "upload.json.enc.part").write_text("half")
    dispatch = min((out / "files" / "archive" / "order-dispatch").iterdir())
    shutil.copyfile(dispatch, inbox / dispatch.name)


if kill:
    describe = cmpsim.store.describe_entry

    def killed(path):  # the first link or pipe moved into quarantine, before it is described there
        if "quarantine" in Path(path).parts:
            os._exit(9)
        return describe(path)
    cmpsim.store.describe_entry = killed
cmpsim.run(load(sys.argv[4], overrides=json.loads(sys.argv[5])), out=out, progress=drop).close()
"""


def test_a_run_killed_after_setting_entries_aside_resumes_to_the_same_tables_and_files(tmp_path):
    from test_resume import SCENARIO, fingerprint

    from cmpsim.check import check
    from cmpsim.runs import open_run, resume
    from cmpsim.scenario import load

    outside = tmp_path / "outside.txt"
    outside.write_text("outside\n")
    runs = {}
    for mode in ("reference", "kill"):
        runs[mode] = tmp_path / mode
        done = subprocess.run([sys.executable, "-c", CRASH_RUN, str(runs[mode]), str(outside), mode, str(SCENARIO),
                               json.dumps(CRASH_DAYS)], capture_output=True, text=True, cwd=TESTS.parent, timeout=600)
        assert done.returncode == (0 if mode == "reference" else 9), done.stderr[-3000:]
    inbox = runs["kill"] / "files" / "in" / "bank-statement"
    assert (inbox / "pipe.json.enc").exists() and not os.path.lexists(inbox / "dangling.json.enc")
    resume(runs["kill"], scenario=load(SCENARIO, overrides=CRASH_DAYS)).close()
    expected, got = fingerprint(runs["reference"]), fingerprint(runs["kill"])
    assert sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k)) == []
    assert sorted(p.name for p in inbox.iterdir()) == ["upload.json.enc.part"]
    assert (inbox / "upload.json.enc.part").read_text() == "half"
    with open_run(runs["kill"]) as run:
        statuses = run.sql("SELECT status FROM generic_files WHERE kind = 'bank-statement' AND "
                           "name NOT LIKE 'bank-statement%'")["status"].to_list()
        assert statuses == ["Quarantined"] * 6
        report = check(run.con, run_dir=run.run_dir)  # every set-aside entry registered at its path, with its note
        assert report.ok, report.failures.rows()
    assert outside.read_text() == "outside\n"
