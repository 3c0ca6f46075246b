"""The one object every pipeline operation gets: SQL sessions, Redis, settings, the task sender,
and the work that waits for a commit.

Workers build one per process from their base task; the web app, the CLI and tests build their
own. Inside :meth:`Runtime.transaction`, tasks sent with :meth:`Runtime.send` and callbacks given
to :meth:`Runtime.after_commit` run only once that transaction has committed, and not at all if
it rolls back: a follow-up never runs ahead of the rows that justify it. Nothing here imports
celery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from pipeline.bus.sender import TaskSender
from pipeline.settings import Settings, get_settings
from pipeline.store import redis_client
from pipeline.store.engine import sessionmaker_for, transaction


class Sender(Protocol):
    """Publishes a task by name (``pipeline.bus.sender.TaskSender`` is the one in use)."""

    def send(self, name: str, kwargs: dict[str, Any], queue: str | None = None) -> str: ...


@dataclass(frozen=True, eq=False)
class Runtime:
    sessions: sessionmaker[Session]
    redis: Any = field(repr=False)
    settings: Settings
    # None: one TaskSender on BROKER_URL, opened on first use.
    sender: Sender | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Runtime:
        """A runtime on new connections to the configured database and Redis."""
        settings = settings or get_settings()
        redis = redis_client.connect(settings.redis_url)
        return cls(sessionmaker_for(settings.database_url), redis, settings)

    def _sender(self) -> Sender:
        if self.sender is None:
            object.__setattr__(self, "sender", TaskSender(self.settings.celery_broker_url))
        assert self.sender is not None
        return self.sender

    def _pending(self) -> list[list[Callable[[], object]]]:
        stack: list[list[Callable[[], object]]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction; once it commits, run what was queued for after it."""
        stack = self._pending()
        stack.append([])
        try:
            with transaction(self.sessions) as session:
                yield session
        except BaseException:
            stack.pop()
            raise
        for callback in stack.pop():
            callback()

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the innermost open transaction commits (now, if none is open)."""
        stack = self._pending()
        if stack:
            stack[-1].append(callback)
        else:
            callback()

    def send(self, name: str, kwargs: dict[str, Any], queue: str | None = None) -> None:
        """Send task ``name`` after the open transaction commits (at once outside one)."""
        self.after_commit(partial(self._sender().send, name, kwargs, queue))


@cache
def default_runtime() -> Runtime:
    """This process's runtime on the configured database and Redis (for reads from a shell)."""
    return Runtime.from_settings()
