"""What a run computes is pinned to the locked environment (uv.lock).

Four days of the shipped baseline scenario (seed fixed, a bill run on 8 January included) are run,
and every table of the run database is checksummed (content, independent of row order) beside the
row count and compared with `tests/golden/baseline-4-days.json`. An upgrade of DuckDB, polars,
numpy or any other locked package that changes one figure, one timestamp or one random draw fails
here, naming the tables that changed.

When a change of results is intended (a lock update that says why, or a change of the engine),
write the new checksums and commit them with the reason:

    CMPSIM_PIN_RESULTS=1 .venv/bin/python -m pytest -p no:xdist tests/test_results_pinned.py
"""

from __future__ import annotations

import json
import os
from importlib import metadata

import pytest

import cmpsim
from cmpsim.store import table_checksum
from conftest import BASELINE, TESTS

GOLDEN = TESTS / "golden" / "baseline-4-days.json"
DAYS = 4
SEED = 20260105
# Recorded beside the checksums, so a failure says which versions produced the pinned results.
VERSIONS_OF = ("duckdb", "polars", "numpy", "pyarrow", "simpy", "cryptography", "jinja2")


def results(run: cmpsim.Run) -> dict[str, dict[str, object]]:
    tables = [r[0] for r in run.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name").fetchall()]
    return {
        table: {"rows": run.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0],
                "sha256": table_checksum(run.con, f'"{table}"')}
        for table in tables
    }


@pytest.fixture(scope="module")
def pinned_run(tmp_path_factory):
    run = cmpsim.run(BASELINE, seed=SEED, days=DAYS, out=tmp_path_factory.mktemp("pinned") / "run")
    yield run
    run.close()


def test_a_run_computes_what_it_computed_when_the_lock_was_made(pinned_run):
    found = results(pinned_run)
    # The run covers every process: a test that pins empty tables could not fail.
    for table in ("orders", "events", "invoices", "postings", "sl_entries", "gl_entries", "comms"):
        assert found[table]["rows"] > 0, table
    versions = {name: metadata.version(name) for name in VERSIONS_OF}
    if os.environ.get("CMPSIM_PIN_RESULTS"):
        GOLDEN.write_text(json.dumps({"scenario": "scenarios/baseline.yaml", "seed": SEED, "days": DAYS,
                                      "versions": versions, "tables": found}, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    changed = sorted(t for t in pinned["tables"].keys() | found.keys() if pinned["tables"].get(t) != found.get(t))
    lines = [f"  {t}: {pinned['tables'].get(t, {}).get('rows', 'absent')} rows pinned, "
             f"{found.get(t, {}).get('rows', 'absent')} rows now" for t in changed]
    assert not changed, (
        f"{len(changed)} tables differ from the results pinned with {pinned['versions']} (now {versions}):\n"
        + "\n".join(lines) + "\nIf intended, re-pin (see this file's docstring) and say why in the commit.")
