"""A Node.js app enqueues ``tweetfeed.add_activity`` with celery-node
(tests/e2e/node/add_activity.js) and a real Celery worker stores the activity in PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models import Activity
from pipeline.settings import Settings
from pipeline.web.app import create_app
from tests.conftest import Database, Pipeline
from tests.helpers import ROOT, wait_until
from tests.scenario import own_pipeline

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
NODE = shutil.which("node")
SCRIPT = ROOT / "tests" / "e2e" / "node" / "add_activity.js"
CELERY_NODE = ROOT / "tests" / "e2e" / "node" / "node_modules" / "celery-node"

# Checked at import, so that no database or worker is started for a test that cannot run.
if NODE is None:
    pytest.skip("node is not on PATH", allow_module_level=True)
if not CELERY_NODE.is_dir():
    MISSING = "celery-node is not installed in tests/e2e/node: run `npm ci --prefix tests/e2e/node`"
    if os.environ.get("CI"):
        pytest.fail(f"{MISSING} (CI is set, and `make test` installs it)", pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture(params=["redis", "rabbitmq"])
def pipeline_on(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> Iterator[Pipeline]:
    with own_pipeline(db, tmp_path, "worker", request.param) as made:
        yield made


def test_a_node_app_adds_an_activity_with_celery_node(pipeline_on: Pipeline) -> None:
    pipeline = pipeline_on
    payload = {
        "actor": "user:42",
        "verb": "like",
        "object": "tweet:123",
        "foreign_id": "like:42:123",
        "to": ["notification:7"],
    }
    sent = subprocess.run(
        [str(NODE), str(SCRIPT), pipeline.broker_url, json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert sent.returncode == 0, sent.stderr
    task_id, kwargs = sent.stdout.splitlines()
    uuid.UUID(task_id)
    # What it sent matches the schema tweetfeed serves for the task.
    with TestClient(create_app(Settings.from_env(pipeline.env))) as web:
        schema = web.get("/api/schemas/tweetfeed.add_activity").json()
    errors = [
        e.message for e in jsonschema_rs.validator_for(schema).iter_errors(json.loads(kwargs))
    ]
    assert not errors, errors

    def stored() -> Activity | None:
        with pipeline.db.sessions() as session:
            query = select(Activity).where(Activity.foreign_id == payload["foreign_id"])
            return session.scalars(query).one_or_none()

    row = wait_until(stored, 30, "the activity sent from Node.js to be stored")
    assert (row.actor, row.verb, row.object) == ("user:42", "like", "tweet:123")
    assert row.to_feeds is not None and json.loads(row.to_feeds) == payload["to"]
