"""QA's regression: a golden notebook fails under nbval when a figure it printed changes.

The six notebooks themselves run under nbval in the test command (`notebooks/`, see pyproject's
pytest settings). Here the billing notebook is copied next to a copy of the scenarios with one tax
rate changed, and nbval must fail on it — naming the cell and showing the old and new figures.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "3-billing-run.ipynb"


def test_every_notebook_is_committed_with_its_outputs():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        tags = [c.get("metadata", {}).get("tags") for c in code]
        assert ["parameters"] in tags, f"{path.name}: no parameters cell"
        assert all(c.execution_count for c in code), f"{path.name}: a code cell was never executed"
        assert sum(len(c.outputs) for c in code) >= 4, f"{path.name}: committed without its outputs"


def test_a_changed_tax_rate_fails_the_billing_notebook(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)
    baseline = tmp_path / "scenarios" / "baseline.yaml"
    text = baseline.read_text()
    assert 'standard: "0.20"' in text
    baseline.write_text(text.replace('standard: "0.20"', 'standard: "0.21"'))

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "cmpsim.nbval_settings",
         "--nbval", "--nbval-current-env",
         "--nbval-cell-timeout=600", "-x", "-q", str(tmp_path / "notebooks" / NOTEBOOK.name)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)

    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    assert "Cell outputs differ" in report and "mismatch 'stdout'" in report, report
    # The diff shows the committed figure that moved: the gross of the 8 January cycle invoices.
    committed = [line.split()[-1] for line in _output_text(NOTEBOOK) if "cycle" in line]
    assert committed and committed[0] in report, report


def _output_text(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
            for line in o.get("text", "").splitlines()]
