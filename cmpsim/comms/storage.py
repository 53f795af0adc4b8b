"""Long-term storage of documents (seed 003: the Comms Storage daemon).

A small interface, `Storage` — check, put, get, list per account — so that a deployment could keep
documents in S3 or over SFTP; the default, `LocalFolderStorage`, is a folder of the run folder
(`comms.storage.folder`, `storage/` by default): `storage/<account>/<file>`, addressed as
`storage://<account>/<file>`. The Comms Storage daemon copies every document of a communication
that was sent, so that it can be viewed later per account. It checks every document of a wake-up
before it stores any: a refusal (a symlink planted in the storage folder that leads elsewhere) fails
the wake-up with its reason and nothing written, so the daemon needs no transaction of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cmpsim.engine import JobFailure
from cmpsim.files import write_atomic
from cmpsim.paths import inside

SCHEME = "storage://"


class Storage(Protocol):
    def check(self, account: str, name: str) -> None: ...  # raises JobFailure where put would refuse
    def put(self, account: str, name: str, data: bytes) -> str: ...
    def get(self, uri: str) -> bytes: ...
    def list(self, account: str) -> list[str]: ...


class LocalFolderStorage:
    """Documents in a folder, one subfolder per account; written whole, never overwritten differently."""

    def __init__(self, root: Path):
        self.root = root

    def check(self, account: str, name: str) -> None:
        self._path(account, name)

    def put(self, account: str, name: str, data: bytes) -> str:
        path = self._path(account, name)
        write_atomic(path, data)
        return f"{SCHEME}{account}/{name}"

    def get(self, uri: str) -> bytes:
        account, name = uri.removeprefix(SCHEME).split("/", 1)
        return self._path(account, name).read_bytes()

    def list(self, account: str) -> list[str]:
        folder = self.root / account
        return sorted(f"{SCHEME}{account}/{p.name}" for p in folder.iterdir()) if folder.is_dir() else []

    def _path(self, account: str, name: str) -> Path:
        path = inside(self.root, account, name)
        if path is None:
            raise JobFailure(f"storage: {account}/{name} is not a file inside the storage folder {self.root}")
        return path


def storage_of(sim) -> Storage:
    """The storage folder the scenario names, which must lie inside the run folder (a symlink planted
    there that leads elsewhere fails the daemon's wake-up with its reason; nothing is written)."""
    folder = sim.scenario["comms"]["storage"]["folder"]
    root = inside(sim.run_dir, folder)
    if root is None:
        raise JobFailure(f"storage: comms.storage.folder {folder!r} does not lie inside the run folder")
    return LocalFolderStorage(root)


def storage_due(sim) -> bool:
    return bool(sim.store.scalar("SELECT count(*) FROM comms WHERE stored_uri IS NULL AND document IS NOT NULL "
                                 "AND status NOT IN ('Rendered', 'Failed')"))


def storage_step(sim) -> int:
    """Copy the document of every sent communication into storage; returns documents stored."""
    todo = sim.store.frame("""SELECT request_id, coalesce(account_id, 'staff') AS account, document FROM comms
                              WHERE stored_uri IS NULL AND document IS NOT NULL AND status NOT IN ('Rendered', 'Failed')
                              ORDER BY request_id""")
    if todo.height == 0:
        return 0
    storage = storage_of(sim)
    documents = [(account, Path(doc).name, sim.run_dir / doc) for _, account, doc in todo.rows()]
    for account, name, _ in documents:  # every place first: a refusal leaves nothing half-stored
        storage.check(account, name)
    uris = [storage.put(account, name, path.read_bytes()) for account, name, path in documents]
    ids = todo["request_id"].to_list()
    sim.con.execute("""UPDATE comms SET stored_uri = s.uri
                       FROM (SELECT unnest(?::VARCHAR[]) AS request_id, unnest(?::VARCHAR[]) AS uri) s
                       WHERE comms.request_id = s.request_id""", [ids, uris])
    sim.store.record_events_at(sim.now, "comm", ids, "Comm Stored", sim.current_job, uris)
    return todo.height
