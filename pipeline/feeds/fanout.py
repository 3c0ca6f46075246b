"""Fan-out on write: put activities into their origin feeds and every feed that follows them.

Each operation has two halves. :func:`plan` runs inside the transaction that stored the
activities: it reads the follow graph, writes the durable copy (``feed_items``) and decides what
goes where. :func:`finish` runs after that transaction commits: it writes Redis in one round
trip, sends the chunks too large to write inline as ``tweetfeed.fanout_chunk`` tasks, and then
takes back anything whose activity was removed while it was writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from pipeline.bus import routes
from pipeline.feeds import activities, follows, ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.storage.redis import Item
from pipeline.runtime import Services


@dataclass
class Delivery:
    """What :func:`plan` decided; :func:`finish` carries it out after the commit."""

    entries: list[tuple[str, Item]] = field(default_factory=list)
    chunks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (queue, payload)

    def extend(self, other: Delivery) -> None:
        self.entries += other.entries
        self.chunks += other.chunks


def origins(activity: ActivityRecord) -> list[str]:
    """The feeds an activity is added to directly: its actor's feed and its ``to`` feeds."""
    found = [activity.actor] if ids.FEED_RE.fullmatch(activity.actor) else []
    return list(dict.fromkeys(found + list(activity.to)))


def chunk_payloads(
    svc: Services, activity: ActivityRecord, feeds: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """``fanout_chunk`` payloads for ``feeds``; more than one chunk is a large fan-out."""
    size = svc.settings.fanout_chunk_size
    queue = "fanout_low" if len(feeds) > size else "fanout"
    return [
        (queue, {"activity_id": activity.id, "feeds": list(feeds[i : i + size])})
        for i in range(0, len(feeds), size)
    ]


def plan(
    svc: Services, session: Session, batch: Sequence[ActivityRecord], *, followers: bool = True
) -> Delivery:
    """Decide every feed each activity reaches and write the durable copy. Never commits.

    Followers of a celebrity origin are skipped (reads merge it in). An activity whose
    followers fit in one chunk is written inline with the rest of the batch, so a batch of
    ingested tweets costs one Redis round trip; bigger fan-outs become chunk tasks.
    """
    delivery = Delivery()
    graph: dict[str, list[str]] = {}
    if followers:
        threshold = svc.settings.celebrity_threshold
        famous = follows.celebrities(session, svc.redis, threshold)
        wanted = {o for a in batch for o in origins(a)} - famous
        graph = follows.followers(session, wanted)
    for activity in batch:
        direct = origins(activity)
        delivery.entries += [(feed, activity.item) for feed in direct]
        fans = list(dict.fromkeys(f for o in direct for f in graph.get(o, ())))
        fans = [f for f in fans if f not in direct]
        if len(fans) <= svc.settings.fanout_chunk_size:
            delivery.entries += [(feed, activity.item) for feed in fans]
        else:
            delivery.chunks += chunk_payloads(svc, activity, fans)
    svc.sql(session).add(delivery.entries)
    return delivery


def finish(svc: Services, delivery: Delivery) -> None:
    """After the commit: write Redis, send chunk tasks, undo what a concurrent removal missed."""
    svc.cache_add(delivery.entries)
    for queue, payload in delivery.chunks:
        svc.send(routes.FANOUT_CHUNK, payload, queue)
    written = {item.activity_id for _, item in delivery.entries}
    if not written:
        return
    # A removal that committed between our commit and our Redis write could not see what we
    # were about to write; looking again now, after the write, closes that gap.
    with svc.transaction() as session:
        gone = written - activities.existing_ids(session, written)
        stale = [(f, i.activity_id) for f, i in delivery.entries if i.activity_id in gone]
        if stale:
            svc.sql(session).remove(stale)
    if stale:
        svc.cache_remove(stale)


def write_chunk(svc: Services, activity_id: int, feeds: Sequence[str]) -> None:
    """The body of ``tweetfeed.fanout_chunk``: one activity into a list of feeds."""
    with svc.transaction() as session:
        found = activities.load(session, [activity_id]).get(activity_id)
        if found is None:
            return
        delivery = Delivery(entries=[(feed, found.item) for feed in feeds])
        svc.sql(session).add(delivery.entries)
    finish(svc, delivery)


def remove(svc: Services, session: Session, ids: Sequence[int]) -> list[tuple[str, int]]:
    """Delete activities and their items from the durable copy; return the pairs Redis must
    drop once this transaction commits."""
    sql = svc.sql(session)
    pairs = sql.feeds_of(ids)
    sql.remove_activities(ids)
    activities.delete_ids(session, ids)
    return pairs
