"""The SQL feed backend (``feed_items``): the embedded default and the durable copy of Redis.

It never commits: it writes inside the caller's transaction, so feed items commit with what
justified them. Only items written to a feed directly are rows; a feed that follows others is
derived at read time from its own rows and a window of each target's (its ``sources``, see
:class:`~pipeline.feeds.storage.base.Source`), exactly what fan-out on write put into Redis.
That keeps the durable cost of an activity to its origin feeds, whatever its followers count.

Trimming a feed costs two statements, which per write would cost more than the
write, so a feed is trimmed when it gets an activity whose id is a multiple of a quarter of its
max length (at least ``TRIM_MIN``): the table holds about a quarter more than the feeds show.
Reads never show more than the max length either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, union
from sqlalchemy.orm import Session

from models import FeedItem, table_of
from pipeline.feeds.storage.base import Item, MaxLength, Source, by_feed
from pipeline.store import dialects

Sources = Callable[[str], list[Source]]

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


def _at_least(floor: Item) -> ColumnElement[bool]:
    same = and_(_t.c.score == floor.score, _t.c.activity_id == floor.activity_id)
    return or_(_newer(floor), same)


def _own(feed: str) -> list[Source]:
    return [Source(feed)]


class SqlFeedStore:
    """Feeds as rows of (feed, activity_id, score) in the caller's session."""

    def __init__(
        self, session: Session, max_length: MaxLength, sources: Sources | None = None
    ) -> None:
        self.session = session
        self.max_length = max_length
        self.sources = sources or _own

    def _derived(self, feed: str) -> list[Source] | None:
        """The sources of a feed that follows others; None for a feed of rows alone."""
        found = self.sources(feed)
        return None if found == [Source(feed)] else found

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
        derived = self._derived(feed)
        if derived is not None:
            floor = self._merged_floor(feed, derived)
            return self._merged(derived, limit, offset, before, after, floor)
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

    def _merged(
        self,
        sources: list[Source],
        limit: int,
        offset: int = 0,
        before: Item | None = None,
        after: Item | None = None,
        floor: Item | None = None,
    ) -> list[Item]:
        """A page of the union of ``sources``: each source's best ``offset + limit`` rows in
        one statement, merged and cut there."""
        parts = [
            self._window(s, before, after, floor).limit(offset + limit).subquery() for s in sources
        ]
        merged = union(*(select(p.c.score, p.c.activity_id) for p in parts)).subquery()
        order = (merged.c.score, merged.c.activity_id)
        query = select(*order).order_by(*(order if after else (c.desc() for c in order)))
        rows = self.session.execute(query.offset(offset).limit(limit)).all()
        items = [Item(r.score, r.activity_id) for r in rows]
        return items[::-1] if after is not None else items

    @staticmethod
    def _window(
        source: Source, before: Item | None, after: Item | None, floor: Item | None
    ) -> Select[tuple[int, int]]:
        query = select(_t.c.score, _t.c.activity_id).where(_t.c.feed == source.feed)
        if source.after is not None:
            query = query.where(or_(_newer(source.after), _t.c.activity_id > source.watermark))
        if floor is not None:
            query = query.where(_at_least(floor))
        if after is not None:
            return query.where(_newer(after)).order_by(_t.c.score, _t.c.activity_id)
        query = query.where(_older(before)) if before is not None else query
        return query.order_by(*_ORDER)

    def _merged_floor(self, feed: str, sources: list[Source]) -> Item | None:
        """The oldest item a derived feed shows: the one at its max length, if it is full."""
        found = self._merged(sources, 1, offset=self.max_length(feed) - 1)
        return found[0] if found else None

    def count(self, feed: str) -> int:
        derived = self._derived(feed)
        if derived is not None:
            return len(self._merged(derived, self.max_length(feed)))
        inner = select(_t.c.activity_id).where(_t.c.feed == feed).limit(self.max_length(feed))
        return int(self.session.scalar(select(func.count()).select_from(inner.subquery())) or 0)

    def score(self, feed: str, activity_id: int) -> int | None:
        sources = {s.feed: s for s in self.sources(feed)}
        condition = and_(
            dialects.among(self.session, _t.c.feed, list(sources)),
            _t.c.activity_id == activity_id,
        )
        for row in self.session.execute(select(_t.c.feed, _t.c.score).where(condition)):
            if sources[row.feed].holds(Item(row.score, activity_id)):
                return int(row.score)
        return None

    def oldest(self, feed: str) -> Item | None:
        derived = self._derived(feed)
        if derived is not None:
            found = self._merged(derived, self.max_length(feed))
            return found[-1] if found else None
        floor = self._floor(feed)
        if floor is not None:
            return floor
        query = select(_t.c.score, _t.c.activity_id).where(_t.c.feed == feed)
        row = self.session.execute(query.order_by(_t.c.score, _t.c.activity_id).limit(1)).first()
        return None if row is None else Item(row.score, row.activity_id)

    def exists(self, feed: str) -> bool:
        derived = self._derived(feed)
        if derived is not None:
            return bool(self._merged(derived, 1))
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

    def feeds(self) -> Iterator[str]:
        """Every feed with rows of its own, in order (feeds that follow others aside)."""
        yield from self.session.scalars(select(_t.c.feed).distinct().order_by(_t.c.feed))

    def all_items(self, feed: str) -> list[Item]:
        """The feed's items a read may show, newest first: what a Redis rebuild copies."""
        return self.page(feed, self.max_length(feed))
