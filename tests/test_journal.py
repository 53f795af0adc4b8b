"""The run folder's journal: the file changes made after the last flush are undone on resume, newest
first, and nothing the database already holds is touched.

Real files in a real folder, changed through the same calls the steps use (`write_whole`,
`Store.move_file` inside a flush window)."""

from __future__ import annotations

import os

from cmpsim.journal import JOURNAL_NAME, Journal
from cmpsim.store import Store, write_whole


def _folder_state(root) -> dict[str, str]:
    state = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if name.startswith(("cmpsim.duckdb", ".cmpsim-journal")):
            continue
        if path.is_symlink():
            state[name] = f"link to {os.readlink(path)}"
        elif path.is_fifo():
            state[name] = "named pipe"
        elif path.is_file():
            state[name] = path.read_text()
    return state


def _window(run_dir) -> Store:
    store = Store(run_dir / "cmpsim.duckdb")
    store.open_window()
    return store


def test_a_killed_window_is_undone_to_the_files_of_the_last_flush(tmp_path):
    inbox, processed = tmp_path / "files" / "in", tmp_path / "files" / "processed"
    inbox.mkdir(parents=True)
    (inbox / "orders-1.json").write_text("first")
    (tmp_path / "board.json").write_text("as flushed")
    os.symlink("/etc/passwd", inbox / "planted-link")
    os.mkfifo(inbox / "planted-pipe")
    flushed = _folder_state(tmp_path)

    store = _window(tmp_path)
    store.journal.wake_no = 7
    with store.transaction():  # one wake-up of the window: a file written, one rewritten, three moved
        write_whole(tmp_path / "files" / "out.json", b"written after the flush")
        write_whole(tmp_path / "board.json", b"rewritten after the flush")
        for name in ("orders-1.json", "planted-link", "planted-pipe"):
            store.move_file(inbox / name, processed / name)
    assert (processed / "orders-1.json").read_text() == "first"
    assert not (processed / "planted-link").is_symlink()  # replaced by its description as it moved in
    store.con.close()  # killed: the window never flushed

    undone = Journal(tmp_path).undo(committed_wake_no=6)
    assert undone == 7  # 2 writes, 3 moves, 2 descriptions written over the link and the pipe
    assert _folder_state(tmp_path) == flushed
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_changes_the_database_already_holds_are_kept(tmp_path):
    store = _window(tmp_path)
    store.journal.wake_no = 3
    with store.transaction():
        write_whole(tmp_path / "kept.json", b"committed")
    store.journal.wake_no = 4
    with store.transaction():
        write_whole(tmp_path / "lost.json", b"not committed")
    store.con.close()

    Journal(tmp_path).undo(committed_wake_no=3)
    assert (tmp_path / "kept.json").read_bytes() == b"committed"
    assert not (tmp_path / "lost.json").exists()


def test_a_flush_clears_the_journal_and_writes_outside_a_window_are_not_journaled(tmp_path):
    store = _window(tmp_path)
    store.journal.wake_no = 1
    with store.transaction():
        write_whole(tmp_path / "a.json", b"a")
    assert (tmp_path / JOURNAL_NAME).stat().st_size > 0
    store.flush(reopen=False)
    assert not (tmp_path / JOURNAL_NAME).exists()
    write_whole(tmp_path / "report.html", b"after the run")
    assert not (tmp_path / JOURNAL_NAME).exists()
    store.close()
