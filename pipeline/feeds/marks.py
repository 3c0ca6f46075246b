"""Seen and read marks of notification feeds (``feed_marks``), kept in SQL only: they are small,
and a notification read loads them in one query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from models import FeedMark, table_of
from pipeline.feeds.aggregate import Group
from pipeline.store import dialects

_t = table_of(FeedMark)
KINDS = ("seen", "read")


def load(session: Session, feed: str) -> dict[str, int]:
    query = select(_t.c.mark, _t.c.score).where(_t.c.feed == feed)
    return {mark: score for mark, score in session.execute(query)}


def apply(groups: Sequence[Group], marks: dict[str, int]) -> None:
    """Set each group's ``seen`` and ``read``: a mark covers a group up to the score it had
    when marked, so a new activity joining a read group makes it unread again."""
    for g in groups:
        g.seen = g.score <= max(marks.get("seen", -1), marks.get(f"seen:{g.id}", -1))
        g.read = g.score <= max(marks.get("read", -1), marks.get(f"read:{g.id}", -1))


def mark(
    session: Session, feed: str, kind: str, groups: Sequence[Group], ids: Sequence[str] | None
) -> int:
    """Mark every group (``ids`` None) or the listed ones as ``kind``; return how many."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if ids is None:
        chosen = list(groups)
        wanted = {kind: max((g.score for g in groups), default=0)}
    else:
        chosen = [g for g in groups if g.id in set(ids)]
        wanted = {f"{kind}:{g.id}": g.score for g in chosen}
    if kind == "read":  # reading a notification means having seen it
        wanted.update({k.replace("read", "seen", 1): v for k, v in wanted.items()})
    rows = [{"feed": feed, "mark": m, "score": s} for m, s in sorted(wanted.items())]
    dialects.insert_ignore(session, _t, rows)
    for row in rows:
        condition = and_(_t.c.feed == feed, _t.c.mark == row["mark"], _t.c.score < row["score"])
        session.execute(update(_t).where(condition).values(score=row["score"]))
    return len(chosen)
