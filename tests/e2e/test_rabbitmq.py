"""The rest of the pipeline on RabbitMQ: beat's schedule reaches a worker, Flower watches the
workers, and a worker SIGKILLed mid-fan-out loses nothing (acks late: RabbitMQ gives a dead
consumer's unacknowledged messages back when its connection drops)."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from models import Activity, Follow
from pipeline.bus.client import Client
from tests.brokers import env_for, rabbitmq
from tests.conftest import QUEUES, Database
from tests.helpers import BIN, ROOT, free_port, wait_until, worker
from tests.scenario import own_env, own_pipeline

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_beat_and_flower_on_rabbitmq(db: Database, tmp_path: Path) -> None:
    with own_pipeline(db, tmp_path, "worker", "rabbitmq", POLL_INTERVAL="1") as p:
        beat_argv = [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel=INFO"]
        beat = _start([*beat_argv, "-s", str(tmp_path / "schedule")], p.env, tmp_path / "beat.log")
        port = free_port()
        flower_env = {**p.env, "TWEETFEED_FLOWER_AUTH": "ops:secret"}
        flower = _start([str(BIN / "tweetfeed"), "flower", f"--port={port}"], flower_env,
                        tmp_path / "flower.log")  # fmt: skip
        try:
            log = tmp_path / "worker.log"
            wait_until(lambda: b"tweetfeed.poll_filter_terms" in log.read_bytes(), 60,
                       "a worker to run beat's poll of the filter terms")  # fmt: skip

            def workers() -> dict[str, object]:
                try:
                    url = f"http://127.0.0.1:{port}/api/workers"
                    return httpx.get(url, auth=("ops", "secret"), timeout=5).json()
                except (httpx.HTTPError, ValueError):  # not up yet, or no worker known yet
                    return {}

            seen = wait_until(workers, 60, "Flower to list the worker")
            assert any(name.startswith("worker-") for name in seen), seen
        finally:
            _stop(beat)
            _stop(flower)
        assert b"ERROR" not in (tmp_path / "beat.log").read_bytes()


def test_a_worker_sigkilled_mid_fan_out_loses_nothing_on_rabbitmq(
    db: Database, tmp_path: Path
) -> None:
    followers, activities = 600, 20
    feeds, env = own_env(db, tmp_path, FANOUT_CHUNK_SIZE="20", BATCH_WAIT_MS="50")
    with rabbitmq() as broker, ExitStack() as stack:
        env = env_for(broker, env)
        first = stack.enter_context(worker(env, tmp_path / "w1.log", QUEUES, 2))
        with Client(broker.url) as client:
            client.follow_many([{"feed": f"timeline:f{n}", "target": "user:1"}
                                for n in range(followers)])  # fmt: skip

            def followed() -> bool:
                with db.sessions() as session:
                    return session.scalar(select(func.count()).select_from(Follow)) == followers

            wait_until(followed, 60, "the follows to be stored")
            for n in range(activities):
                client.add_activity(actor="user:1", verb="tweet", object=f"post:{n}")
        log = tmp_path / "w1.log"
        wait_until(lambda: log.read_bytes().count(b"tweetfeed.fanout_chunk") > 10, 60,
                   "fan-out chunks to run")  # fmt: skip
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        stack.enter_context(worker(env, tmp_path / "w2.log", QUEUES, 2))

        def every_feed_full() -> bool:
            pipe = feeds.pipeline(transaction=False)
            for n in range(followers):
                pipe.zcard(f"tweetfeed:feed:timeline:f{n}")
            return all(count == activities for count in pipe.execute())

        wait_until(every_feed_full, 120, "every follower feed to hold every activity")
        assert b"tweetfeed.fanout_chunk" in (tmp_path / "w2.log").read_bytes()
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == activities
