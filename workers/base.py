"""The base task: one engine and one Redis client per worker process, a session per transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import sqlalchemy.exc
from celery import Task
from sqlalchemy.orm import Session, sessionmaker

from pipeline.runtime import Services
from pipeline.settings import Settings, get_settings
from pipeline.store.engine import make_engine, make_sessionmaker, transaction

# Outages of the database or Redis are retried with backoff until they end; anything else is
# a bug or bad input, which the pipeline dead-letters itself.
TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class PipelineTask(Task):  # type: ignore[misc]
    """Owns the resources a task needs; created lazily so that each forked worker has its own."""

    abstract = True
    autoretry_for = TRANSIENT
    retry_backoff = True
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = None

    _sessions: sessionmaker[Session] | None = None
    _redis: Any = None

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def redis(self) -> Any:
        if PipelineTask._redis is None:
            PipelineTask._redis = redis.Redis.from_url(self.settings.redis_url)
        return PipelineTask._redis

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block returns, rolled back if not."""
        if PipelineTask._sessions is None:
            PipelineTask._sessions = make_sessionmaker(make_engine(self.settings.database_url))
        with transaction(PipelineTask._sessions) as session:
            yield session

    @property
    def services(self) -> Services:
        """What ``pipeline`` functions need, with follow-up tasks sent through this app."""
        return Services(self.transaction, self.redis, self.settings, self._send)

    def _send(self, name: str, kwargs: dict[str, Any], queue: str | None) -> None:
        self.app.send_task(name, kwargs=kwargs, queue=queue)
