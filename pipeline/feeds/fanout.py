"""Fan-out on write: put activities into their origin feeds and every feed that follows them.

Everything here runs inside the transaction that stored the activities: it reads the follow
graph, writes the durable rows of the origin feeds (``feed_items``) and decides what goes where.
Follower feeds get no rows: SQL derives them from their targets (``storage.sql``), so a write to
a follower costs Redis alone. What must wait for the commit is queued on the runtime: the Redis
writes (one round trip, which leaves out activities removed meanwhile) and the chunks too
large to write inline (``tweetfeed.fanout_chunk`` tasks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from pipeline.bus import routes
from pipeline.feeds import active, activities, falloff, filters, follows, hydrated, ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.enrich import enrich
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

    def follower_pairs(self) -> list[tuple[str, int]]:
        """(feed, activity id) of every follower write, inline or in a chunk."""
        inline = [(f, i.activity_id) for f, i in self.fans]
        return inline + [(f, p["activity_id"]) for _, p in self.chunks for f in p["feeds"]]

    def drop(self, pairs: set[tuple[str, int]]) -> None:
        """Leave out the (feed, activity id) writes of ``pairs``, wherever they were planned."""
        if not pairs:
            return
        self.entries = [(f, i) for f, i in self.entries if (f, i.activity_id) not in pairs]
        self.fans = [(f, i) for f, i in self.fans if (f, i.activity_id) not in pairs]
        for _, payload in self.chunks:
            activity = payload["activity_id"]
            payload["feeds"] = [f for f in payload["feeds"] if (f, activity) not in pairs]
        self.chunks = [(q, p) for q, p in self.chunks if p["feeds"]]


def origins(activity: ActivityRecord) -> list[str]:
    """The feeds an activity is added to directly: its actor's feed and its ``to`` feeds."""
    found = [activity.actor] if ids.FEED_RE.fullmatch(activity.actor) else []
    return list(dict.fromkeys(found + list(activity.to)))


def chunk_payloads(
    rt: Runtime, activity: ActivityRecord, feeds: Sequence[str], direct: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """``fanout_chunk`` payloads for ``feeds``; more than one chunk is a large fan-out.
    ``direct`` chunks (a broadcast's) write SQL rows as well as Redis. ``planned`` (epoch ms)
    lets a chunk rely on Redis's record of removals instead of looking in SQL."""
    size = rt.settings.fanout_chunk_size
    queue = "fanout_low" if len(feeds) > size else "fanout"
    extra = {"direct": True} if direct else {}
    planned = int(time.time() * 1000)
    return [
        (queue, {"activity_id": activity.id, "score": activity.score, "planned": planned,
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
    _screen(rt, session, batch, delivery)
    delivery.drop(falloff.skipped(rt, session, batch, delivery.follower_pairs()))
    _skip_inactive(rt, delivery)
    return delivery


def _skip_inactive(rt: Runtime, delivery: Delivery) -> None:
    """Active-only fan-out: no writes to follower feeds not read lately, whose Redis copies are
    dropped once this commits (their next read copies them from SQL)."""
    pairs = delivery.follower_pairs()
    stale = active.inactive(rt, {f for f, _ in pairs})
    if stale:
        delivery.drop({(f, a) for f, a in pairs if f in stale})
        cache = copies.cache(rt)
        if cache is not None:
            rt.after_commit(partial(cache.forget, sorted(stale)))


def _screen(
    rt: Runtime, session: Session, batch: Sequence[ActivityRecord], delivery: Delivery
) -> None:
    """Leave out of each feed what its owner's mutes, blocks and muted words keep out."""
    pairs = [(f, i.activity_id) for f, i in delivery.entries] + delivery.follower_pairs()
    owners = {f: who for f, _ in pairs if (who := filters.owner(f)) is not None}
    users = filters.among(session, rt.redis, owners.values())
    if not users:
        return
    concerned = [(f, a) for f, a in pairs if owners.get(f) in users]
    by_id = {a.id: a for a in batch}
    records = [by_id[a] for a in sorted({a for _, a in concerned})]
    enriched = {e.activity.id: e for e in enrich(session, records)}
    delivery.drop(filters.hidden(session, rt.redis, [(f, enriched[a]) for f, a in concerned]))


def deliver(rt: Runtime, session: Session, delivery: Delivery, inline: bool = True) -> None:
    """Write the origin rows now; Redis and the chunk tasks once the transaction commits.

    ``inline``: the activities were stored in this same transaction, so no removal can have
    missed these rows; otherwise SQL is asked again after the commit.
    """
    copies.rows(rt, session).add(delivery.entries)
    for queue, payload in delivery.chunks:
        rt.send(routes.FANOUT_CHUNK, payload, queue)
    written = delivery.entries + delivery.fans
    if written:
        rt.after_commit(partial(_write, rt, written, time.time() if inline else None))


def fan_out(rt: Runtime, session: Session, batch: Sequence[ActivityRecord]) -> None:
    """:func:`plan` and :func:`deliver` for activities stored in this transaction."""
    deliver(rt, session, plan(rt, session, batch))


def _write(rt: Runtime, entries: list[tuple[str, Item]], planned: float | None) -> None:
    """Write committed ``entries`` to Redis, leaving out activities removed meanwhile.

    Redis remembers removals for a while, and the write script leaves those activities out:
    a removal whose Redis pass ran before this write is refused by it, one that runs after
    takes the items out itself. Only when that record cannot vouch for the time since the
    write was planned (``planned`` unknown or old, or Redis lost its data) is SQL asked
    which of the activities still exist.
    """
    cache = copies.cache(rt)
    if cache is None or not cache.write(entries, planned):
        _recheck(rt, entries)


def _recheck(rt: Runtime, entries: list[tuple[str, Item]]) -> None:
    """After the write: undo what a concurrent removal missed, by asking SQL what is gone."""
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

    A chunk of followers that carries its activity's score writes straight to Redis: no SQL
    at all, unless the record of removals cannot vouch for the chunk's age (see ``_write``).
    """
    if request.score is not None and not request.direct:
        item = Item(request.score, request.activity_id)
        planned = None if request.planned is None else request.planned / 1000
        cache = copies.cache(rt)
        if cache is None or not cache.write_one(request.feeds, item, planned):
            _recheck(rt, [(feed, item) for feed in request.feeds])
        return
    with rt.transaction() as session:
        if request.score is not None:
            found: Item | None = Item(request.score, request.activity_id)
        else:
            record = activities.load(session, [request.activity_id]).get(request.activity_id)
            found = record.item if record is not None else None
        if found is not None:
            entries = [(feed, found) for feed in request.feeds]
            delivery = Delivery(entries=entries) if request.direct else Delivery(fans=entries)
            deliver(rt, session, delivery, inline=False)


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
    """Delete activities for good and their rows, and take them out of every Redis feed, now
    and again once this transaction commits; return the (feed, activity id) pairs removed.

    Redis is cleared before the commit as well as after it because a worker that dies between
    the two leaves no way back: a rerun of its task finds the activities gone from SQL, and with
    them every record of the feeds that held them. Every caller removes an activity that is
    doomed whatever becomes of this transaction (a committed delete notice, a removal task
    that is retried until it succeeds), so clearing it early costs nothing.
    """
    pairs = holders(rt, session, ids)
    copies.rows(rt, session).remove_activities(ids)
    activities.delete_ids(session, ids)
    hydrated.forget(rt, activities=ids)
    cache = copies.cache(rt)
    if cache is not None:
        cache.remove(pairs, ids)
        rt.after_commit(partial(cache.remove, pairs, list(ids)))
    return pairs
