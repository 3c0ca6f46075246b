"""Item-level reads of one feed: the celebrity merge, rebuild on read, and the scan that leaves
out what the feed owner's mutes, blocks and muted words keep out (``pipeline.feeds.filters``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from pipeline.feeds import active, activities, falloff, follows, ids
from pipeline.feeds.enrich import EnrichedActivity, enrich
from pipeline.feeds.filters import Rules
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.base import FeedStore, Item
from pipeline.runtime import Runtime

SCAN = 50  # items read at a time when a filter may leave some out


class CursorError(LookupError):
    """A ``before``/``after`` cursor that names no activity or group of the feed."""


class FeedItems:
    """Item-level reads of one feed in one session: celebrity merge and rebuild-on-read."""

    def __init__(self, rt: Runtime, session: Session, feed: str) -> None:
        self.rt, self.session, self.feed = rt, session, feed
        active.touch(rt, feed)
        self.sql = copies.sql(rt, session)
        self.cache = copies.cache(rt)
        self.feeds = [feed, *self._celebrities_followed()]

    def _celebrities_followed(self) -> list[str]:
        threshold = self.rt.settings.celebrity_threshold
        famous = follows.celebrities(self.session, self.rt.redis, threshold)
        if not famous:
            return []
        return [t for t in follows.following(self.session, self.feed) if t in famous]

    def _store(self, feed: str) -> FeedStore:
        if self.cache is None:
            return self.sql
        if not self.cache.whole(feed):
            # Added to, not replaced: writes that commit while this reads SQL must stay.
            items = falloff.keep(self.rt, self.session, feed, self.sql.all_items(feed))
            self.cache.fill(feed, items)
        return self.cache

    def page(
        self, limit: int, offset: int = 0, before: Item | None = None, after: Item | None = None
    ) -> list[Item]:
        merged: set[Item] = set()
        for feed in self.feeds:
            merged.update(self._store(feed).page(feed, offset + limit, before=before, after=after))
        ordered = sorted(merged, reverse=True)
        if after is not None:
            return ordered[::-1][offset : offset + limit][::-1]
        return ordered[offset : offset + limit]

    def count(self) -> int:
        total = sum(self._store(f).count(f) for f in self.feeds)
        return min(total, ids.max_length(self.feed, self.rt.settings))

    def cursor(self, activity_id: int) -> Item:
        for feed in self.feeds:
            score = self._store(feed).score(feed, activity_id)
            if score is not None:
                return Item(score, activity_id)
        found = activities.load(self.session, [activity_id]).get(activity_id)
        if found is None:
            raise CursorError(f"no activity {activity_id}")
        return found.item


def records(session: Session, items: Sequence[Item]) -> list[activities.ActivityRecord]:
    """The activities of ``items`` in order; any removed since the items were read is skipped."""
    found = activities.load(session, [i.activity_id for i in items])
    return [found[i.activity_id] for i in items if i.activity_id in found]


def visible(
    rt: Runtime, session: Session, feed: str, rules: Rules, limit: int, offset: int = 0,
    before: int | None = None, after: int | None = None,
) -> list[EnrichedActivity]:  # fmt: skip
    """A page of ``feed`` as :meth:`FeedItems.page` gives it, enriched, with what ``rules``
    keep out left out: offsets and cursors count only what is shown."""
    items = FeedItems(rt, session, feed)
    b = items.cursor(before) if before is not None else None
    a = items.cursor(after) if after is not None else None
    fields, want = rt.settings.enrich_fields, offset + limit
    step = max(want, SCAN)
    shown: list[EnrichedActivity] = []
    while len(shown) < want:
        got = items.page(step, 0, b, a)
        found = enrich(session, records(session, got), fields)
        shown += [e for e in (found[::-1] if a else found) if not rules.hides(e)]
        if len(got) < step:
            break
        a, b = (got[0], None) if a else (None, got[-1])
    window = shown[offset:want]
    return window[::-1] if after is not None else window
