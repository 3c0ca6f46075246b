"""Reading feeds: ``get_feed("timeline:7")`` returns a lazy, sliceable, countable sequence.

Nothing is read until it is sliced, counted, iterated or paged, and each of those is one short
session. Pages are newest first, by offset (``feed[20:40]``) or by cursor (``feed.page(25,
before=<activity id>)``), enriched with the tweets and users they reference. A flat feed that
follows a celebrity (see ``pipeline.feeds.follows``) has that feed's items merged in at read time. A
feed Redis has lost is rebuilt from SQL by the read that finds it missing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from sqlalchemy.orm import Session

from pipeline.feeds import activities, hydrated, ids, marks
from pipeline.feeds.aggregate import SHOWN_PER_GROUP, Group, group, key_of
from pipeline.feeds.enrich import EnrichedActivity, enrich
from pipeline.feeds.filters import Rules, rules_for
from pipeline.feeds.hydrated import HydratedCache, Lookup
from pipeline.feeds.items import CursorError, FeedItems, records, visible
from pipeline.feeds.pages import Page, complete, from_enriched, ready
from pipeline.feeds.storage.base import Item
from pipeline.runtime import Runtime, default_runtime

PAGE = 25


class FlatFeed:
    """A flat feed as a lazy sequence of :class:`EnrichedActivity`, newest first."""

    def __init__(self, feed: str, rt: Runtime) -> None:
        self.feed, self.rt = ids.check(feed), rt

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.feed!r})"

    def __len__(self) -> int:
        with self.rt.sessions() as session:
            rules = self._rules(session)
            if rules is not None:
                whole = ids.max_length(self.feed, self.rt.settings)
                return len(visible(self.rt, session, self.feed, rules, whole))
            return FeedItems(self.rt, session, self.feed).count()

    def _rules(self, session: Session) -> Rules | None:
        return rules_for(session, self.rt.redis, self.feed)

    @overload
    def __getitem__(self, index: int) -> EnrichedActivity: ...

    @overload
    def __getitem__(self, index: slice) -> list[EnrichedActivity]: ...

    def __getitem__(self, index: int | slice) -> EnrichedActivity | list[EnrichedActivity]:
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("feeds slice with a step of 1 only")
            start, stop = index.start or 0, index.stop
            if start < 0 or (stop is not None and stop < 0):
                start, stop, _ = index.indices(len(self))
            end = ids.max_length(self.feed, self.rt.settings) if stop is None else stop
            return self._read(max(end - start, 0), offset=start)
        position = index + len(self) if index < 0 else index
        found = self._read(1, offset=position) if position >= 0 else []
        if not found:
            raise IndexError(f"{self.feed} has no item {index}")
        return found[0]

    def __iter__(self) -> Iterator[EnrichedActivity]:
        before: int | None = None
        while True:
            page = self.page(100, before=before)
            yield from page
            if len(page) < 100:
                return
            before = page[-1].activity.id

    def page(
        self, limit: int = PAGE, *, before: int | None = None, after: int | None = None
    ) -> list[EnrichedActivity]:
        """Up to ``limit`` activities older than ``before`` or newer than ``after`` (ids)."""
        return self._read(limit, before=before, after=after)

    def _read(
        self, limit: int, *, offset: int = 0, before: int | None = None, after: int | None = None
    ) -> list[EnrichedActivity]:
        return self.read_page(limit, offset=offset, before=before, after=after).enriched()

    def read_page(
        self, limit: int = PAGE, *, offset: int = 0, before: int | None = None,
        after: int | None = None,
    ) -> Page:  # fmt: skip
        """A page as ready JSON. With the hydrated cache on, a page of a Redis feed that merges
        no celebrity is one Redis round trip when everything on it is cached. A feed whose owner
        mutes, blocks or mutes words is read through :func:`visible` instead (the page script
        answers none of those, so only the reads it cannot answer ask for the owner's rules)."""
        cache = hydrated.for_reads(self.rt)
        found = self._lookup(cache, limit, offset, before, after) if cache is not None else None
        if cache is not None and found is not None:
            return complete(self.rt, cache, found)
        fields = self.rt.settings.enrich_fields
        with self.rt.sessions() as session:
            rules = self._rules(session)
            if rules is not None:
                shown = visible(self.rt, session, self.feed, rules, limit, offset, before, after)
                return from_enriched(shown, fields)
            if cache is None:
                batch = self._records(session, limit, offset, before, after)
                return from_enriched(enrich(session, batch, fields), fields)
            items = self._items(session, limit, offset, before, after)
        return complete(self.rt, cache, cache.lookup((i.activity_id, i.score) for i in items))

    def cached_page(
        self, limit: int = PAGE, *, before: int | None = None, after: int | None = None
    ) -> Page | None:
        """The page from Redis alone (one round trip, no SQL), or None if it needs SQL: then
        :meth:`read_page` reads it."""
        cache = hydrated.for_reads(self.rt)
        found = self._lookup(cache, limit, 0, before, after) if cache is not None else None
        return ready(found, self.rt.settings.enrich_fields) if found is not None else None

    def _lookup(
        self, cache: HydratedCache, limit: int, offset: int, before: int | None,
        after: int | None,
    ) -> Lookup | None:  # fmt: skip
        if limit <= 0:
            return None
        mark = self.rt.settings.active_days is not None
        return cache.page(self.feed, limit, offset, before, after, mark)

    def _items(
        self, session: Session, limit: int, offset: int, before: int | None, after: int | None
    ) -> list[Item]:
        items = FeedItems(self.rt, session, self.feed)
        b = items.cursor(before) if before is not None else None
        a = items.cursor(after) if after is not None else None
        return items.page(limit, offset, b, a)

    def _records(
        self, session: Session, limit: int, offset: int, before: int | None, after: int | None
    ) -> list[activities.ActivityRecord]:
        return records(session, self._items(session, limit, offset, before, after))


class AggregatedFeed:
    """An aggregated feed as a lazy sequence of :class:`Group`, newest group first."""

    def __init__(self, feed: str, rt: Runtime) -> None:
        self.feed, self.rt = ids.check(feed), rt

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.feed!r})"

    def _groups(self, session: Session) -> list[Group]:
        items = FeedItems(self.rt, session, self.feed)
        found = records(session, items.page(ids.max_length(self.feed, self.rt.settings)))
        rules = rules_for(session, self.rt.redis, self.feed)
        if rules is not None:
            kept = {e.activity.id for e in enrich(session, found) if not rules.hides(e)}
            found = [r for r in found if r.id in kept]
        return group(found, key_of(self.feed, self.rt.settings))

    def __len__(self) -> int:
        with self.rt.sessions() as session:
            return len(self._groups(session))

    def __getitem__(self, index: slice) -> list[Group]:
        with self.rt.sessions() as session:
            return self._enriched(session, self._groups(session)[index])

    def __iter__(self) -> Iterator[Group]:
        yield from self[:]

    def _enriched(self, session: Session, groups: list[Group]) -> list[Group]:
        shown = [r for g in groups for r in g.records[:SHOWN_PER_GROUP]]
        fields = self.rt.settings.enrich_fields
        enriched = {e.activity.id: e for e in enrich(session, shown, fields)}
        for g in groups:
            g.activities = [enriched[r.id] for r in g.records[:SHOWN_PER_GROUP]]
        return groups

    def page(
        self, limit: int = PAGE, *, before: str | None = None, after: str | None = None
    ) -> list[Group]:
        """Up to ``limit`` groups older than group ``before`` or newer than group ``after``."""
        with self.rt.sessions() as session:
            return self._enriched(
                session, self._window(self._groups(session), limit, before, after)
            )

    def _window(
        self, groups: list[Group], limit: int, before: str | None, after: str | None
    ) -> list[Group]:
        ids = [g.id for g in groups]
        for cursor in (before, after):
            if cursor is not None and cursor not in ids:
                raise CursorError(f"{self.feed} has no group {cursor!r}")
        if before is not None:
            return groups[ids.index(before) + 1 :][:limit]
        if after is not None:
            return groups[: ids.index(after)][-limit:] if limit > 0 else []
        return groups[:limit]


class NotificationFeed(AggregatedFeed):
    """An aggregated feed whose groups are seen or unseen, read or unread."""

    def _groups(self, session: Session) -> list[Group]:
        groups = super()._groups(session)
        marks.apply(groups, marks.load(session, self.feed))
        return groups

    def counts(self) -> dict[str, int]:
        """``unseen`` and ``unread`` group counts."""
        with self.rt.sessions() as session:
            return _counts(self._groups(session))

    def page_with_counts(
        self, limit: int = PAGE, *, before: str | None = None, after: str | None = None
    ) -> tuple[list[Group], dict[str, int]]:
        """:meth:`page` and :meth:`counts` from one read of the feed."""
        with self.rt.sessions() as session:
            groups = self._groups(session)
            page = self._enriched(session, self._window(groups, limit, before, after))
        return page, _counts(groups)

    def mark_seen(self, group_ids: Sequence[str] | None = None) -> int:
        """Mark every group (or the listed ones) seen; return how many were marked."""
        return self._mark("seen", group_ids)

    def mark_read(self, group_ids: Sequence[str] | None = None) -> int:
        """Mark every group (or the listed ones) read, and so seen too."""
        return self._mark("read", group_ids)

    def _mark(self, kind: str, group_ids: Sequence[str] | None) -> int:
        with self.rt.sessions() as session, session.begin():
            return marks.mark(session, self.feed, kind, self._groups(session), group_ids)


def _counts(groups: Sequence[Group]) -> dict[str, int]:
    return {"unseen": sum(not g.seen for g in groups), "unread": sum(not g.read for g in groups)}


Feed = FlatFeed | AggregatedFeed | NotificationFeed


def get_feed(feed: str, rt: Runtime | None = None) -> Feed:
    """The feed ``slug:key`` as a lazy sequence; its type follows from the slug."""
    kind = ids.feed_type(ids.check(feed))
    rt = rt or default_runtime()
    if kind is ids.FeedType.NOTIFICATION:
        return NotificationFeed(feed, rt)
    if kind is ids.FeedType.AGGREGATED:
        return AggregatedFeed(feed, rt)
    return FlatFeed(feed, rt)
