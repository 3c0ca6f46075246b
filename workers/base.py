"""The base task: one runtime per worker process, and every payload parsed before the body runs."""

from __future__ import annotations

from typing import Any

import redis
import sqlalchemy.exc
from celery import Task

from pipeline.bus import contract
from pipeline.runtime import Runtime
from pipeline.settings import get_settings

# Outages of the database or Redis are retried with backoff until they end; anything else is
# a bug or bad input, which the pipeline dead-letters itself.
TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


class PipelineTask(Task):  # type: ignore[misc]
    """Parses the payload through the task contract (a bad one is dead-lettered and the task
    acknowledged) and hands the body the parsed request and the process's runtime."""

    abstract = True
    typing = False  # the contract checks arguments, and dead-letters what does not fit
    autoretry_for = TRANSIENT
    retry_backoff = True
    # A retry waits unacknowledged in the worker: well inside the visibility timeout, or the
    # broker would deliver it again meanwhile.
    retry_backoff_max = max(1, min(60, get_settings().visibility_timeout // 2))
    retry_jitter = True
    max_retries = None

    _runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        """Created on first use, so that each forked worker process has its own connections."""
        if PipelineTask._runtime is None:
            PipelineTask._runtime = Runtime.from_settings()
        return PipelineTask._runtime

    def __call__(self, *args: Any, **payload: Any) -> Any:
        request = contract.accept(self.runtime.transaction, self.name, args, payload)
        if request is contract.REJECTED:
            return None
        return self.run(request)
