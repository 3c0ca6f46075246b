"""Real services for the tests: PostgreSQL, MariaDB, SQLite, Redis and Celery workers.

A server that does not answer skips its tests with the reason on a developer's machine and
fails them when ``CI`` is set, so a CI run can never pass by skipping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from models import Base
from pipeline.feeds import ids
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.store.engine import make_engine, make_sessionmaker
from pipeline.store.migrate import upgrade
from pipeline.store.redis_client import connect, is_cluster
from tests import cluster
from tests.brokers import Broker
from tests.helpers import BIN, ROOT, clean_env, wait_until

CI = bool(os.environ.get("CI"))
ADMIN_URLS = {
    "postgresql": os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/mysql"),
}
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = {"unit": 10, "postgresql": 11, "mariadb": 12, "sqlite": 13, "cluster-broker": 9}
DIALECTS = ["postgresql", "mariadb", "sqlite"]
QUEUES = "control,fanout,ingest,fanout_low"  # in priority order, as a worker takes them


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {type(exc).__name__}: {exc}"
    if CI:
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


def _server_database(dialect: str, name: str) -> tuple[str, Engine]:
    admin = make_engine(ADMIN_URLS[dialect], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            charset = " CHARACTER SET utf8mb4" if dialect == "mariadb" else ""
            conn.execute(text(f"CREATE DATABASE {name}{charset}"))
    except Exception as exc:
        admin.dispose()
        unavailable(dialect, exc)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    return url, admin


@dataclass
class Database:
    """A migrated, empty database of one dialect, and how to reach it."""

    dialect: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    def clear(self) -> None:
        with self.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(scope="session", params=DIALECTS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    dialect: str = request.param
    name = f"tweetfeed_test_{uuid.uuid4().hex[:8]}"
    admin = None
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / name}.sqlite3"
    else:
        url, admin = _server_database(dialect, name)
    engine = make_engine(url)
    upgrade(engine)
    yield Database(dialect, url, engine, make_sessionmaker(engine))
    engine.dispose()
    if admin is not None:
        # A subprocess that is still shutting down may hold a connection to the test database.
        force = " WITH (FORCE)" if dialect == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


@pytest.fixture
def db(database: Database) -> Database:
    """The session's database of one dialect, emptied for this test."""
    database.clear()
    return database


def _redis(db_number: int) -> tuple[str, Any]:
    url = f"{TEST_REDIS_URL}/{db_number}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable("Redis", exc)
    return url, client


@pytest.fixture
def redis_client() -> Any:
    """A Redis client on a database of the test server that no worker uses, emptied."""
    _, client = _redis(REDIS_DB["unit"])
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three masters of this session's own (``tests.cluster``)."""
    why = cluster.missing()
    if why is not None:
        unavailable("a Redis Cluster", RuntimeError(why))
    with cluster.redis_cluster(tmp_path_factory.mktemp("cluster")) as made:
        yield made.url


@pytest.fixture
def cluster_client(redis_cluster_url: str) -> Any:
    """A ``RedisCluster`` client of the session's cluster, every master emptied."""
    client = connect(redis_cluster_url)
    assert is_cluster(client)
    client.flushall(target_nodes=client.PRIMARIES)
    return client


@pytest.fixture(params=["server", "cluster"])
def feeds_redis(request: pytest.FixtureRequest) -> Any:
    """The feeds' Redis, emptied: the test server, or a Redis Cluster (feeds on three masters)."""
    return request.getfixturevalue(
        "redis_client" if request.param == "server" else "cluster_client"
    )


def feed_key(client: Any, feed: str) -> str:
    """``feed``'s Redis key as the feed store names it on ``client`` (one server, or a cluster)."""
    return ids.key_for(is_cluster(client))(feed)


@dataclass
class Pipeline:
    """A real Celery worker subprocess bound to one database and its own Redis database."""

    db: Database
    redis_url: str
    redis: Any
    env: dict[str, str]
    broker: Broker | None = None  # None: the Redis at redis_url is the broker

    @property
    def broker_url(self) -> str:
        return self.redis_url if self.broker is None else self.broker.url

    def idle(self) -> bool:
        """True once every parked batch has been stored and released and no task waits."""
        if any(self.redis.scan_iter("{tweetfeed}:batch:*", count=1000)):
            return False
        return not (self.broker.depths()["ingest"] if self.broker else self.redis.llen("ingest"))

    def wait_idle(self, timeout: float = 60) -> None:
        wait_until(self.idle, timeout, "the worker to store every batch")

    def settled(self) -> bool:
        """True once no task waits in any queue and none is being run (acks_late keeps a
        running task unacknowledged until it returns)."""
        if self.broker is not None:
            return self.idle() and not self.broker.pending()
        waiting = sum(self.redis.llen(q) for q in QUEUES.split(","))
        return self.idle() and not waiting and not self.redis.hlen("unacked")

    def wait_settled(self, timeout: float = 60) -> None:
        # Three quiet polls in a row; on RabbitMQ, quiet for longer than its statistics interval.
        quiet: list[float] = []
        hold = 0.0 if self.broker is None else self.broker.settle_seconds

        def steady() -> bool:
            if not self.settled():
                quiet.clear()
                return False
            quiet.append(time.monotonic())
            return len(quiet) >= 3 and quiet[-1] - quiet[0] >= hold

        wait_until(steady, timeout, "every task to finish")

    def runtime(self) -> Runtime:
        """Feed reads against this worker's database and Redis."""
        settings = Settings.from_env(self.env)
        return Runtime(self.db.sessions, self.redis, settings)


@pytest.fixture(scope="session")
def worker(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    redis_url, client = _redis(REDIS_DB[database.dialect])
    client.flushdb()
    var = tmp_path_factory.mktemp("var")
    with _session_worker(database, redis_url, client, var, redis_url) as made:
        yield made


@pytest.fixture(scope="session")
def cluster_worker(
    database: Database, redis_cluster_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """:func:`worker`, its feeds and batches in the session's Redis Cluster, its broker a
    database of the test Redis server."""
    broker_url, broker = _redis(REDIS_DB["cluster-broker"])
    broker.flushdb()
    client = connect(redis_cluster_url)
    client.flushall()
    var = tmp_path_factory.mktemp("var")
    with _session_worker(database, redis_cluster_url, client, var, broker_url) as made:
        yield made


@contextmanager
def _session_worker(
    database: Database, redis_url: str, client: Any, var: Path, broker_url: str
) -> Iterator[Pipeline]:
    env = clean_env(
        TWEETFEED_DATABASE_URL=database.url,
        TWEETFEED_REDIS_URL=redis_url,
        TWEETFEED_BROKER_URL=broker_url,
        TWEETFEED_VAR_DIR=str(var),
        TWEETFEED_BATCH_WAIT_MS="50",
        # Small enough that the feed tests reach chunked fan-outs and celebrities.
        TWEETFEED_CELEBRITY_THRESHOLD="5",
        TWEETFEED_FANOUT_CHUNK_SIZE="2",
    )
    log_path = var / "worker.log"
    name = f"test-{database.dialect}{'-cluster' if broker_url != redis_url else ''}@%h"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "workers", "worker", "-Q", QUEUES, "-c", "2",
             "--loglevel=INFO", "-n", name],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: b" ready." in log_path.read_bytes() or process.poll() is not None,
                   60, "the Celery worker to start")  # fmt: skip
        if process.poll() is not None:
            pytest.fail("celery worker exited:\n" + log_path.read_text()[-3000:])
        broker = None if broker_url == redis_url else Broker(broker_url)
        yield Pipeline(database, redis_url, client, env, broker)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def pipeline(worker: Pipeline) -> Pipeline:
    """The worker of the current dialect, with an emptied database and no leftover batches."""
    return fresh(worker)


def fresh(worker: Pipeline) -> Pipeline:
    """``worker`` once it is idle, its database and its tweetfeed keys emptied."""
    worker.wait_settled()
    worker.db.clear()
    stale = [k for p in ("tweetfeed:*", "{tweetfeed}:*") for k in worker.redis.scan_iter(p)]
    if stale:
        worker.redis.delete(*stale)
    return worker
