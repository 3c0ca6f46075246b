"""Fan-out on write: put activities into their origin feeds and every feed that follows them.

Everything here runs inside the transaction that stored the activities: it reads the follow
graph, writes the durable rows of the origin feeds (``feed_items``) and decides what goes where.
Follower feeds get no rows: SQL derives them from their targets (``storage.sql``), so a write to
a follower costs Redis alone. What must wait for the commit is queued on the runtime: the Redis
writes (one round trip), the chunks too large to write inline (``tweetfeed.fanout_chunk``
tasks), and a second look that takes back anything whose activity was removed while Redis was
being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from pipeline.bus import routes
from pipeline.feeds import activities, follows, hydrated, ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.base import Item
from pipeline.feeds.task_payloads import ChunkRequest
from pipeline.runtime import Runtime


@dataclass
class Delivery:
    """Where activities go: origin items (SQL rows and Redis), follower items (Redis only),
    and chunk tasks (queue, payload)."""

    entries: list[tuple[str, Item]] = field(default_factory=list)
    fans: list[tuple[str, Item]] = field(default_factory=list)
    chunks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (queue, payload)


def origins(activity: ActivityRecord) -> list[str]:
    """The feeds an activity is added to directly: its actor's feed and its ``to`` feeds."""
    found = [activity.actor] if ids.FEED_RE.fullmatch(activity.actor) else []
    return list(dict.fromkeys(found + list(activity.to)))


def chunk_payloads(
    rt: Runtime, activity: ActivityRecord, feeds: Sequence[str], direct: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """``fanout_chunk`` payloads for ``feeds``; more than one chunk is a large fan-out.
    ``direct`` chunks (a broadcast's) write SQL rows as well as Redis."""
    size = rt.settings.fanout_chunk_size
    queue = "fanout_low" if len(feeds) > size else "fanout"
    extra = {"direct": True} if direct else {}
    return [
        (queue, {"activity_id": activity.id, "score": activity.score,
                 "feeds": list(feeds[i : i + size]), **extra})
        for i in range(0, len(feeds), size)
    ]  # fmt: skip


def plan(rt: Runtime, session: Session, batch: Sequence[ActivityRecord]) -> Delivery:
    """Decide every feed each activity reaches. Reads only.

    Followers of a celebrity origin are skipped (reads merge it in), and so is every
    follower when feeds are read from SQL, which derives them. An activity whose followers
    fit in one chunk is written inline with the rest of the batch, so a batch of ingested
    tweets costs one Redis round trip; bigger fan-outs become chunk tasks.
    """
    delivery = Delivery()
    direct_of = [(activity, origins(activity)) for activity in batch]
    for activity, direct in direct_of:
        delivery.entries += [(feed, activity.item) for feed in direct]
    if copies.cache(rt) is None:
        return delivery
    famous = follows.celebrities(session, rt.redis, rt.settings.celebrity_threshold)
    wanted = {o for _, direct in direct_of for o in direct} - famous
    graph = follows.followers(session, wanted) if wanted else {}
    for activity, direct in direct_of:
        if not any(o in graph for o in direct):
            continue
        fans = list(dict.fromkeys(f for o in direct for f in graph.get(o, ())))
        fans = [f for f in fans if f not in direct]
        if len(fans) <= rt.settings.fanout_chunk_size:
            delivery.fans += [(feed, activity.item) for feed in fans]
        else:
            delivery.chunks += chunk_payloads(rt, activity, fans)
    return delivery


def deliver(rt: Runtime, session: Session, delivery: Delivery) -> None:
    """Write the origin rows now; Redis and the chunk tasks once the transaction commits."""
    copies.rows(rt, session).add(delivery.entries)
    written = delivery.entries + delivery.fans
    copies.cache_add(rt, written)
    for queue, payload in delivery.chunks:
        rt.send(routes.FANOUT_CHUNK, payload, queue)
    if written:
        rt.after_commit(partial(_recheck, rt, written))


def fan_out(rt: Runtime, session: Session, batch: Sequence[ActivityRecord]) -> None:
    """:func:`plan` and :func:`deliver` for activities stored in this transaction."""
    deliver(rt, session, plan(rt, session, batch))


def _recheck(rt: Runtime, entries: list[tuple[str, Item]]) -> None:
    """After the Redis write: undo what a concurrent removal missed.

    A removal that committed between our commit and our Redis write could not see what we were
    about to write; looking again now, after the write, closes that gap.
    """
    written = {item.activity_id for _, item in entries}
    with rt.transaction() as session:
        gone = written - activities.existing_ids(session, written)
        if gone:
            copies.rows(rt, session).remove_activities(sorted(gone))
            stale = [(f, i.activity_id) for f, i in entries if i.activity_id in gone]
            copies.cache_remove(rt, stale)


def write_chunk(rt: Runtime, request: ChunkRequest) -> None:
    """The body of ``tweetfeed.fanout_chunk``: one activity into a list of feeds, in Redis
    alone unless the chunk is ``direct`` (a broadcast's).

    A chunk that carries its activity's score reads nothing before writing: an activity
    removed meanwhile is taken back out by the re-check that follows every write.
    """
    with rt.transaction() as session:
        if request.score is not None:
            item: Item | None = Item(request.score, request.activity_id)
        else:
            found = activities.load(session, [request.activity_id]).get(request.activity_id)
            item = found.item if found is not None else None
        if item is not None:
            entries = [(feed, item) for feed in request.feeds]
            deliver(
                rt, session, Delivery(entries=entries) if request.direct else Delivery(fans=entries)
            )


def holders(rt: Runtime, session: Session, ids: Sequence[int]) -> list[tuple[str, int]]:
    """Every (feed, activity id) pair that may hold one of ``ids``: the feeds with a row of it
    and every feed following one of those (a follower that never got it loses nothing)."""
    pairs = copies.rows(rt, session).feeds_of(ids)
    if copies.cache(rt) is None:
        return pairs
    graph = follows.followers(session, {feed for feed, _ in pairs})
    fans = [(f, activity) for feed, activity in pairs for f in graph.get(feed, ())]
    return list(dict.fromkeys(pairs + fans))


def remove(rt: Runtime, session: Session, ids: Sequence[int]) -> list[tuple[str, int]]:
    """Delete activities and their rows, and take them out of every Redis feed once this
    transaction commits; return the (feed, activity id) pairs removed."""
    pairs = holders(rt, session, ids)
    copies.rows(rt, session).remove_activities(ids)
    activities.delete_ids(session, ids)
    hydrated.forget(rt, activities=ids)
    copies.cache_remove(rt, pairs)
    return pairs
