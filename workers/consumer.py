"""Messages Celery cannot run land in the dead-letter table with the reason, not only in the log.

Celery acknowledges and drops a message whose body it cannot decode, whose content type it does
not accept, whose task name no worker knows, or that is no task message at all, leaving a log
line behind. Another app sending tasks by name deserves to find those where it finds every other
rejected input. The message is then handled as Celery handles it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache
from typing import Any

from celery.worker.consumer import Consumer
from sqlalchemy.orm import Session, sessionmaker

from pipeline.settings import get_settings
from pipeline.store import deadletters
from pipeline.store.engine import make_engine

log = logging.getLogger(__name__)


@cache
def _sessions() -> sessionmaker[Session]:
    # The consumer runs in the worker's main process: a pool-less engine, made on first use,
    # shares no connection with the forked pool processes.
    from sqlalchemy.pool import NullPool

    return sessionmaker(make_engine(get_settings().database_url, poolclass=NullPool))


def dead_letter(message: Any, reason: str) -> None:
    """Record ``message``'s body under ``reason``; log and go on if the database is away."""
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    route = (message.delivery_info or {}).get("routing_key") or "unknown"
    received = datetime.now(UTC).replace(tzinfo=None)
    row = deadletters.row(f"broker:{route}", reason, body[: deadletters.SAMPLE_BYTES], received)
    try:
        with _sessions().begin() as session:
            deadletters.record_all(session, [row])
    except Exception:
        log.exception("could not dead-letter a message (%s)", reason)


class DeadLetteringConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, dead-lettering the messages it would only log and drop."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        dead_letter(message, f"undecodable message ({message.content_type}): {exc}"[:500])
        super().on_decode_error(message, exc)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        name = (message.headers or {}).get("task")
        dead_letter(message, f"unknown task {name!r}"[:500])
        super().on_unknown_task(body, message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        dead_letter(message, "not a task message (no task name in its headers)")
        super().on_unknown_message(body, message)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        dead_letter(message, f"invalid task message: {exc}"[:500])
        super().on_invalid_task(body, message, exc)
