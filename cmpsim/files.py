"""Generic files: JSON documents exchanged with outside parties, encrypted and registered.

Every file CMP writes or reads is JSON checked against its schema in `schemas/`, encrypted and
authenticated with AES-GCM, written whole (temporary name, then rename) and registered in
`generic_files` with the SHA-256 of its bytes. An inbound file that cannot be authenticated,
parsed or validated is moved to `files/quarantine/` beside a note of the reason; a file whose
bytes were already loaded is recognised by checksum and never applied twice. Whatever else a
partner leaves in an inbox (a folder, a link, a pipe, a file too big or of another name) is set
aside unread, registered with its reason, and the run goes on (`inbox_entries`). Nothing is
deleted but links and special files, each replaced by a file that describes it.

Layout of a run folder:
    files/out/<kind>/<party>/<name>    generic files CMP extracted for a party
    files/in/<kind>/<name>             generic files delivered to CMP, waiting to be loaded
    files/archive/<kind>/<name>        inbound files after loading
    files/quarantine/<kind>/<name>     rejected inbound files, with <name>.reason.json
    files/quarantine/<kind>/<name>.entry.json  an inbox entry that is no generic file, described
                                       (with its .reason.json); the entry itself, when it is a
                                       folder or a file, kept unread beside it as <name>.entry
    files/parties/<party>/received/<name>  generic files handed over to the party (hand_over); a
                                       warehouse and the ledger read them through their adaptors only
    files/parties/<warehouse>/inbox/<stem>.csv  the warehouse's pick requests, written by its adaptor
                                       from the order-request files (<stem>: the name without .json.enc)
    files/parties/<warehouse>/outbox/<name>.csv  the warehouse's own dispatch answers, which its
                                       adaptor delivers to CMP as order-dispatch files
    files/parties/ledger/import/<stem>.csv  the accounting package's journal (G/L) and transaction
                                       (S/L) imports, written by its adaptor from the posting files
    (the outside parties' formats: docs/exchange.md, "The outside parties' own formats")
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cmpsim import faults
from cmpsim.store import OWN_TEMPORARY, describe_entry, entry_type, write_whole
from cmpsim.validation import first_problem

MAGIC = b"CMPG\x01"
NONCE_BYTES = 12
# What cmpsim reads as a generic file at all: its own postings to the ledger grow with a bill run
# (about 550 bytes a journal, 55 MB for 100,000 accounts billed the same day).
FILE_BYTES_MAX = 256 * 1024 * 1024
# What a partner may deliver into an inbox; a bigger entry is set aside without reading it. The
# largest inbound files a run writes are about 170 bytes a record (a bank statement's transaction,
# a dispatch line; a comms status update is 80): 17 MB for 100,000 payments on one statement, the
# largest the benchmarks make. 64 MiB leaves four times that, and bounds the memory of one load
# (the bytes, their plaintext and the parsed document: about 1 GB).
INBOX_BYTES_MAX = 64 * 1024 * 1024
PARTNER_TEMPORARY = ".part"  # a partner's upload still being written: left alone until renamed
KEPT = ".entry"  # an inbox entry that is no generic file, set aside unread in quarantine as it came
DESCRIBED = ".entry.json"  # the description of such an entry, registered in its place
NAME_BYTES_MAX = 255  # the longest name a file system takes


class FileRejected(Exception):
    """An inbound file that cannot be used; the message is the quarantine reason."""


def encrypt(key: bytes, kind: str, name: str, plaintext: bytes) -> bytes:
    """AES-GCM with the file kind as associated data.

    The nonce is derived from (key, kind, name, plaintext) instead of drawn at random, so a run is
    reproducible byte for byte; two different messages never share a nonce, and the same message
    encrypted twice gives the same bytes (which is what a deterministic replay wants).
    """
    nonce = hmac.new(key, b"\0".join([kind.encode(), name.encode(), plaintext]), hashlib.sha256).digest()
    nonce = nonce[:NONCE_BYTES]
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(kind))


def decrypt(key: bytes, kind: str, blob: bytes) -> bytes:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise FileRejected("not a CMP generic file (bad header or truncated)")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], _aad(kind))
    except InvalidTag:
        raise FileRejected("authentication failed: the file was altered or encrypted with another key") from None


def _aad(kind: str) -> bytes:
    return b"cmpsim generic file|" + kind.encode()


def encode_document(document: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, so identical content gives identical bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """An outside party's CSV file of `frame`: UTF-8, a header row, quoted only where CSV needs it."""
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def read_csv_text(data: bytes, columns: list[str]) -> pl.DataFrame:
    """An outside party's CSV file, `columns` in that order, every value text exactly as written (never
    a float on the way: amounts stay their decimal text); a missing column raises."""
    return pl.read_csv(io.BytesIO(data), infer_schema=False).select(pl.col(c).cast(pl.Utf8) for c in columns)


def write_atomic(path: Path, data: bytes) -> None:
    """Write whole or not at all: a crash leaves at most a temporary of cmpsim's own
    (`.<name>.cmpsim-tmp`, see store.temporary_path) that nobody reads and resume removes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, data)


def is_own_temporary(name: str) -> bool:
    """A name cmpsim gives the files it is writing (`write_atomic`), and nobody else should."""
    return name.startswith(".") and name.endswith(OWN_TEMPORARY)


def is_partner_temporary(name: str) -> bool:
    """A partner's upload still being written: by the usual convention (curl, browsers, many SFTP
    and transfer tools) it is named `<name>.part` and renamed when whole. Recognised by its name only,
    never opened, so a `.part` of any kind (a folder, a link) is left alone too."""
    return name.endswith(PARTNER_TEMPORARY)


def remove_own_temporaries(run_dir: Path) -> list[Path]:
    """After a crash: remove the temporaries cmpsim's own writes left in the run folder, and nothing
    else; returns them, in path order. A partner's upload in progress (`*.part`) stays. Never follows
    a link (a link under such a name is not cmpsim's, and stays), never looks inside an inbox entry
    kept in quarantine (`*.entry`), which is a partner's as it came."""
    removed = []
    quarantine = run_dir / "files" / "quarantine"
    for root, dirs, names in os.walk(run_dir):  # os.walk does not descend into links to folders
        if Path(root).parent == quarantine:
            dirs[:] = [d for d in dirs if not d.endswith(KEPT)]
        for name in names:
            path = Path(root, name)
            if is_own_temporary(name) and stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()
                removed.append(path)
    return sorted(removed)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_document(key: bytes, kind: str, schema: str, blob: bytes) -> Any:
    """Authenticate, decrypt, parse and validate an inbound generic file, or raise FileRejected."""
    if len(blob) > FILE_BYTES_MAX:
        raise FileRejected(f"file of {len(blob)} bytes is over the limit of {FILE_BYTES_MAX}")
    text = decrypt(key, kind, blob)
    try:
        document = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FileRejected(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise FileRejected("not JSON: nested too deeply") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise FileRejected(f"not JSON this system reads: {str(exc).splitlines()[0][:120]}") from None
    problem = first_problem(schema, document)
    if problem is not None:
        path, expected, found = problem
        raise FileRejected(f"schema {schema}: {path or '(document)'}: expected {expected}, found {found}")
    return document


def parse_timestamps(values: pl.Series, field: str) -> pl.Series:
    """ISO timestamps of an inbound document, or FileRejected naming the first impossible one.

    The schema checks the shape (`2026-01-31T17:00:00`); this checks the calendar (no 31 June).
    """
    parsed = values.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False)
    bad = (parsed.is_null() & values.is_not_null()).arg_true()
    if bad.len():
        i = int(bad[0])
        raise FileRejected(f"{field.format(i=i)}: expected a real date and time, found {values[i]!r}")
    return parsed


@dataclass(frozen=True)
class OutboundFile:
    """A generic file CMP is about to write for a party."""

    kind: str
    party: str
    name: str
    document: Any
    records: int
    batch_id: str | None = None


def write_outbound(sim, files: list[OutboundFile], schema: str) -> list[str]:
    """Validate, encrypt, write and register outbound files; returns their file ids.

    An outbound document that breaks its schema is a bug in cmpsim, not bad input: it fails loudly.
    """
    if not files:
        return []
    base = sim.store.allocate("generic_file", len(files))
    rows = []
    for i, f in enumerate(files):
        problem = first_problem(schema, f.document)
        assert problem is None, f"cmpsim wrote an invalid {f.kind} file: {problem}"
        blob = encrypt(sim.key, f.kind, f.name, encode_document(f.document))
        path = Path("files", "out", f.kind, f.party, f.name)
        write_atomic(sim.run_dir / path, blob)
        file_id = f"GF-{base + i + 1:08d}"
        rows.append(
            (
                file_id,
                f.kind,
                "out",
                f.party,
                f.name,
                str(path),
                sha256(blob),
                f.records,
                "Extracted",
                None,
                f.batch_id,
                sim.now,
                None,
            )
        )
    _register(sim, rows)
    return [r[0] for r in rows]


def _register(sim, rows: list[tuple]) -> None:
    columns = [
        "file_id",
        "kind",
        "direction",
        "party",
        "name",
        "path",
        "sha256",
        "records",
        "status",
        "reason",
        "batch_id",
        "registered_at",
        "duplicate_of",
    ]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    sim.store.insert("generic_files", frame)
    sim.store.record_events_at(
        [r[11] for r in rows],
        "generic_file",
        [r[0] for r in rows],
        ["File Extracted" if r[2] == "out" else f"File {r[8]}" for r in rows],
        sim.current_job,
        [f"{r[1]} {r[4]}" + ("" if r[9] is None else f": {r[9]}") for r in rows],
    )


def collect_outbound(sim, kind: str, party: str) -> list[tuple[str, Any]]:
    """An outside party collects the files CMP extracted for it, in name order.

    This is the hand-over (see `hand_over`). A party skips what it cannot read (CMP's probes then
    see the orders it never answers)."""
    names = waiting_outbound(sim, kind, party)
    paths = hand_over(sim, kind, party, names, f"collected by {party}")
    if paths:
        sim.con.execute("INSERT INTO party_files_seen SELECT ?, unnest(?), ?", [party, names, sim.now])
    collected = []
    for path in paths:
        try:
            collected.append((path.name, json.loads(decrypt(sim.key, kind, path.read_bytes()))))
        except FileRejected:
            continue
    return collected


def waiting_outbound(sim, kind: str, party: str) -> list[str]:
    """Names of the files extracted for `party` and not handed over yet, in name order."""
    folder = sim.run_dir / "files" / "out" / kind / party
    return sorted(p.name for p in folder.glob("*.json.enc")) if folder.is_dir() else []


def hand_over(sim, kind: str, party: str, names: list[str], detail: str, to: Path | None = None) -> list[Path]:
    """Files extracted for `party` move to `files/parties/<party>/received/` (or `to`, relative to the
    run folder), and CMP's register marks them Transmitted with their new path, so the outbound
    folder holds only what is still to hand over. Returns where the files are until the step commits."""
    if not names:
        return []
    folder = sim.run_dir / "files" / "out" / kind / party
    target = to if to is not None else Path("files", "parties", party, "received")
    moved = sim.con.execute(
        "UPDATE generic_files SET status = 'Transmitted', path = ? || '/' || name "
        "WHERE direction = 'out' AND kind = ? AND name IN (SELECT unnest(?)) RETURNING file_id",
        [str(target), kind, names]).fetchall()
    sim.store.record_events_at(sim.now, "generic_file", [file_id for file_id, in moved], "File Transmitted",
                               sim.current_job, [detail] * len(moved))
    for name in names:
        sim.store.move_file(folder / name, sim.run_dir / target / name)
    # The files move when the step commits (Store.move_file); until then they are read where they are.
    return [folder / name for name in names]


def deliver_inbound(sim, kind: str, party: str, name: str, document: Any) -> None:
    """An outside party (through its adaptor) delivers a generic file into CMP's inbox.

    The scenario's faults act here, on the way in: a file can be lost, tampered with,
    delivered twice, or garbled (valid encryption around content that breaks the schema).
    Each injected fault is recorded in `faults_injected`.
    """
    fault = _due_fault(sim, kind)
    if fault is not None and fault[1] == "garble":
        document = {"garbled": True, "original_records": len(document.get("lines", []))}
    blob = encrypt(sim.key, kind, name, encode_document(document))
    inbox = sim.run_dir / "files" / "in" / kind
    if fault is not None:
        fault_no, fault_kind = fault
        faults.record(sim, fault_no, kind, name, _FAULT_DETAIL[fault_kind])
        if fault_kind == "lose":
            return
        if fault_kind == "tamper":
            blob = blob[:-20] + bytes([blob[-20] ^ 0x01]) + blob[-19:]
        if fault_kind == "duplicate":
            write_atomic(inbox / name.replace(".json.enc", ".resent.json.enc"), blob)
    write_atomic(inbox / name, blob)


_FAULT_DETAIL = {
    "lose": "file never delivered",
    "tamper": "one ciphertext byte flipped in transit",
    "duplicate": "file delivered a second time under another name",
    "garble": "adaptor produced content that breaks the schema",
}


def _due_fault(sim, kind: str) -> tuple[int, str] | None:
    """The first scenario fault on the way in for this file kind and day that still has files to hit."""
    due = [(no, k) for k in _FAULT_DETAIL for no, _ in faults.remaining(sim, k, file_kind=kind)]
    return min(due) if due else None


@dataclass(frozen=True)
class InboundKind:
    """How one kind of inbound generic file is loaded: its schema and where its records go."""

    kind: str
    schema: str
    stage: Callable[[Any, str, Any], int]  # (sim, file_id, document) -> records staged


def inbox_has_files(sim, kind: str) -> bool:
    """Whether the inbox of `kind` holds anything the Load daemon handles (see `inbox_entries`):
    whatever a partner left there wakes it, not only `*.json.enc` files."""
    return any(True for _ in _inbox_names(sim.run_dir / "files" / "in" / kind))


def outbox_has_files(sim, kind: str) -> bool:
    folder = sim.run_dir / "files" / "out" / kind
    return folder.is_dir() and any(folder.glob("*/*.json.enc"))


@dataclass(frozen=True)
class InboxEntry:
    """One entry of an inbox as `inbox_entries` found it, by its `lstat`: never through a link."""

    path: Path
    problem: str | None  # why it is set aside unread; None: a generic file to read and load
    keep: bool  # set aside as it is (a folder, a file); else replaced by its description (a link, a pipe)
    description: bytes  # what stands in the register for it when it is set aside (store.describe_entry)

    @property
    def name(self) -> str:
        return self.path.name


def inbox_entries(inbox: Path) -> list[InboxEntry]:
    """The one place that decides what an inbox entry is; every entry of the inbox, in name order.

    A regular file named `*.json.enc` of at most INBOX_BYTES_MAX bytes is a generic file, read and
    loaded. Anything else is set aside with its reason, unread: a folder or a file of another name or
    too big is kept whole in quarantine; a link (dangling or not) or a special file (named pipe,
    socket, device) is replaced by a file that describes it, since keeping it would keep a way out of
    the run folder or a read that never ends. Only uploads in progress (`is_partner_temporary`) and
    cmpsim's own temporaries are not entries: they are left alone. An inbox that is not a folder
    itself (a link to one elsewhere) is not read at all. A name must be UTF-8 text, as the register
    and the journal of moves hold it: see `_rename_to_text`."""
    entries = []
    for name in _inbox_names(inbox):
        if not _is_text(name):
            continue  # not renamed (`_rename_to_text`): it cannot be registered
        entry = _inspect(inbox / name)
        if entry is not None:
            entries.append(entry)
    return entries


def _rename_to_text(inbox: Path, name: str) -> None:
    """An entry whose name is not UTF-8 (a name of bytes, which Python holds with surrogates) is
    renamed in the inbox, before anything else, to that name with its stray bytes written \\xNN, or,
    when that is taken or too long, to `not-utf8-<hash of the name>`; from then on it is an entry like
    any other. The new name depends on the old one only, so a crash before the step commits leaves an
    entry that a resumed run handles exactly as the run would have. With both names taken (a partner
    made them all) it stays where it is, unread."""
    if _is_text(name):
        return
    raw = os.fsencode(name)
    for text in (raw.decode("utf-8", "backslashreplace"), f"not-utf8-{hashlib.sha256(raw).hexdigest()[:16]}"):
        if len(text.encode()) <= NAME_BYTES_MAX and not os.path.lexists(inbox / text):
            with contextlib.suppress(FileNotFoundError):  # taken back by the partner meanwhile
                os.rename(inbox / name, inbox / text)
            return


def _is_text(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _inbox_names(inbox: Path) -> list[str]:
    try:
        if not stat.S_ISDIR(os.lstat(inbox).st_mode):
            return []
        with os.scandir(inbox) as scan:
            return sorted(e.name for e in scan if not is_partner_temporary(e.name) and not is_own_temporary(e.name))
    except FileNotFoundError:
        return []


def _inspect(path: Path, changed: bool = False) -> InboxEntry | None:
    """What the entry at `path` is, from its `lstat` (None once it is gone); `changed`: a file that
    was found to be a generic file and was something else when opened."""
    try:
        info = os.lstat(path)
        description = describe_entry(path)
    except FileNotFoundError:
        return None
    name, what, mode = path.name, entry_type(info.st_mode), info.st_mode
    keep = stat.S_ISREG(mode) or stat.S_ISDIR(mode)
    if stat.S_ISLNK(mode):
        target = json.loads(description)["target"]
        problem = f"not a generic file: a symbolic link to {target[:200]!r} (removed; what it points to not read)"
    elif not keep:
        problem = f"not a generic file: a {what} (removed, never opened)"
    elif stat.S_ISDIR(mode):
        problem = "not a generic file: a directory (kept unread)"
    elif not name.endswith(".json.enc"):
        problem = "not a generic file name: it does not end in .json.enc (kept unread)"
    elif info.st_size > INBOX_BYTES_MAX:
        problem = f"not a generic file: {info.st_size} bytes, over the limit of {INBOX_BYTES_MAX} (kept unread)"
    elif changed:
        problem = "not a generic file: it changed while it was read (kept unread)"
    else:
        problem = None
    return InboxEntry(path, problem, keep, description)


class _NotRegular(Exception):
    """The entry opened is no longer the regular file `lstat` saw."""


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, at most `limit` + 1 of them (one more tells a file over the
    limit). Opened without following a link and without blocking (a pipe swapped in after `lstat`
    cannot hold the run), and checked to be a regular file by the descriptor actually read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link now
            raise _NotRegular from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, max(info.st_size + 1 - total, 1 << 16)))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_inbound(sim, spec: InboundKind) -> int:
    """The body of a Load daemon: collect, authenticate, decrypt, validate and stage every file
    waiting in the inbox of `spec.kind`, in name order, and set aside whatever else is there (see
    `inbox_entries`). Returns the number of entries handled."""
    inbox = sim.run_dir / "files" / "in" / spec.kind
    for name in _inbox_names(inbox):
        _rename_to_text(inbox, name)
    moves: list[tuple[Path, Path, list[tuple[Path, bytes]]]] = []
    for entry in inbox_entries(inbox):
        move = _load_one(sim, spec, entry)
        if move is not None:
            moves.append(move)
    for source, target, writes in moves:
        # Written before the commit (a crash before it leaves them to be written again, the same);
        # the entry moves after it (Store.move_file).
        for path, data in writes:
            write_atomic(path, data)
        sim.store.move_file(source, target)
    return len(moves)


def _load_one(sim, spec: InboundKind, entry: InboxEntry) -> tuple[Path, Path, list[tuple[Path, bytes]]] | None:
    # A name already received is a new file under an old name (a crash between registering a file and
    # moving it cannot happen: the move is made after the commit, and finished on resume).
    known = sim.store.scalar("SELECT min(file_id) FROM generic_files WHERE direction = 'in' AND kind = ? AND name = ?",
                             [spec.kind, entry.name])
    blob = None
    if entry.problem is None:
        try:
            blob = _read_bounded(entry.path, INBOX_BYTES_MAX)
        except FileNotFoundError:
            return None  # taken back by the partner since it was listed
        except _NotRegular:
            entry = _inspect(entry.path, changed=True)
            if entry is None:
                return None
        except OSError as exc:
            entry = replace(entry, problem=f"not read: {exc.strerror} (kept unread)")
        if blob is not None and len(blob) > INBOX_BYTES_MAX:
            blob, entry = None, replace(entry, problem=f"not a generic file: over the limit of {INBOX_BYTES_MAX} "
                                                       "bytes (it grew while it was read; kept unread)")
    file_id = f"GF-{sim.store.allocate('generic_file', 1) + 1:08d}"
    if blob is None:
        return _set_aside(sim, spec, entry, file_id, known)
    digest = sha256(blob)
    # The same bytes loaded before: as this kind, a duplicate; as another kind only, a file dropped
    # into the wrong inbox (its authentication, bound to its kind, would fail too), not a duplicate.
    original, elsewhere = sim.con.execute(
        "SELECT min(file_id) FILTER (WHERE kind = ?), arg_min([kind, file_id], file_id) FROM generic_files "
        "WHERE direction = 'in' AND sha256 = ? AND status = 'Loaded'", [spec.kind, digest]).fetchall()[0]
    status, reason, records = "Loaded", None, None
    if original is not None:
        status, reason = "Duplicate", f"same content as {original}, already loaded"
    elif elsewhere:
        status, reason = "Quarantined", f"not a {spec.kind} file: its content was loaded as {' '.join(elsewhere)}"
    elif known is not None:
        status, reason = "Quarantined", f"a file of this name was already received as {known}"
    else:
        try:
            document = open_document(sim.key, spec.kind, spec.schema, blob)
            records = spec.stage(sim, file_id, document)
        except FileRejected as exc:
            status, reason = "Quarantined", str(exc)
    folder = "archive" if status == "Loaded" else "quarantine"
    # Kept beside the file it repeats the name of, never over it.
    name = _stored_name(entry.name, file_id, known, ".reason.json" if status != "Loaded" else "", ".json.enc")
    target = Path("files", folder, spec.kind, name)
    _register(sim, [(file_id, spec.kind, "in", _party_of(entry.name), entry.name, str(target), digest, records,
                     status, reason, None, sim.now, original)])
    if status == "Loaded":
        return entry.path, sim.run_dir / target, []
    note = encode_document({"file_id": file_id, "status": status, "reason": reason})
    return entry.path, sim.run_dir / target, [(sim.run_dir / _with_suffix(target, ".reason.json"), note)]


def _set_aside(sim, spec: InboundKind, entry: InboxEntry, file_id: str, known: str | None):
    """Quarantine an entry that is no generic file, unread: its description registered in its place
    (path and checksum of `<name>.entry.json`), the entry itself kept beside it as `<name>.entry`
    when it is a folder or a file, else moved onto the description's place and replaced there by it
    once the step commits (Store.move_file), so that a crash in between is finished on resume."""
    name = _stored_name(entry.name, file_id, known, DESCRIBED + ".reason.json", "")
    folder = sim.run_dir / "files" / "quarantine" / spec.kind
    described = Path("files", "quarantine", spec.kind, name + DESCRIBED)
    _register(sim, [(file_id, spec.kind, "in", _party_of(entry.name), entry.name, str(described),
                     sha256(entry.description), None, "Quarantined", entry.problem, None, sim.now, None)])
    note = encode_document({"file_id": file_id, "status": "Quarantined", "reason": entry.problem})
    writes = [(sim.run_dir / _with_suffix(described, ".reason.json"), note)]
    if entry.keep:
        writes.insert(0, (sim.run_dir / described, entry.description))
        return entry.path, folder / (name + KEPT), writes
    return entry.path, sim.run_dir / described, writes


def _stored_name(name: str, file_id: str, known: str | None, suffix: str, fallback: str) -> str:
    """The name an inbound entry is kept under: its own, or `<file id>__<name>` when the name was
    received before; `<file id><fallback>` when that with `suffix` would be too long for a name."""
    stored = name if known is None else f"{file_id}__{name}"
    return stored if len((stored + suffix).encode()) <= NAME_BYTES_MAX else file_id + fallback


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _party_of(name: str) -> str:
    """Inbound names are <kind>-<party>-<seq>...; the party is the middle part."""
    parts = name.split("__")
    return parts[1] if len(parts) > 2 else "unknown"
