"""The public feed tasks, whole: validate, write in one transaction, then finish after commit.

A payload that fails validation is dead-lettered with its reason and the call returns; the
task is acknowledged, never retried. Each function is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from pipeline.bus import routes
from pipeline.bus.feed_requests import (
    BroadcastRequest,
    ChunkRequest,
    FollowRequest,
    RemoveRequest,
    activity_row,
)
from pipeline.bus.payloads import validated
from pipeline.feeds import activities, fanout, follows
from pipeline.feeds.storage.redis import Item
from pipeline.runtime import Services


def add_activity(svc: Services, payload: Any) -> int | None:
    """Store the activity (once per foreign_id) and fan it out; return its id."""
    row = validated(svc.transaction, routes.ADD_ACTIVITY, payload, activity_row)
    if row is None:
        return None
    with svc.transaction() as session:
        (activity,) = activities.insert(session, [row])
        delivery = fanout.plan(svc, session, [activity])
    fanout.finish(svc, delivery)
    return activity.id


def remove_activity(svc: Services, payload: Any) -> None:
    """Delete the activity and take it out of every feed it reached."""
    request = validated(svc.transaction, routes.REMOVE_ACTIVITY, payload, RemoveRequest.parse)
    if request is None:
        return
    with svc.transaction() as session:
        found: list[int] = []
        if request.foreign_id is not None:
            found = [a.id for a in activities.by_foreign_id(session, [request.foreign_id])]
        elif request.activity_id is not None:
            found = list(activities.load(session, [request.activity_id]))
        pairs = svc.sql(session).feeds_of(found)
    # Redis first as well as after: if this task dies after its commit, a rerun finds no
    # activity left to look up, so the items must already be gone from Redis by then.
    svc.cache_remove(pairs)
    with svc.transaction() as session:
        pairs += fanout.remove(svc, session, found)
    svc.cache_remove(pairs)


def broadcast(svc: Services, payload: Any) -> int | None:
    """Store one activity and put it into every listed feed (followers are not involved)."""
    request = validated(svc.transaction, routes.BROADCAST, payload, BroadcastRequest.parse)
    if request is None:
        return None
    with svc.transaction() as session:
        (activity,) = activities.insert(session, [request.activity])
        size = svc.settings.fanout_chunk_size
        delivery = fanout.Delivery()
        if len(request.feeds) <= size:
            delivery.entries = [(feed, activity.item) for feed in request.feeds]
            svc.sql(session).add(delivery.entries)
        else:
            delivery.chunks = fanout.chunk_payloads(svc, activity, request.feeds)
    fanout.finish(svc, delivery)
    return activity.id


def follow(svc: Services, payload: Any, many: bool = False) -> None:
    """Record the follows and backfill each follower feed with its target's newest items."""
    parse = FollowRequest.parse_many if many else FollowRequest.parse
    name = routes.FOLLOW_MANY if many else routes.FOLLOW
    request = validated(svc.transaction, name, payload, parse)
    if request is None:
        return
    threshold = svc.settings.celebrity_threshold
    with svc.transaction() as session:
        follows.add(session, request.pairs)
        famous = follows.celebrities(session, svc.redis, threshold)
        entries: list[tuple[str, Item]] = []
        for feed, target in request.pairs:
            if target not in famous:
                entries += [(feed, i) for i in _backfill(svc, session, feed, target, request)]
        svc.sql(session).add(entries)
    svc.cache_add(entries)
    _recount(svc, {t for _, t in request.pairs})


def _backfill(
    svc: Services, session: Any, feed: str, target: str, request: FollowRequest
) -> list[Item]:
    """The target's newest items to copy into ``feed``.

    Only when ``feed`` is full are older items than its oldest left out: they would be trimmed
    at once. A feed with room takes them all, or following someone would show nothing of
    theirs older than whatever the feed happened to hold.
    """
    sql = svc.sql(session)
    items = sql.page(target, request.backfill)
    if sql.count(feed) >= svc.max_length(feed):
        oldest = sql.oldest(feed)
        items = [i for i in items if oldest is None or i > oldest]
    return items


def unfollow(svc: Services, payload: Any) -> None:
    """Remove the follow and the target's items from the follower feed, unless the feed
    also holds them through another feed it follows."""
    request = validated(svc.transaction, routes.UNFOLLOW, payload, FollowRequest.parse)
    if request is None:
        return
    with svc.transaction() as session:
        follows.remove(session, request.pairs)
        sql = svc.sql(session)
        stale: list[tuple[str, int]] = []
        for feed, target in request.pairs:
            theirs = {i.activity_id for i in sql.all_items(target)}
            others = [t for t in follows.following(session, feed) if t != target]
            kept = sql.holding(others, theirs)
            found = activities.load(session, theirs - kept)
            stale += [(feed, a) for a, act in found.items() if feed not in fanout.origins(act)]
        sql.remove(stale)
    svc.cache_remove(stale)
    _recount(svc, {t for _, t in request.pairs})


def _recount(svc: Services, targets: set[str]) -> None:
    with svc.transaction() as session:
        for target in sorted(targets):
            follows.update_celebrity(session, svc.redis, svc.settings.celebrity_threshold, target)


def fanout_chunk(svc: Services, payload: Any) -> None:
    """The internal chunk task: one activity into up to FANOUT_CHUNK_SIZE feeds."""
    request = validated(svc.transaction, routes.FANOUT_CHUNK, payload, ChunkRequest.parse)
    if request is not None:
        fanout.write_chunk(svc, request.activity_id, request.feeds)
