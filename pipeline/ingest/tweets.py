"""Store a parsed batch: dedupe, insert-or-ignore, deletes that win, dead letters.

The ids this returns as new are exactly the tweets this call inserted; they are what fan-out
uses, so a replayed batch fans out nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from models import (
    TweetDeletion,
    TweetHashtag,
    TweetMention,
    TwitterUser,
    load_tweet_model,
    table_of,
)
from pipeline.ingest import raw
from pipeline.ingest.parse.records import ParsedBatch
from pipeline.store import deadletters, dialects


@dataclass(slots=True)
class IngestResult:
    """What one batch did; ``new_ids`` feed the fan-out that follows the commit."""

    new_ids: list[int] = field(default_factory=list)
    deleted_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    dead_letters: int = 0
    notices: dict[str, int] = field(default_factory=dict)

    @property
    def recheck_ids(self) -> list[int]:
        """Ids whose tombstones must be checked again once this transaction is visible."""
        return sorted({*self.new_ids, *self.deleted_ids})


def _tweet_table() -> Table:
    return table_of(load_tweet_model())


def _delete_tweets(session: Session, ids: list[int]) -> None:
    dialects.delete_where_in(session, table_of(TweetHashtag).c.tweet_id, ids)
    dialects.delete_where_in(session, table_of(TweetMention).c.tweet_id, ids)
    dialects.delete_where_in(session, _tweet_table().c.id, ids)


def _tweet_rows(batch: ParsedBatch, ids: list[int]) -> list[dict[str, Any]]:
    model = load_tweet_model()
    extra = getattr(model, "extra_values", None)
    rows = []
    for tweet_id in ids:
        record = batch.tweets[tweet_id]
        row = dict(record.row, raw=raw.encode(record.row["raw"]))
        if extra is not None:
            row.update(extra({"payload": record.payload, **record.row}))
        rows.append(row)
    return rows


def store_batch(
    session: Session, batch: ParsedBatch, source: str, received_at: float | None = None
) -> IngestResult:
    """Write ``batch`` inside the caller's transaction. Never commits."""
    received = datetime.fromtimestamp(received_at, UTC) if received_at else datetime.now(UTC)
    received = received.replace(tzinfo=None)
    result = IngestResult(duplicates=batch.duplicates, notices=dict(batch.notices))

    deletes = [dict(d, deleted_at=d["deleted_at"] or received) for d in batch.deletes.values()]
    deletes.sort(key=lambda d: d["tweet_id"])
    dialects.insert_ignore(session, table_of(TweetDeletion), deletes)
    result.deleted_ids = [d["tweet_id"] for d in deletes]
    _delete_tweets(session, result.deleted_ids)

    tombstoned = dialects.existing(session, table_of(TweetDeletion).c.tweet_id, batch.tweets)
    candidates = sorted(set(batch.tweets) - tombstoned)
    table = _tweet_table()
    result.new_ids = dialects.insert_new(session, table, _tweet_rows(batch, candidates), "id")
    result.duplicates += len(candidates) - len(result.new_ids)

    tags = [{"tweet_id": i, "tag": t} for i in result.new_ids for t in batch.tweets[i].hashtags]
    dialects.insert_ignore(session, table_of(TweetHashtag), tags)
    mentions = [
        {"tweet_id": i, "user_id": u} for i in result.new_ids for u in batch.tweets[i].mentions
    ]
    dialects.insert_ignore(session, table_of(TweetMention), mentions)
    users = [batch.users[i] for i in sorted(batch.users)]
    dialects.upsert_newer(session, table_of(TwitterUser), users, "id", "profile_at")

    dead = [deadletters.row(source, reason, payload, received) for reason, payload in batch.dead]
    result.dead_letters = deadletters.record_all(session, dead)
    return result


def enforce_deletions(session: Session, ids: list[int]) -> list[int]:
    """Delete any of ``ids`` that has a tombstone; return those removed.

    Run in a transaction of its own after :func:`store_batch` commits. A tweet and its delete
    notice can be stored by two workers at once, each unable to see the other's uncommitted
    row; because each side checks again after its own commit, the later check always sees the
    other's row, so the delete wins whatever the order.
    """
    doomed = sorted(dialects.existing(session, table_of(TweetDeletion).c.tweet_id, ids))
    if doomed:
        _delete_tweets(session, doomed)
    return doomed
