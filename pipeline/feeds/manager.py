"""The public feed tasks, whole: each writes in one transaction, and whatever Redis or other
tasks must do follows once it commits (see ``pipeline.runtime``).

Every function takes the request its payload was parsed into (``pipeline.feeds.task_payloads``);
a payload that failed to parse never reaches here. Each function is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from pipeline.feeds import activities, fanout, filters, follows, ids
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.base import Item
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.feeds.task_payloads import (
    BroadcastRequest,
    ChunkRequest,
    FollowRequest,
    RemoveRequest,
)
from pipeline.runtime import Runtime


def add_activity(rt: Runtime, row: dict[str, Any]) -> int:
    """Store the activity (once per foreign_id) and fan it out; return its id."""
    with rt.transaction() as session:
        (activity,) = activities.insert(session, [row])
        fanout.fan_out(rt, session, [activity])
    return activity.id


def remove_activity(rt: Runtime, request: RemoveRequest) -> None:
    """Delete the activity and take it out of every feed it reached."""
    with rt.transaction() as session:
        found: list[int] = []
        if request.foreign_id is not None:
            found = [a.id for a in activities.by_foreign_id(session, [request.foreign_id])]
        elif request.activity_id is not None:
            found = list(activities.load(session, [request.activity_id]))
        # Clears Redis before its commit as well as after: a rerun of a task that died in
        # between finds no activity left to look up.
        fanout.remove(rt, session, found)


def broadcast(rt: Runtime, request: BroadcastRequest) -> int:
    """Store one activity and put it into every listed feed (followers are not involved)."""
    with rt.transaction() as session:
        (activity,) = activities.insert(session, [request.activity])
        delivery = fanout.Delivery()
        if len(request.feeds) <= rt.settings.fanout_chunk_size:
            delivery.entries = [(feed, activity.item) for feed in request.feeds]
        else:
            delivery.chunks = fanout.chunk_payloads(rt, activity, request.feeds, direct=True)
        fanout.deliver(rt, session, delivery)
    return activity.id


def follow(rt: Runtime, request: FollowRequest) -> None:
    """Record the follows with the window each backfill takes, and backfill each follower
    feed in Redis with its target's newest items (SQL derives the feed from the window)."""
    threshold = rt.settings.celebrity_threshold
    with rt.transaction() as session:
        rows, sql = copies.rows(rt, session), copies.sql(rt, session)
        watermark = activities.newest_id(session)
        windows: dict[follows.Pair, follows.Window] = {}
        entries: list[tuple[str, Item]] = []
        famous = follows.celebrities(session, rt.redis, threshold)
        for feed, target in sorted(set(request.pairs)):
            newest = rows.page(target, request.backfill + 1)
            taken = newest[: request.backfill]
            left = newest[request.backfill] if len(newest) > request.backfill else None
            windows[feed, target] = follows.Window(left, watermark)
            if target not in famous and copies.cache(rt) is not None:
                entries += [(feed, i) for i in _room(rt, sql, feed, taken)]
        follows.add(session, request.pairs, windows)
        copies.cache_add(rt, entries)
    _recount(rt, {t for _, t in request.pairs})


def _room(rt: Runtime, sql: SqlFeedStore, feed: str, items: list[Item]) -> list[Item]:
    """The backfill items a feed has room for: only when it is full are items older than its
    oldest left out, as they would be trimmed at once."""
    shown = sql.all_items(feed)
    if len(shown) >= ids.max_length(feed, rt.settings):
        items = [i for i in items if i > shown[-1]]
    return items


def unfollow(rt: Runtime, request: FollowRequest) -> None:
    """Remove the follow, and from the follower feed in Redis the target's items it no
    longer holds through anything else (SQL derives it without them).

    With ``keep_history`` the feed keeps what it holds: the target's items become rows of
    its own in SQL (the record a rebuild reads); Redis keeps them as they are, and gets a
    celebrity's, which reads merged in until now."""
    with rt.transaction() as session:
        pairs = sorted(set(request.pairs))
        rows = copies.rows(rt, session)
        before = {(feed, target): _held(rt, session, rows, feed, target) for feed, target in pairs}
        if request.keep_history:
            famous = follows.celebrities(session, rt.redis, rt.settings.celebrity_threshold)
            rows.add([(f, i) for (f, _), held in before.items() for i in held])
            copies.cache_add(rt, [(f, i) for (f, t), held in before.items() if t in famous
                                  for i in held])  # fmt: skip
        follows.remove(session, pairs)
        after = copies.sql(rt, session)
        stale: list[tuple[str, int]] = []
        for (feed, _), theirs in before.items() if not request.keep_history else ():
            kept = {i.activity_id for i in after.page(feed, ids.max_length(feed, rt.settings))}
            stale += [(feed, a) for a in sorted({i.activity_id for i in theirs} - kept)]
        copies.cache_remove(rt, stale)
    _recount(rt, {t for _, t in request.pairs})


def _held(rt: Runtime, session: Any, rows: SqlFeedStore, feed: str, target: str) -> set[Item]:
    """The target's items that ``feed`` holds through following it (a celebrity's too)."""
    window = next((s for s in follows.sources(session, feed, set()) if s.feed == target), None)
    if window is None:
        return set()
    items = rows.page(target, ids.max_length(target, rt.settings))
    return {i for i in items if window.holds(i)}


def _recount(rt: Runtime, targets: set[str]) -> None:
    with rt.transaction() as session:
        for target in sorted(targets):
            follows.update_celebrity(session, rt.redis, rt.settings.celebrity_threshold, target)


def add_filters(rt: Runtime, request: filters.FilterRequest) -> None:
    """Record a user's mutes, blocks and muted words: fan-out leaves what they match out of
    the user's timelines and notifications from now on, and reads hide what is there."""
    with rt.transaction() as session:
        filters.add(session, request.user, request.rules)
        filters.owners(session, rt.redis)  # the set exists before it is added to
        rt.after_commit(lambda: rt.redis.sadd(filters.OWNERS, request.user))


def remove_filters(rt: Runtime, request: filters.FilterRequest) -> None:
    """Drop some of a user's rules. Their feeds are copied from SQL again on their next read,
    so what fan-out left out of a timeline while the rule held comes back."""
    with rt.transaction() as session:
        left = filters.remove(session, request.user, request.rules)
        if not left:
            rt.after_commit(lambda: rt.redis.srem(filters.OWNERS, request.user))
        cache = copies.cache(rt)
        if cache is not None:
            rt.after_commit(lambda: cache.forget(filters.feeds_of(request.user)))


def fanout_chunk(rt: Runtime, request: ChunkRequest) -> None:
    """The internal chunk task: one activity into up to FANOUT_CHUNK_SIZE feeds."""
    fanout.write_chunk(rt, request)
