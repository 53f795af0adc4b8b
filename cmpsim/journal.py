"""The run folder's journal of file changes since the last flush, undone when a run resumes.

A run commits its database at each flush (every simulated midnight, before each probe, at the end),
while the files of the run folder change as the steps make them: a generic file written, an inbox
entry moved to `processed/`, a bill rendered. Each such change is journaled first, one JSON line in
`.cmpsim-journal` with the wake-up that made it. When a killed run resumes, its database is the last
flush; the changes of later wake-ups are undone, newest first (a file written is removed, or its
earlier bytes put back; a moved entry moves back, a link or named pipe is made again), and the schedule
re-executes from that flush to the same files, byte for byte. A flush clears the journal.

Only what lies inside the run folder is journaled; a journal is active while its store has a flush
window open, so writes outside a run (reports, exports) are not.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

JOURNAL_NAME = ".cmpsim-journal"
BACKUPS_NAME = ".cmpsim-journal.d"  # the earlier bytes of files a wake-up overwrote

_ACTIVE: dict[Path, Journal] = {}  # run folder (resolved) -> its journal, while a window is open


class Journal:
    """The file changes of one run folder since its last flush."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir.resolve()
        self.path = self.run_dir / JOURNAL_NAME
        self.backups = self.run_dir / BACKUPS_NAME
        self.wake_no = 0  # the wake-up making the changes (set by the engine)
        self._out = None
        self._entries = 0

    def activate(self) -> None:
        _ACTIVE[self.run_dir] = self

    def deactivate(self) -> None:
        _ACTIVE.pop(self.run_dir, None)
        self._close()

    def will_write(self, path: Path) -> None:
        """`path` is about to be written whole: journal it, keeping its earlier bytes if it had any."""
        relative = self._relative(path)
        if relative is None:
            return
        backup = None
        if os.path.isfile(path) and not os.path.islink(path):
            self.backups.mkdir(exist_ok=True)
            backup = str(self._entries)
            shutil.copyfile(path, self.backups / backup)
        self._append({"wake": self.wake_no, "write": relative, "backup": backup})

    def will_move(self, source: Path, target: Path) -> None:
        """`source` is about to move to `target`: journal it, with what is needed to make a link or a
        named pipe again (a move into the run's folders replaces them by a description)."""
        if os.path.lexists(target) or not os.path.lexists(source):
            return  # nothing will move
        entry: dict = {"wake": self.wake_no, "move": [self._relative(source), self._relative(target)]}
        mode = os.lstat(source).st_mode
        if stat.S_ISLNK(mode):
            entry["link"] = os.fsdecode(os.readlink(source))
        elif stat.S_ISFIFO(mode):
            entry["fifo"] = True
        self._append(entry)

    def clear(self) -> None:
        """After a flush committed: nothing to undo any more."""
        self._close()
        self._entries = 0
        if self.path.exists():
            self.path.unlink()
        if self.backups.exists():
            shutil.rmtree(self.backups)

    def undo(self, committed_wake_no: int) -> int:
        """Undo, newest first, the changes of wake-ups after `committed_wake_no` (the last one the
        database holds); returns how many. The journal is cleared."""
        self._close()
        entries = [e for e in _read(self.path) if e["wake"] > committed_wake_no]
        for entry in reversed(entries):
            if "write" in entry:
                self._undo_write(entry)
            elif None not in entry["move"]:
                self._undo_move(entry)
        self.clear()
        return len(entries)

    def _undo_write(self, entry: dict) -> None:
        path = self.run_dir / entry["write"]
        if entry["backup"] is not None:
            os.replace(self.backups / entry["backup"], path)
        elif os.path.lexists(path):
            _remove(path)

    def _undo_move(self, entry: dict) -> None:
        source, target = (self.run_dir / p for p in entry["move"])
        if os.path.lexists(source):
            return
        source.parent.mkdir(parents=True, exist_ok=True)
        if "link" not in entry and not entry.get("fifo"):
            if os.path.lexists(target):
                os.replace(target, source)
            return
        # A link or a pipe was replaced by its description where it moved: it is made again instead.
        if "link" in entry:
            os.symlink(entry["link"], source)
        else:
            os.mkfifo(source)
        if os.path.lexists(target):
            _remove(target)

    def _relative(self, path: Path) -> str | None:
        try:
            return str(_located(path).relative_to(self.run_dir))
        except ValueError:
            return None

    def _append(self, entry: dict) -> None:
        if self._out is None:
            self._out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open across wake-ups
        self._out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._out.flush()  # in the kernel's hands before the change is made: a killed process keeps it
        self._entries += 1

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def journal_of(path: Path) -> Journal | None:
    """The active journal of the run folder `path` lies in, if any."""
    if not _ACTIVE:
        return None
    for folder in _located(path).parents:
        if folder in _ACTIVE:
            return _ACTIVE[folder]
    return None


def will_write(path: Path) -> None:
    """Journal a whole-file write to `path` when it lies in a run folder with a flush window open."""
    journal = journal_of(path)
    if journal is not None:
        journal.will_write(path)


def _located(path: Path) -> Path:
    """Where `path` is: its folder resolved, the entry itself not followed (it may be a planted link)."""
    path = Path(path)
    return path.parent.resolve() / path.name


def _read(path: Path) -> list[dict]:
    """The journal's entries; a last line cut short by a kill (its change was never made) is dropped."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
