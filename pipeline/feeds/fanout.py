"""Fan-out on write: put activities into their origin feeds and every feed that follows them.

Everything here runs inside the transaction that stored the activities: it reads the follow
graph, writes the durable copy (``feed_items``) and decides what goes where. What must wait for
the commit is queued on the runtime: the Redis writes (one round trip), the chunks too large to
write inline (``tweetfeed.fanout_chunk`` tasks), and a second look that takes back anything
whose activity was removed while Redis was being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from pipeline.bus import routes
from pipeline.feeds import activities, follows, ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.base import Item
from pipeline.runtime import Runtime


@dataclass
class Delivery:
    """Where activities go: feed items written now, and chunk tasks (queue, payload)."""

    entries: list[tuple[str, Item]] = field(default_factory=list)
    chunks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (queue, payload)


def origins(activity: ActivityRecord) -> list[str]:
    """The feeds an activity is added to directly: its actor's feed and its ``to`` feeds."""
    found = [activity.actor] if ids.FEED_RE.fullmatch(activity.actor) else []
    return list(dict.fromkeys(found + list(activity.to)))


def chunk_payloads(
    rt: Runtime, activity: ActivityRecord, feeds: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """``fanout_chunk`` payloads for ``feeds``; more than one chunk is a large fan-out."""
    size = rt.settings.fanout_chunk_size
    queue = "fanout_low" if len(feeds) > size else "fanout"
    return [
        (queue, {"activity_id": activity.id, "feeds": list(feeds[i : i + size])})
        for i in range(0, len(feeds), size)
    ]


def plan(rt: Runtime, session: Session, batch: Sequence[ActivityRecord]) -> Delivery:
    """Decide every feed each activity reaches. Reads only.

    Followers of a celebrity origin are skipped (reads merge it in). An activity whose
    followers fit in one chunk is written inline with the rest of the batch, so a batch of
    ingested tweets costs one Redis round trip; bigger fan-outs become chunk tasks.
    """
    delivery = Delivery()
    famous = follows.celebrities(session, rt.redis, rt.settings.celebrity_threshold)
    wanted = {o for a in batch for o in origins(a)} - famous
    graph = follows.followers(session, wanted)
    for activity in batch:
        direct = origins(activity)
        delivery.entries += [(feed, activity.item) for feed in direct]
        fans = list(dict.fromkeys(f for o in direct for f in graph.get(o, ())))
        fans = [f for f in fans if f not in direct]
        if len(fans) <= rt.settings.fanout_chunk_size:
            delivery.entries += [(feed, activity.item) for feed in fans]
        else:
            delivery.chunks += chunk_payloads(rt, activity, fans)
    return delivery


def deliver(rt: Runtime, session: Session, delivery: Delivery) -> None:
    """Write the durable copy now; Redis and the chunk tasks once the transaction commits."""
    copies.sql(rt, session).add(delivery.entries)
    copies.cache_add(rt, delivery.entries)
    for queue, payload in delivery.chunks:
        rt.send(routes.FANOUT_CHUNK, payload, queue)
    if delivery.entries:
        rt.after_commit(partial(_recheck, rt, delivery.entries))


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
        stale = [(f, i.activity_id) for f, i in entries if i.activity_id in gone]
        copies.sql(rt, session).remove(stale)
        copies.cache_remove(rt, stale)


def write_chunk(rt: Runtime, activity_id: int, feeds: Sequence[str]) -> None:
    """The body of ``tweetfeed.fanout_chunk``: one activity into a list of feeds."""
    with rt.transaction() as session:
        found = activities.load(session, [activity_id]).get(activity_id)
        if found is not None:
            deliver(rt, session, Delivery(entries=[(feed, found.item) for feed in feeds]))


def remove(rt: Runtime, session: Session, ids: Sequence[int]) -> list[tuple[str, int]]:
    """Delete activities and their items from the durable copy, and from Redis once this
    transaction commits; return the (feed, activity id) pairs removed."""
    sql = copies.sql(rt, session)
    pairs = sql.feeds_of(ids)
    sql.remove_activities(ids)
    activities.delete_ids(session, ids)
    copies.cache_remove(rt, pairs)
    return pairs
