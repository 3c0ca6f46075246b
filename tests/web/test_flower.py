"""Flower on the project's app, behind basic auth, listing tasks by their readable names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline.bus.client import Client
from tests.conftest import Pipeline
from tests.helpers import BIN, free_port, served, wait_until

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
AUTH = ("admin", "flower-secret")


@pytest.fixture
def flower(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**pipeline.env, "TWEETFEED_FLOWER_AUTH": ":".join(AUTH)}
    argv = [str(BIN / "tweetfeed"), "flower", f"--port={port}"]
    with served(argv, env, f"http://127.0.0.1:{port}", tmp_path / "flower.log") as url:
        yield url


def test_flower_asks_for_basic_auth_and_lists_tasks_by_name(
    flower: str, pipeline: Pipeline
) -> None:
    assert requests.get(flower, timeout=5).status_code == 401
    assert requests.get(flower, auth=("admin", "wrong"), timeout=5).status_code == 401
    assert requests.get(flower, auth=AUTH, timeout=5).status_code == 200
    wait_until(lambda: requests.get(f"{flower}/api/workers", auth=AUTH, timeout=5).json(), 30,
               "Flower to see the worker")  # fmt: skip
    with Client(pipeline.broker_url) as client:
        client.add_activity(actor="user:1", verb="like", object="tweet:1", foreign_id="f:1")

    def listed() -> list[str]:
        tasks = requests.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        return [t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"]

    assert "tweetfeed.add_activity" in wait_until(listed, 30, "Flower to list the task")
