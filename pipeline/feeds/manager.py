"""The public feed tasks, whole: each writes in one transaction, and whatever Redis or other
tasks must do follows once it commits (see ``pipeline.runtime``).

Every function takes the request its payload was parsed into (``pipeline.feeds.task_payloads``);
a payload that failed to parse never reaches here. Each function is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pipeline.feeds import activities, fanout, follows, ids
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.base import Item
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
        pairs = copies.sql(rt, session).feeds_of(found)
        # Redis first as well as after: if this task dies after its commit, a rerun finds no
        # activity left to look up, so the items must already be gone from Redis by then.
        copies.cache_remove(rt, pairs)
    with rt.transaction() as session:
        fanout.remove(rt, session, found)
        # Items written between the two transactions are caught by the second look.
        copies.cache_remove(rt, pairs)


def broadcast(rt: Runtime, request: BroadcastRequest) -> int:
    """Store one activity and put it into every listed feed (followers are not involved)."""
    with rt.transaction() as session:
        (activity,) = activities.insert(session, [request.activity])
        delivery = fanout.Delivery()
        if len(request.feeds) <= rt.settings.fanout_chunk_size:
            delivery.entries = [(feed, activity.item) for feed in request.feeds]
        else:
            delivery.chunks = fanout.chunk_payloads(rt, activity, request.feeds)
        fanout.deliver(rt, session, delivery)
    return activity.id


def follow(rt: Runtime, request: FollowRequest) -> None:
    """Record the follows and backfill each follower feed with its target's newest items."""
    threshold = rt.settings.celebrity_threshold
    with rt.transaction() as session:
        follows.add(session, request.pairs)
        famous = follows.celebrities(session, rt.redis, threshold)
        entries: list[tuple[str, Item]] = []
        for feed, target in request.pairs:
            if target not in famous:
                entries += [(feed, i) for i in _backfill(rt, session, feed, target, request)]
        copies.sql(rt, session).add(entries)
        copies.cache_add(rt, entries)
    _recount(rt, {t for _, t in request.pairs})


def _backfill(
    rt: Runtime, session: Session, feed: str, target: str, request: FollowRequest
) -> list[Item]:
    """The target's newest items to copy into ``feed``.

    Only when ``feed`` is full are older items than its oldest left out: they would be trimmed
    at once. A feed with room takes them all, or following someone would show nothing of
    theirs older than whatever the feed happened to hold.
    """
    sql = copies.sql(rt, session)
    items = sql.page(target, request.backfill)
    if sql.count(feed) >= ids.max_length(feed, rt.settings):
        oldest = sql.oldest(feed)
        items = [i for i in items if oldest is None or i > oldest]
    return items


def unfollow(rt: Runtime, request: FollowRequest) -> None:
    """Remove the follow and the target's items from the follower feed, unless the feed
    also holds them through another feed it follows."""
    with rt.transaction() as session:
        follows.remove(session, request.pairs)
        sql = copies.sql(rt, session)
        stale: list[tuple[str, int]] = []
        for feed, target in request.pairs:
            theirs = {i.activity_id for i in sql.all_items(target)}
            others = [t for t in follows.following(session, feed) if t != target]
            kept = sql.holding(others, theirs)
            found = activities.load(session, theirs - kept)
            stale += [(feed, a) for a, act in found.items() if feed not in fanout.origins(act)]
        sql.remove(stale)
        copies.cache_remove(rt, stale)
    _recount(rt, {t for _, t in request.pairs})


def _recount(rt: Runtime, targets: set[str]) -> None:
    with rt.transaction() as session:
        for target in sorted(targets):
            follows.update_celebrity(session, rt.redis, rt.settings.celebrity_threshold, target)


def fanout_chunk(rt: Runtime, request: ChunkRequest) -> None:
    """The internal chunk task: one activity into up to FANOUT_CHUNK_SIZE feeds."""
    fanout.write_chunk(rt, request.activity_id, request.feeds)
