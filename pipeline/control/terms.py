"""Filter terms: the table people edit, and the fingerprint that says when it changed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import FilterTerm
from pipeline.control import redis_keys


@dataclass(frozen=True, slots=True)
class Term:
    id: int
    term: str


def enabled_terms(session: Session) -> list[Term]:
    rows = session.execute(
        select(FilterTerm.id, FilterTerm.term).where(FilterTerm.enabled).order_by(FilterTerm.id)
    )
    return [Term(row.id, row.term) for row in rows]


def fingerprint(terms: list[Term]) -> str:
    """Equal exactly when the sets of (id, term) are equal.

    The original app compared counts, so swapping one term for another went unnoticed.
    """
    lines = sorted(f"{t.id}\t{t.term}" for t in terms)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def add(session: Session, term: str) -> FilterTerm:
    text = term.strip()
    if not text:
        raise ValueError("a filter term cannot be empty")
    existing = session.scalar(select(FilterTerm).where(FilterTerm.term == text))
    if existing is not None:
        existing.enabled = True
        return existing
    row = FilterTerm(term=text, enabled=True)
    session.add(row)
    session.flush()
    return row


def remove(session: Session, term: str) -> bool:
    return bool(session.execute(delete(FilterTerm).where(FilterTerm.term == term)).rowcount)  # type: ignore[attr-defined]


def set_enabled(session: Session, term: str, enabled: bool) -> bool:
    stmt = update(FilterTerm).where(FilterTerm.term == term).values(enabled=enabled)
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def all_terms(session: Session) -> list[FilterTerm]:
    return list(session.scalars(select(FilterTerm).order_by(FilterTerm.id)))


def publish_if_changed(session: Session, redis: object) -> str | None:
    """Publish the new fingerprint on the control channel if the enabled terms changed.

    Returns the new fingerprint when it published, None when nothing changed.
    """
    current = fingerprint(enabled_terms(session))
    previous = redis.getset(redis_keys.TERMS_FINGERPRINT, current)  # type: ignore[attr-defined]
    if previous is not None and previous.decode() == current:
        return None
    redis.publish(redis_keys.CONTROL_CHANNEL, f"terms {current}")  # type: ignore[attr-defined]
    return current
