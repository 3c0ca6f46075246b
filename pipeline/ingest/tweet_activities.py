"""Ingested tweets into feeds: new tweets become activities, deleted tweets leave every feed.

A tweet becomes the activity ``user:<author> tweet|reply|retweet|quote tweet:<id>``, sent to
``hashtag:<tag>`` for each hashtag, ``notification:<user>`` for each mention and ``term:<id>``
for each filter term it matched. A retweet's object is the original tweet, so an aggregated feed
can say "alice and 3 others retweeted …".
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from sqlalchemy.orm import Session

from models import load_tweet_model, table_of
from pipeline.feeds import activities, fanout, hydrated, ids
from pipeline.ingest.parse.records import ParsedBatch, TweetRecord
from pipeline.ingest.tweets import IngestResult, enforce_deletions
from pipeline.runtime import Runtime
from pipeline.store import dialects


def _verb(row: dict[str, Any]) -> tuple[str, str, str | None]:
    """(verb, object, target) of a tweet."""
    own = ids.tweet_ref(row["id"])
    if row["retweeted_id"]:
        return "retweet", ids.tweet_ref(row["retweeted_id"]), None
    if row["quoted_id"]:
        return "quote", own, ids.tweet_ref(row["quoted_id"])
    if row["in_reply_to_id"]:
        return "reply", own, ids.tweet_ref(row["in_reply_to_id"])
    return "tweet", own, None


def activity_row(record: TweetRecord) -> dict[str, Any]:
    """The activity row of an ingested tweet (see the module docstring for the mapping)."""
    row = record.row
    verb, obj, target = _verb(row)
    to = [f for f in map(ids.hashtag_feed, record.hashtags) if f]
    to += [ids.notification_feed(u) for u in record.mentions if u != row["author_id"]]
    to += [ids.term_feed(term) for term in record.terms]
    return {
        "actor": ids.user_feed(row["author_id"]),
        "verb": verb,
        "object": obj,
        "target": target,
        "time": row["created_at"],
        "foreign_id": ids.tweet_ref(row["id"]),
        "to_feeds": orjson.dumps(to).decode() if to else None,
        "extra": None,
    }


def _tweets_to_deliver(
    session: Session, batch: ParsedBatch, result: IngestResult, first_attempt: bool
) -> list[int]:
    """The new tweets and the batch's stored ones without an activity; on a redelivery, every
    tweet of the batch that is stored.

    A redelivered task finds its tweets stored already (dedupe says none is new), yet the
    attempt that stored them may have died before fanning them out. Writing them all again is
    safe: feed writes are idempotent. The same lines can also come back as a new task: the
    listener hands a batch on again when Redis lost it, perhaps after an attempt had committed
    its tweets but not their activities (the batch's second transaction failed with Redis
    gone). Those tweets are stored and not new, and only their missing activities tell.
    """
    tweets = table_of(load_tweet_model()).c.id
    if not first_attempt:
        return sorted(dialects.existing(session, tweets, batch.tweets))
    new, gone = set(result.new_ids), set(result.deleted_ids)
    seen = [i for i in batch.tweets if i not in new and i not in gone]
    if not seen:
        return result.new_ids
    stored = dialects.existing(session, tweets, seen)
    have = activities.stored_foreign_ids(session, [ids.tweet_ref(i) for i in stored])
    return sorted(new | {i for i in stored if ids.tweet_ref(i) not in have})


def deliver(
    rt: Runtime, session: Session, batch: ParsedBatch, result: IngestResult, first: bool
) -> None:
    """Inside the batch's second transaction: activities for its tweets and their fan-out, and
    the activities of deleted tweets taken out; Redis follows once the transaction commits."""
    if rt.settings.disable_fanout:
        return
    tweets = _tweets_to_deliver(session, batch, result, first)
    rows = [activity_row(batch.tweets[i]) for i in tweets]
    if rows:
        fanout.fan_out(rt, session, activities.insert(session, rows))
        rt.after_commit(partial(_settle, rt, tweets))
    _take_back(rt, session, result.deleted_ids)


def _take_back(rt: Runtime, session: Session, tweet_ids: list[int]) -> None:
    """Remove the activities of ``tweet_ids`` and take them out of every feed."""
    refs = [ids.tweet_ref(i) for i in tweet_ids]
    doomed = [a.id for a in activities.by_foreign_id(session, refs)] if refs else []
    if doomed:
        fanout.remove(rt, session, doomed)


def _settle(rt: Runtime, tweet_ids: list[int]) -> None:
    """Once the activities of ``tweet_ids`` are committed, remove those whose tweet was deleted
    meanwhile.

    The batch that stored a tweet's delete notice removes its activity only if it can see it.
    When the two batches run at once, the activity may still be uncommitted at that moment;
    the delete notice, though, was committed before that look. So looking for delete notices
    again after this commit finds every one the other side missed: the delete wins either way.
    """
    with rt.transaction() as session:
        deleted = enforce_deletions(session, tweet_ids)
        if deleted:
            hydrated.forget(rt, tweets=deleted)
            _take_back(rt, session, deleted)
