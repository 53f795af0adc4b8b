"""Where the project's own folders are: schemas, scenarios, report templates."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SCHEMA_DIR = PROJECT_DIR / "schemas"
SCENARIO_DIR = PROJECT_DIR / "scenarios"
REPORT_DIR = PROJECT_DIR / "reports"

#: The entries cmpsim writes at the top of a run folder (the scenario's storage folder besides): a
#: folder holding anything else is not a run, and is never replaced.
RUN_LAYOUT = frozenset({".cmpsim-run", ".cmpsim-lock", ".cmpsim-journal", ".cmpsim-journal.d", "cmpsim.duckdb",
                        "cmpsim.duckdb.wal", "run.json",
                        "summary.json", "files", "documents", "archive", "comms", "storage", "reports"})


def inside(root: Path, *parts: str) -> Path | None:
    """`root` joined with `parts`, or None when the result is not inside `root`.

    The one check for every path a scenario or a party names under a run folder: each part must be a
    plain name (no separator, not `.` or `..`, not absolute), and the joined path, with every symlink
    on the way resolved, must still lie under `root` resolved. A symlink planted in the run folder
    that points elsewhere is caught here, where the path is made, not by each caller."""
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
            return None
    path = root.joinpath(*parts)
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None
    except (OSError, RuntimeError):  # a symlink loop
        return None
    return path
