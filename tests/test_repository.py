"""The repository stands on its own: no file of it names a path outside it, so a clone has all a
reader or a test needs (the design, the processes replayed, the TM Forum samples)."""

from __future__ import annotations

import re
import subprocess

from conftest import TESTS

ROOT = TESTS.parent
#: A relative path climbing out (`../elsewhere/…`, `../../x`) in prose, a link or code; hostile inputs the
#: tests throw at cmpsim on purpose are not references, and are listed by file below.
CLIMBING = re.compile(r"(?<![\w./])(?:\.\./)+[\w.-]+")
HOSTILE_ON_PURPOSE = {"tests/test_documents.py", "tests/test_fuzz_inputs.py", "tests/test_fuzz_trust.py",
                      "tests/test_scenario_fuzz.py", "tests/test_run_folder.py", "tests/test_hostile_inputs.py",
                      "tests/test_template_bounds.py", "tests/test_inbox_entries.py", "tests/test_repository.py",
                      "docs/trust.md"}
#: Where a path in a file may be meant from: its own folder, or the notebooks' (the README's widget
#: examples run in a notebook of notebooks/).
STARTS = ("", "notebooks")


def tracked_text_files() -> list[str]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [n for n in names if not n.endswith((".pdf", ".png", ".svg", ".duckdb", ".lock", ".enc", ".ico"))]


def outside_references(name: str) -> list[str]:
    path = ROOT / name
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return []
    found = []
    for match in CLIMBING.finditer(text):
        starts = [path.parent] + [ROOT / start for start in STARTS if start]
        if not any((start / match.group()).resolve().is_relative_to(ROOT) for start in starts):
            found.append(match.group())
    found += [m.group() for m in re.finditer(r"\bshared/(?:seeds|external|DESIGN\.md)\S*", text)]
    return found


def test_no_file_names_a_path_outside_the_repository():
    offending = {name: refs for name in tracked_text_files() if name not in HOSTILE_ON_PURPOSE
                 for refs in [outside_references(name)] if refs}
    assert offending == {}


def test_the_check_finds_a_reference_outside(tmp_path):
    """The check above can fail: the reference the README held is found."""
    readme = ROOT / "README.md"
    assert CLIMBING.search("described in `../elsewhere/docs/`; the design")
    assert not (readme.parent / "../elsewhere/docs").resolve().is_relative_to(ROOT)
