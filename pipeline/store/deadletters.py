"""The dead-letter table: what could not be stored, and why, kept for a person to look at."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from models import DeadLetter, table_of
from pipeline.store import dialects

# A dead letter keeps at most this much of its input: enough to see what was wrong with it.
SAMPLE_BYTES = 64 << 10


def row(source: str, reason: str, payload: bytes, received: datetime) -> dict[str, Any]:
    """A dead-letter row keyed by a digest, so replaying the same input adds nothing."""
    digest = hashlib.blake2b(b"\0".join((source.encode(), reason.encode(), payload)))
    return {
        "source": source,
        "reason": reason,
        "payload": payload,
        "received_at": received,
        "digest": digest.hexdigest()[:64],
    }


def record_all(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert dead-letter rows (each at most once); return how many were given."""
    unique = {r["digest"]: r for r in rows}
    dialects.insert_ignore(session, table_of(DeadLetter), [unique[d] for d in sorted(unique)])
    return len(unique)


def record(session: Session, source: str, reason: str, payload: bytes) -> None:
    """Dead-letter one payload now."""
    record_all(session, [row(source, reason, payload, datetime.now(UTC).replace(tzinfo=None))])
