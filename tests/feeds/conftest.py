"""The feed tests that run a worker run twice: feeds on the test Redis server, and feeds spread
over a Redis Cluster of three masters (the broker then a Redis server apart)."""

from __future__ import annotations

import pytest

from tests.conftest import Database, Pipeline, fresh


@pytest.fixture(params=["redis", "redis-cluster"])
def pipeline(request: pytest.FixtureRequest, database: Database) -> Pipeline:
    """The session worker of ``database``'s dialect, its feeds on one server or a cluster."""
    return fresh(
        request.getfixturevalue("cluster_worker" if "cluster" in request.param else "worker")
    )
