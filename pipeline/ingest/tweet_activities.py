"""Ingested tweets into feeds: new tweets become activities, deleted tweets leave every feed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import load_tweet_model, table_of
from pipeline.feeds import activities, fanout
from pipeline.feeds.fanout import Delivery
from pipeline.ingest.parse.records import ParsedBatch
from pipeline.ingest.storage import IngestResult
from pipeline.runtime import Services
from pipeline.store import dialects


def _tweets_to_deliver(
    session: Session, batch: ParsedBatch, result: IngestResult, first_attempt: bool
) -> list[int]:
    """The new tweets; on a redelivery, every tweet of the batch that is stored.

    A redelivered task finds its tweets stored already (dedupe says none is new), yet the
    attempt that stored them may have died before fanning them out. Writing them all again is
    safe: feed writes are idempotent.
    """
    if first_attempt:
        return result.new_ids
    return sorted(dialects.existing(session, table_of(load_tweet_model()).c.id, batch.tweets))


def plan(
    svc: Services, session: Session, batch: ParsedBatch, result: IngestResult, first: bool
) -> tuple[Delivery, list[tuple[str, int]]]:
    """Inside the batch's second transaction: activities for its tweets, their fan-out, and the
    feed items of deleted tweets. Returns the delivery and the pairs Redis must drop."""
    if svc.settings.disable_fanout:
        return Delivery(), []
    ids = _tweets_to_deliver(session, batch, result, first)
    rows = [activities.tweet_row(batch.tweets[i]) for i in ids]
    delivery = fanout.plan(svc, session, activities.insert(session, rows)) if rows else Delivery()
    deleted = [f"tweet:{i}" for i in result.deleted_ids]
    doomed = [a.id for a in activities.by_foreign_id(session, deleted)] if deleted else []
    return delivery, fanout.remove(svc, session, doomed) if doomed else []
