"""Generic files: JSON documents exchanged with outside parties, encrypted and registered.

Every file CMP writes or reads is JSON checked against its schema in `schemas/`, encrypted and
authenticated with AES-GCM, written whole (temporary name, then rename) and registered in
`generic_files` with the SHA-256 of its bytes. An inbound file that cannot be authenticated,
parsed or validated is moved to `files/quarantine/` beside a note of the reason; a file whose
bytes were already loaded is recognised by checksum and never applied twice. Nothing is deleted.

Layout of a run folder:
    files/out/<kind>/<party>/<name>    generic files CMP extracted for a party
    files/in/<kind>/<name>             generic files delivered to CMP, waiting to be loaded
    files/archive/<kind>/<name>        inbound files after loading
    files/quarantine/<kind>/<name>     rejected inbound files, with <name>.reason.json
    files/parties/<party>/...          outside parties' own files (e.g. a warehouse's CSV)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cmpsim import faults
from cmpsim.validation import first_problem

MAGIC = b"CMPG\x01"
NONCE_BYTES = 12
FILE_BYTES_MAX = 256 * 1024 * 1024


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write whole or not at all: a crash leaves at most a `.part` file nobody reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
    sim.store.record_events(
        "SELECT registered_at AS ts, 'generic_file' AS object_type, file_id AS object_id, "
        "CASE direction WHEN 'out' THEN 'File Extracted' ELSE 'File ' || status END AS activity, "
        "? AS job, kind || ' ' || name || coalesce(': ' || reason, '') AS detail "
        "FROM generic_files WHERE file_id IN (SELECT unnest(?))",
        [sim.current_job, [r[0] for r in rows]],
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
    sim.con.execute(
        "UPDATE generic_files SET status = 'Transmitted', path = ? || '/' || name "
        "WHERE direction = 'out' AND kind = ? AND name IN (SELECT unnest(?))", [str(target), kind, names])
    sim.store.record_events(
        "SELECT ?::TIMESTAMP AS ts, 'generic_file' AS object_type, file_id AS object_id, "
        "'File Transmitted' AS activity, ? AS job, ? AS detail "
        "FROM generic_files WHERE direction = 'out' AND kind = ? AND name IN (SELECT unnest(?))",
        [sim.now, sim.current_job, detail, kind, names])
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
    inbox = sim.run_dir / "files" / "in" / kind
    return inbox.is_dir() and any(inbox.glob("*.json.enc"))


def outbox_has_files(sim, kind: str) -> bool:
    folder = sim.run_dir / "files" / "out" / kind
    return folder.is_dir() and any(folder.glob("*/*.json.enc"))


def load_inbound(sim, spec: InboundKind) -> int:
    """The body of a Load daemon: collect, authenticate, decrypt, validate and stage every file
    waiting in the inbox of `spec.kind`, in name order. Returns the number of files handled."""
    inbox = sim.run_dir / "files" / "in" / spec.kind
    names = sorted(p.name for p in inbox.glob("*.json.enc")) if inbox.is_dir() else []
    moves: list[tuple[Path, Path, dict | None]] = []
    for name in names:
        moves.append(_load_one(sim, spec, inbox / name))
    for source, target, note in moves:
        if note is not None:
            write_atomic(target.with_name(target.name + ".reason.json"), encode_document(note))
        sim.store.move_file(source, target)
    return len(names)


def _load_one(sim, spec: InboundKind, path: Path) -> tuple[Path, Path, dict | None]:
    # A name already received is a new file under an old name (a crash between registering a file and
    # moving it cannot happen: the move is made after the commit, and finished on resume).
    known = sim.store.scalar("SELECT min(file_id) FROM generic_files WHERE direction = 'in' AND kind = ? AND name = ?",
                             [spec.kind, path.name])
    blob = path.read_bytes()
    digest = sha256(blob)
    file_id = f"GF-{sim.store.allocate('generic_file', 1) + 1:08d}"
    original = sim.store.scalar(
        "SELECT min(file_id) FROM generic_files WHERE direction = 'in' AND sha256 = ? AND status = 'Loaded'", [digest]
    )
    status, reason, records = "Loaded", None, None
    if original is not None:
        status, reason = "Duplicate", f"same content as {original}, already loaded"
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
    target = Path("files", folder, spec.kind, path.name if known is None else f"{file_id}__{path.name}")
    _register(
        sim,
        [
            (
                file_id,
                spec.kind,
                "in",
                _party_of(path.name),
                path.name,
                str(target),
                digest,
                records,
                status,
                reason,
                None,
                sim.now,
                original,
            )
        ],
    )
    note = None if status == "Loaded" else {"file_id": file_id, "status": status, "reason": reason}
    return path, sim.run_dir / target, note


def _party_of(name: str) -> str:
    """Inbound names are <kind>-<party>-<seq>...; the party is the middle part."""
    parts = name.split("__")
    return parts[1] if len(parts) > 2 else "unknown"
