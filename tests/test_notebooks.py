"""QA's regression: a golden notebook fails under nbval when a figure it printed changes.

The six notebooks themselves run under nbval in the test command (`notebooks/`, see pyproject's
pytest settings). Here the billing notebook is copied next to a copy of the scenarios with one tax
rate changed, and nbval must fail on it — naming the cell and showing the old and new figures.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

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


# What prints or displays in the notebooks' cells (`cmpsim.run`: its progress, in a kernel).
SHOWING = {"print", "display", "show_table", "show", "run"}


def shows_something(source: str) -> bool:
    """Whether a code cell's source makes output: it calls print or display, or ends in an expression
    that is not a call (a name, a frame) or builds a widget (`ScenarioRunner(...)`)."""
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    called = {node.func.id if isinstance(node.func, ast.Name) else node.func.attr for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)}
    last = tree.body[-1].value if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    widget = isinstance(last, ast.Call) and isinstance(last.func, ast.Name) and last.func.id[:1].isupper()
    return bool(called & SHOWING) or (last is not None and not isinstance(last, ast.Call)) or widget


def test_no_committed_notebook_lost_the_outputs_of_a_cell_that_shows_something():
    """A save that lands while Run All has cleared the outputs (JupyterLab's autosave) would leave nbval
    comparing against nothing: every cell that prints or displays must carry what it showed."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for number, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and shows_something(cell.source):
                assert cell.outputs, f"{path.name}, cell {number}: shows something but has no outputs committed"


def test_the_outputs_check_notices_a_cleared_cell():
    nb = nbformat.read(ROOT / "notebooks" / "1-quickstart.ipynb", as_version=4)
    showing = [c for c in nb.cells if c.cell_type == "code" and shows_something(c.source)]
    silent = [c for c in nb.cells if c.cell_type == "code" and not shows_something(c.source)]
    assert showing and all(c.outputs for c in showing) and silent and not any(c.outputs for c in silent)
    assert shows_something("x = 1\nx") and shows_something("RunComparison(runs_folder='r')")
    assert not shows_something("run.close()") and not shows_something("%matplotlib inline\nimport cmpsim")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(lab: subprocess.Popen) -> str:
    """What JupyterLab printed, once stopped: asked with SIGTERM, as a terminal's kill would; killed
    when it has not gone after half a minute (a loaded CI machine once kept it past a minute; how it
    stops is JupyterLab's own business, not what scripts/lab is tested for)."""
    os.killpg(lab.pid, signal.SIGTERM)
    try:
        return lab.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        os.killpg(lab.pid, signal.SIGKILL)
        return lab.communicate(timeout=30)[0]


def test_scripts_lab_opens_jupyterlab_on_a_working_copy(tmp_path):
    """`scripts/lab` starts JupyterLab — as root too, where JupyterLab itself refuses without
    --allow-root — on copies of the notebooks, so the committed ones are never autosaved."""
    if shutil.which("bash") is None:
        pytest.skip("scripts/lab is a bash script")
    committed = {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "1-quickstart.ipynb").write_text("{}")  # a working copy of QA's, kept as it is
    port = _free_port()
    lab = subprocess.Popen([str(ROOT / "scripts" / "lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                            "--IdentityProvider.token=", "--ServerApp.password="],
                           env={**os.environ, "CMPSIM_LAB": str(tmp_path / "lab")}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, listing = time.monotonic() + 120, None
        while listing is None and time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents", timeout=5) as answer:
                    listing = json.load(answer)
            except OSError:
                time.sleep(0.5)
        assert listing is not None, f"JupyterLab did not answer: {lab.poll()=}"
    finally:
        output = _stop(lab)
    assert "Traceback" not in output, output[-3000:]
    assert sorted(item["name"] for item in listing["content"]) == sorted(committed)
    assert (tmp_path / "lab" / "1-quickstart.ipynb").read_text() == "{}"
    assert (tmp_path / "lab" / "3-billing-run.ipynb").read_bytes() == committed["3-billing-run.ipynb"]
    assert {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")} == committed


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
    assert "reference_output == test_output failed" in report or "Cell outputs differ" in report, report
    # The diff shows the committed figure that moved: the gross of the 8 January cycle invoices.
    committed = [line.split()[-1] for line in _output_text(NOTEBOOK) if "cycle" in line]
    assert committed and committed[0] in report, report


def _output_text(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
            for line in (o.get("text", "") + o.get("data", {}).get("text/plain", "")).splitlines()]
