"""The workbench in a real browser: JupyterLab started by `scripts/lab` on 127.0.0.1, driven by
Playwright in Debian's chromium (installed by `scripts/setup` as root; never a downloaded browser).

What a user sees is asserted, not what the kernel holds: the committed notebooks open with their
tables and dashboards drawn (no kernel, no widget state needed); a notebook run shows each run's
progress and ends on its result; the comparison names the setting that differs; a run from the
ScenarioRunner's button completes with progress and key figures; a bad knob shows its message under
the button, the last results kept; after a save and a page reload the dashboards are still there.

Screenshots of every step go to `runs/browser-test/` (printed), for people to look at.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "runs" / "browser-test"
LEDGER_SMALL = ROOT / "tests" / "scenarios" / "ledger-small.yaml"
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show
WAIT_MS = 600_000  # a run under a loaded machine; the test ends as soon as what it waits for shows
# Chromium as the machine's probe starts it: no sandbox as root, and no background connections to
# hosts a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="no chromium: scripts/setup installs Debian's chromium when run as root on Debian"),
    pytest.mark.skipif(shutil.which("bash") is None, reason="scripts/lab is a bash script"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHECK_CELLS = [
    """\
import cmpsim
from cmpsim.scenario import load
from cmpsim.widgets import RunComparison, ScenarioRunner

SCENARIO = {scenario!r}
OUT = {out!r}""",
    """\
a = cmpsim.run(load(SCENARIO, overrides={{"horizon_days": 2}}), out=f"{{OUT}}/a")
more = {{"horizon_days": 2, "demand": {{"orders_per_day": 20}}}}
b = cmpsim.run(load(SCENARIO, overrides=more), out=f"{{OUT}}/b")""",
    "RunComparison(a, b)",
    """\
runner = ScenarioRunner([SCENARIO], f"{{OUT}}/what-if")
runner.knobs["days"].value = 2
runner""",
    'print("every cell ran")',
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """JupyterLab on a working copy of the notebooks (at the checkout's depth, so their ../scenarios
    holds) plus a notebook of dashboard checks; its address."""
    work = tmp_path_factory.mktemp("workbench")
    (work / "scenarios").symlink_to(ROOT / "scenarios")
    folder = work / "lab"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(cell.format(scenario=str(LEDGER_SMALL), out=str(work / "runs")))
                for cell in CHECK_CELLS]
    nbformat.write(nb, folder / "dashboards.ipynb")
    port = _free_port()
    server = subprocess.Popen([str(ROOT / "scripts" / "lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                               "--IdentityProvider.token=", "--ServerApp.password="],
                              env={**os.environ, "CMPSIM_LAB": str(folder)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=5).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer: {server.poll()=}")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.communicate(timeout=60)


@pytest.fixture(scope="module")
def browser():
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    print(f"screenshots: {SHOTS}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(page, url: str, notebook: str) -> None:
    page.goto(f"{url}/lab/tree/{notebook}?reset", wait_until="domcontentloaded")  # that notebook alone
    page.locator(PANEL + " .jp-Cell").first.wait_for(timeout=120_000)


def _run_all(page) -> None:
    choose = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")  # JupyterLab may ask for the kernel
    try:
        choose.wait_for(timeout=5_000)
        choose.click()
    except PlaywrightTimeout:
        pass
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_committed_notebooks_open_with_their_tables_and_dashboards_drawn(lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    for notebook in sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")):
        _open(page, lab, notebook)
        page.locator(".jp-OutputArea-output").first.wait_for(state="attached", timeout=60_000)
        page.wait_for_timeout(1_000)
        _shot(page, f"committed-{Path(notebook).stem}")
        text = page.locator(PANEL).first.text_content()
        assert "VBox(children" not in text and "Error displaying widget" not in text, notebook
        if notebook.startswith(("1-", "3-", "4-", "5-", "6-")):
            assert page.locator(PANEL + " table.cmpsim-table").count() > 0, notebook
    _open(page, lab, "5-probes.ipynb")
    board = page.locator(".cmpsim-dashboard", has_text="Postings Rejected")  # the probe board, as saved
    board.first.wait_for(state="attached", timeout=60_000)
    board.first.scroll_into_view_if_needed()
    _shot(page, "committed-probe-board")
    _open(page, lab, "4-ledger-reconciliation.ipynb")
    explorer = page.locator(".cmpsim-dashboard", has_text="Control totals per period")
    explorer.first.wait_for(state="attached", timeout=60_000)
    page.close()


def test_dashboards_run_show_progress_and_errors_and_survive_a_reload(lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _open(page, lab, "dashboards.ipynb")
    _run_all(page)
    page.locator(".jp-OutputArea-output", has_text="every cell ran").wait_for(state="attached", timeout=WAIT_MS)
    _shot(page, "dashboards-ran")
    panel = page.locator(PANEL).first
    # Each cmpsim.run showed its progress under the cell, ended on the same words.
    assert page.get_by_text("2 of 2 days simulated").count() == 2
    # The comparison says which setting differs, and each side's value.
    page.locator("h4:visible", has_text="Settings that differ").first.wait_for(timeout=60_000)
    settings = page.locator("table.cmpsim-table:visible", has_text="orders_per_day").first.text_content()
    assert "0" in settings and "20" in settings
    _shot(page, "dashboards-comparison")

    # A run from the ScenarioRunner's button: the bar and its line move, the key figures come.
    runner = page.locator(".jp-OutputArea-output", has=page.locator(".widget-button", has_text="Stop")).first
    runner.locator(".widget-button", has_text="Run").click()
    runner.get_by_text("of 2").first.wait_for(timeout=60_000)
    _shot(page, "runner-in-progress")
    runner.get_by_text("2 of 2 days simulated").wait_for(timeout=WAIT_MS)
    runner.get_by_text("hardware orders placed").wait_for(state="attached", timeout=60_000)
    _shot(page, "runner-done")

    # A bad knob: its message under the Run button, named by the knob; the last results stay.
    field = runner.locator(".widget-text", has=page.locator("label", has_text="Hardware orders a day")).locator("input")
    field.fill("-5")
    field.press("Tab")
    runner.locator(".widget-button", has_text="Run").click()
    error = runner.locator(".cmpsim-error")
    error.wait_for(timeout=60_000)
    assert "Hardware orders a day: expected a number >= 0, found -5" in error.inner_text()
    assert runner.get_by_text("hardware orders placed").count() == 1
    _shot(page, "runner-bad-knob")

    # Saved and reloaded: the dashboards are drawn again, not "model not found".
    page.keyboard.press("Control+s")
    page.wait_for_timeout(2_000)
    page.reload(wait_until="domcontentloaded")
    page.locator(PANEL + " .jp-Cell").first.wait_for(timeout=120_000)
    page.locator("h4:visible", has_text="Settings that differ").first.wait_for(timeout=120_000)
    page.wait_for_timeout(3_000)
    text = panel.text_content()
    assert "model not found" not in text and "Error displaying widget" not in text
    assert "hardware orders placed" in text
    _shot(page, "dashboards-after-reload")
    page.close()


def test_a_committed_notebook_runs_in_the_browser_with_progress_tables_and_a_live_dashboard(lab, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _open(page, lab, "5-probes.ipynb")
    _run_all(page)
    last = page.locator(PANEL + " .jp-Cell").last
    # The probe board is the last cell: live, it lists the probes in a list one can choose from.
    last.locator(".widget-select select").wait_for(state="attached", timeout=WAIT_MS)
    page.locator(".jp-OutputArea-output", has_text="6 of 6 days simulated").first.wait_for(state="attached",
                                                                                           timeout=60_000)
    assert page.locator(PANEL + " table.cmpsim-table").count() >= 3
    probes = [name.replace("\xa0", " ") for name in last.locator(".widget-select select option").all_text_contents()]
    assert "Postings Rejected" in probes
    last.scroll_into_view_if_needed()
    _shot(page, "notebook-5-probes-ran")
    page.close()
