"""What the status page, ``/api/status`` and ``tweetfeed status|stats`` show: listener state,
terms and their rates, queue depths, workers online, dead letters and row counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import (
    Activity,
    DeadLetter,
    FeedItem,
    Follow,
    StreamProcess,
    TweetDeletion,
    TweetHashtag,
    TwitterUser,
    load_tweet_model,
)
from pipeline.bus import depths
from pipeline.control import counters, presence, redis_keys, terms
from pipeline.settings import Settings
from pipeline.store.engine import sessionmaker_for, transaction

LATEST_DEAD_LETTERS = 20


def row_counts(session: Session) -> dict[str, int]:
    tables = {
        "tweets": load_tweet_model().__table__,  # type: ignore[attr-defined]
        "twitter_users": TwitterUser.__table__,
        "tweet_hashtags": TweetHashtag.__table__,
        "tweet_deletions": TweetDeletion.__table__,
        "dead_letters": DeadLetter.__table__,
        "activities": Activity.__table__,
        "follows": Follow.__table__,
        "feed_items": FeedItem.__table__,
    }
    return {
        name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in tables.items()
    }


def _dead_letters(session: Session) -> dict[str, Any]:
    query = select(DeadLetter.id, DeadLetter.source, DeadLetter.reason, DeadLetter.received_at)
    latest = session.execute(query.order_by(DeadLetter.id.desc()).limit(LATEST_DEAD_LETTERS))
    return {
        "count": session.scalar(select(func.count()).select_from(DeadLetter)) or 0,
        "latest": [
            {"id": i, "source": src, "reason": reason, "received_at": at.isoformat()}
            for i, src, reason, at in latest
        ],
    }


def gather(
    settings: Settings,
    client: Any,
    sessions: sessionmaker[Session] | None = None,
    broker: Any = None,
) -> dict[str, Any]:
    """Every fact the status command, the status page and ``/api/status`` show. No secrets.

    ``client`` is Redis at REDIS_URL; ``broker`` what ``depths.queue_depths`` reads (made from
    the settings when not given).
    """
    if broker is None:
        broker = depths.broker_of(settings.celery_broker_url, settings.redis_url, client)
    with transaction(sessions or sessionmaker_for(settings.database_url)) as session:
        listeners = [
            {"host": p.host, "pid": p.pid, "keys": p.keys_name, "state": p.state,
             "tweets": p.tweets_received, "last_error": p.last_error,
             "heartbeat": p.last_heartbeat.isoformat()}
            for p in session.scalars(select(StreamProcess).order_by(StreamProcess.id))
        ]  # fmt: skip
        term_rows: list[dict[str, Any]] = [{"id": t.id, "term": t.term, "enabled": t.enabled}
                     for t in terms.all_terms(session)]  # fmt: skip
        rows = row_counts(session)
        dead = _dead_letters(session)
    per_minute = counters.rates(client, 60)
    last = per_minute[-1] if per_minute else {}
    for row in term_rows:
        field = redis_keys.term_field(row["id"])
        row["per_minute"] = last.get(field, 0)
        row["last_hour"] = [m.get(field, 0) for m in per_minute]  # oldest minute first
    return {
        "listeners": listeners,
        "terms": term_rows,
        "tweets_per_minute": last.get("all", 0),
        "per_minute": [m.get("all", 0) for m in per_minute],
        "queues": depths.queue_depths(broker),
        "workers": presence.online(client),
        "dead_letters": dead,
        "rows": rows,
        "flower_url": settings.flower_url,
    }
