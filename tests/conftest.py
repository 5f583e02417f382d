"""Shared pytest configuration: `slow` and `workflow` markers are opt-in."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# shared helpers (tests/_support) are importable from every test file
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long statistical studies)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow study: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _record_tested_commit(record_testsuite_property) -> None:  # type: ignore[no-untyped-def]
    """The commit under test, in the JUnit report (``--junitxml``): the validation stage uses a
    test report as credibility evidence only for the code version it runs
    (``validation.credibility.test_report``)."""
    from twintrial.provenance import git_commit

    record_testsuite_property("twintrial_git_commit", git_commit(
        str(Path(__file__).resolve().parents[1])) or "unknown")
