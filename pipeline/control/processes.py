"""``stream_processes`` rows: one per listener, kept current by its heartbeat."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from models import StreamProcess


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def register(session: Session, keys_name: str | None, state: str) -> int:
    row = StreamProcess(
        host=socket.gethostname(), pid=os.getpid(), keys_name=keys_name, state=state,
        started_at=_now(), last_heartbeat=_now(), tweets_received=0,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return int(row.id)


def heartbeat(
    session: Session, row_id: int, state: str, tweets_received: int, last_error: str | None
) -> None:
    values = {"state": state, "last_heartbeat": _now(), "tweets_received": tweets_received,
              "last_error": last_error}  # fmt: skip
    session.execute(update(StreamProcess).where(StreamProcess.id == row_id).values(**values))


def expire_stale(session: Session, older_than: float) -> int:
    """Delete rows whose process stopped beating ``older_than`` seconds ago."""
    cutoff = _now() - timedelta(seconds=older_than)
    result = session.execute(delete(StreamProcess).where(StreamProcess.last_heartbeat < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def forget(session: Session, row_id: int) -> None:
    """A listener that stops cleanly takes its row with it."""
    session.execute(delete(StreamProcess).where(StreamProcess.id == row_id))
