"""The environment the tests run in is exactly the committed lock (uv.lock), as scripts/setup installs it."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata

import pytest

from conftest import TESTS

ROOT = TESTS.parent

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CMPSIM_DRIFT")), reason="the drift check runs the suite on newer releases on purpose")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        versions.setdefault(canonical(package["name"]), set()).add(package["version"])
    return versions


def installed_versions() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def test_every_installed_package_is_the_version_the_lock_names():
    locked, installed = locked_versions(), installed_versions()
    off = {name: (version, sorted(locked.get(name, ["not in the lock"])))
           for name, version in installed.items() if version not in locked.get(name, set())}
    assert not off, f"installed versions the lock does not name (installed, locked): {off}"


def test_the_releases_that_matter_most_are_the_current_majors():
    installed = installed_versions()
    assert installed["duckdb"].startswith("2.") and installed["polars"].startswith("2.")
    for name in ("jsonschema", "simpy", "weasyprint", "ipywidgets", "jupyterlab", "pytest", "nbval"):
        assert name in installed, name
