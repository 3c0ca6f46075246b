"""The SQL feed backend (``feed_items``): the embedded default and the durable copy of Redis.

It never commits: it writes inside the caller's transaction, so feed items commit with what
justified them. Trimming a feed costs two statements, which per write would cost more than the
write, so a feed is trimmed when it gets an activity whose id is a multiple of a quarter of its
max length (at least ``TRIM_MIN``): the table holds about a quarter more than the feeds show.
Reads never show more than the max length either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from models import FeedItem, table_of
from pipeline.feeds.storage.base import Item, MaxLength, by_feed
from pipeline.store import dialects

TRIM_MIN = 16
_t = table_of(FeedItem)
_ORDER = (_t.c.score.desc(), _t.c.activity_id.desc())


def _older(cursor: Item) -> ColumnElement[bool]:
    return or_(
        _t.c.score < cursor.score,
        and_(_t.c.score == cursor.score, _t.c.activity_id < cursor.activity_id),
    )


def _newer(cursor: Item) -> ColumnElement[bool]:
    return or_(
        _t.c.score > cursor.score,
        and_(_t.c.score == cursor.score, _t.c.activity_id > cursor.activity_id),
    )


class SqlFeedStore:
    """Feeds as rows of (feed, activity_id, score) in the caller's session."""

    def __init__(self, session: Session, max_length: MaxLength) -> None:
        self.session = session
        self.max_length = max_length

    def add(self, entries: Sequence[tuple[str, Item]]) -> None:
        rows = {(f, i.activity_id): i.score for f, i in entries}
        dialects.insert_ignore(
            self.session,
            _t,
            [{"feed": f, "activity_id": a, "score": rows[f, a]} for f, a in sorted(rows)],
        )
        self.trim({f for f, i in entries if i.activity_id % self._trim_every(f) == 0})

    def _trim_every(self, feed: str) -> int:
        return max(TRIM_MIN, self.max_length(feed) // 4)

    def trim(self, feeds: Iterable[str]) -> None:
        """Delete what lies beyond each feed's max length."""
        for feed in sorted(feeds):
            floor = self._floor(feed)
            if floor is not None:
                condition = and_(_t.c.feed == feed, _older(floor))
                self.session.execute(delete(_t).where(condition))

    def _floor(self, feed: str) -> Item | None:
        """The oldest item a read may show: the one at position max_length, if the feed is full."""
        query = (
            select(_t.c.score, _t.c.activity_id)
            .where(_t.c.feed == feed)
            .order_by(*_ORDER)
            .offset(self.max_length(feed) - 1)
            .limit(1)
        )
        row = self.session.execute(query).first()
        return None if row is None else Item(row.score, row.activity_id)

    def remove(self, entries: Sequence[tuple[str, int]]) -> None:
        for feed, ids in sorted(by_feed(entries).items()):
            for part in dialects.chunks(sorted(ids)):
                condition = and_(
                    _t.c.feed == feed, dialects.among(self.session, _t.c.activity_id, part)
                )
                self.session.execute(delete(_t).where(condition))

    def page(
        self,
        feed: str,
        limit: int,
        *,
        offset: int = 0,
        before: Item | None = None,
        after: Item | None = None,
    ) -> list[Item]:
        if limit <= 0:
            return []
        query = select(_t.c.score, _t.c.activity_id).where(_t.c.feed == feed)
        floor = self._floor(feed)
        if floor is not None:
            query = query.where(or_(_newer(floor), _t.c.activity_id == floor.activity_id))
        if after is not None:
            query = query.where(_newer(after)).order_by(_t.c.score, _t.c.activity_id)
        else:
            query = query.where(_older(before)) if before is not None else query
            query = query.order_by(*_ORDER)
        rows = self.session.execute(query.offset(offset).limit(limit)).all()
        items = [Item(r.score, r.activity_id) for r in rows]
        return items[::-1] if after is not None else items

    def count(self, feed: str) -> int:
        inner = select(_t.c.activity_id).where(_t.c.feed == feed).limit(self.max_length(feed))
        return int(self.session.scalar(select(func.count()).select_from(inner.subquery())) or 0)

    def score(self, feed: str, activity_id: int) -> int | None:
        condition = and_(_t.c.feed == feed, _t.c.activity_id == activity_id)
        return self.session.scalar(select(_t.c.score).where(condition))

    def oldest(self, feed: str) -> Item | None:
        floor = self._floor(feed)
        if floor is not None:
            return floor
        query = select(_t.c.score, _t.c.activity_id).where(_t.c.feed == feed)
        row = self.session.execute(query.order_by(_t.c.score, _t.c.activity_id).limit(1)).first()
        return None if row is None else Item(row.score, row.activity_id)

    def exists(self, feed: str) -> bool:
        query = select(_t.c.activity_id).where(_t.c.feed == feed).limit(1)
        return self.session.execute(query).first() is not None

    def replace(self, feed: str, items: Iterable[Item]) -> None:
        self.session.execute(delete(_t).where(_t.c.feed == feed))
        newest = sorted(set(items), reverse=True)[: self.max_length(feed)]
        self.add([(feed, item) for item in newest])

    def remove_activities(self, activity_ids: Sequence[int]) -> None:
        """Take these activities out of every feed: one statement per thousand ids."""
        for part in dialects.chunks(sorted(set(activity_ids))):
            self.session.execute(
                delete(_t).where(dialects.among(self.session, _t.c.activity_id, part))
            )

    def feeds_of(self, activity_ids: Sequence[int]) -> list[tuple[str, int]]:
        """Every (feed, activity id) pair holding one of ``activity_ids``: what a delete undoes."""
        pairs: list[tuple[str, int]] = []
        for part in dialects.chunks(sorted(set(activity_ids))):
            query = select(_t.c.feed, _t.c.activity_id).where(
                dialects.among(self.session, _t.c.activity_id, part)
            )
            pairs += [(r.feed, r.activity_id) for r in self.session.execute(query)]
        return pairs

    def holding(self, feeds: Sequence[str], activity_ids: Iterable[int]) -> set[int]:
        """Which of ``activity_ids`` any of ``feeds`` holds."""
        found: set[int] = set()
        if not feeds:
            return found
        for part in dialects.chunks(sorted(set(activity_ids))):
            condition = and_(
                dialects.among(self.session, _t.c.feed, list(feeds)),
                dialects.among(self.session, _t.c.activity_id, part),
            )
            found.update(self.session.scalars(select(_t.c.activity_id).where(condition)))
        return found

    def feeds(self) -> Iterator[str]:
        """Every feed that holds at least one item, in order."""
        yield from self.session.scalars(select(_t.c.feed).distinct().order_by(_t.c.feed))

    def all_items(self, feed: str) -> list[Item]:
        """The feed's items a read may show, newest first: what a Redis rebuild copies."""
        return self.page(feed, self.max_length(feed))
