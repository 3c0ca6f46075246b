"""The follow graph (``follows``): which feeds follow which, and who counts as a celebrity.

A celebrity is a feed with more followers than CELEBRITY_THRESHOLD. Its activities are not
written into its followers' feeds; reads merge them in instead. The set of celebrities lives in
Redis beside the feeds and is recomputed from SQL whenever Redis has lost it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from models import Follow, table_of
from pipeline.feeds import ids
from pipeline.feeds.storage import sets
from pipeline.feeds.storage.base import Item, Source
from pipeline.store import dialects

_t = table_of(Follow)
Pair = tuple[str, str]  # (feed, target)


@dataclass(frozen=True, slots=True)
class Window:
    """What a new follow's backfill took: see :class:`Source`."""

    after: Item | None
    watermark: int


def add(session: Session, pairs: Sequence[Pair], windows: dict[Pair, Window] | None = None) -> None:
    """Record follows; a pair already followed keeps the window it had."""
    windows = windows or {}
    rows = []
    for feed, target in sorted(set(pairs)):
        window = windows.get((feed, target))
        after = window.after if window else None
        rows.append({
            "feed": feed, "target": target,
            "after_score": after.score if after else None,
            "after_id": after.activity_id if after else None,
            "watermark": window.watermark if window and after else None,
        })  # fmt: skip
    dialects.insert_ignore(session, _t, rows)


def sources(session: Session, feed: str, famous: set[str]) -> list[Source]:
    """``feed``'s own rows and the window of every target it follows, celebrities aside
    (reads merge those in)."""
    query = select(_t.c.target, _t.c.after_score, _t.c.after_id, _t.c.watermark).where(
        _t.c.feed == feed
    )
    found = [Source(feed)]
    for target, score, activity_id, watermark in session.execute(query.order_by(_t.c.target)):
        if target in famous or target == feed:
            continue
        after = Item(score, activity_id) if score is not None and activity_id is not None else None
        found.append(Source(target, after, watermark or 0))
    return found


def following_feeds(session: Session) -> list[str]:
    """Every feed that follows at least one other."""
    return list(session.scalars(select(_t.c.feed).distinct().order_by(_t.c.feed)))


def remove(session: Session, pairs: Sequence[Pair]) -> None:
    for feed, target in sorted(set(pairs)):
        session.execute(delete(_t).where(and_(_t.c.feed == feed, _t.c.target == target)))


def followers(session: Session, targets: Iterable[str]) -> dict[str, list[str]]:
    """The feeds following each of ``targets``, sorted, in one query per thousand targets.

    On PostgreSQL each target's followers come back as one string (``string_agg``) that Python
    splits: a row per follower cost the worker ~1.5 µs in psycopg and SQLAlchemy, four times
    what the whole query costs PostgreSQL (20,000 followers: 32 ms as rows, 8 ms as one string).
    A target whose count disagrees with its split (a feed name holding the separator, which
    no valid name does) is read again row by row.
    """
    found: dict[str, list[str]] = defaultdict(list)
    for part in dialects.chunks(sorted(set(targets))):
        condition = dialects.among(session, _t.c.target, part)
        if dialects.is_postgresql(session):
            joined = func.string_agg(_t.c.feed, _SEPARATOR)
            query = select(_t.c.target, func.count(), joined).where(condition)
            for target, count, feeds in session.execute(query.group_by(_t.c.target)):
                names = feeds.split(_SEPARATOR)
                # Already in index order nearly always, which makes the sort a single pass.
                found[target] = sorted(names) if len(names) == count else _rows_of(session, target)
            continue
        query = select(_t.c.target, _t.c.feed).where(condition)
        for target, feed in session.execute(query.order_by(_t.c.target, _t.c.feed)):
            found[target].append(feed)
    return found


_SEPARATOR = " "


def _rows_of(session: Session, target: str) -> list[str]:
    query = select(_t.c.feed).where(_t.c.target == target).order_by(_t.c.feed)
    return list(session.scalars(query))


def following(session: Session, feed: str) -> list[str]:
    """The targets ``feed`` follows."""
    return list(session.scalars(select(_t.c.target).where(_t.c.feed == feed).order_by(_t.c.target)))


def _count_over(session: Session, target: str, threshold: int) -> bool:
    # Counting stops at threshold + 1 rows, so a target with millions of followers costs the
    # same as one just over the line.
    inner = select(_t.c.feed).where(_t.c.target == target).limit(threshold + 1)
    return (session.scalar(select(func.count()).select_from(inner.subquery())) or 0) > threshold


def _over(session: Session, threshold: int) -> set[str]:
    query = select(_t.c.target).group_by(_t.c.target).having(func.count() > threshold)
    return set(session.scalars(query))


def recompute_celebrities(session: Session, redis: Any, threshold: int) -> set[str]:
    """Rebuild the Redis set of celebrities from ``follows``."""
    return sets.replace(redis, ids.CELEBRITIES, _over(session, threshold))


def celebrities(session: Session, redis: Any, threshold: int) -> set[str]:
    """The feeds whose activities are merged at read time instead of fanned out."""
    return sets.members(redis, ids.CELEBRITIES, lambda: _over(session, threshold))


def update_celebrity(session: Session, redis: Any, threshold: int, target: str) -> bool:
    """Re-decide one target after its followers changed; return whether it is a celebrity."""
    celebrities(session, redis, threshold)  # make sure the set exists before changing it
    over = _count_over(session, target, threshold)
    if over:
        redis.sadd(ids.CELEBRITIES, target)
    else:
        redis.srem(ids.CELEBRITIES, target)
    return over
