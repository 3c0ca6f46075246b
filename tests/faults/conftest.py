"""The fault suite: scenarios on a PostgreSQL and Redis servers of its own, killed and restarted
on purpose, each checked for exact counts (see README, "The fault suite").

``make faults`` runs every scenario (``TWEETFEED_FAULTS=all``); ``make test`` runs the ones not
marked ``faults_full``. The table of counts is printed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.servers import ROWS, PrivatePostgres, table

FULL = os.environ.get("TWEETFEED_FAULTS") == "all"


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    if FULL:
        return
    kept = [i for i in items if i.get_closest_marker("faults_full") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.section("fault suite: counts")
        terminalreporter.write_line(table())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's own temporary folder: the server may run as another OS user.
    folder = Path(tempfile.mkdtemp(prefix="tweetfeed-faults-pg-"))
    server = PrivatePostgres(folder).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
