"""``tweetfeed status``: listener state, terms, rates and queue depths, as tables."""

from __future__ import annotations

from typing import Any

import redis
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import DeadLetter, StreamProcess
from pipeline.control import counters, presence, stats, terms
from pipeline.settings import Settings
from pipeline.store.engine import sessionmaker_for, transaction

LATEST_DEAD_LETTERS = 20


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

    ``client`` is Redis at REDIS_URL; ``broker`` the broker's Redis, which is ``client`` itself
    when the two URLs are one (the default); elsewhere and not given, a new connection.
    """
    if broker is None:
        same = settings.celery_broker_url == settings.redis_url
        broker = client if same else redis.Redis.from_url(settings.celery_broker_url)
    with transaction(sessions or sessionmaker_for(settings.database_url)) as session:
        listeners = [
            {"host": p.host, "pid": p.pid, "keys": p.keys_name, "state": p.state,
             "tweets": p.tweets_received, "last_error": p.last_error,
             "heartbeat": p.last_heartbeat.isoformat()}
            for p in session.scalars(select(StreamProcess).order_by(StreamProcess.id))
        ]  # fmt: skip
        term_rows = [{"id": t.id, "term": t.term, "enabled": t.enabled}
                     for t in terms.all_terms(session)]  # fmt: skip
        rows = stats.row_counts(session)
        dead = _dead_letters(session)
    per_minute = counters.rates(client, 60)
    last = per_minute[-1] if per_minute else {}
    for row in term_rows:
        row["per_minute"] = last.get(f"term:{row['id']}", 0)
    return {
        "listeners": listeners,
        "terms": term_rows,
        "tweets_per_minute": last.get("all", 0),
        "per_minute": [m.get("all", 0) for m in per_minute],
        "queues": stats.queue_depths(broker),
        "workers": presence.online(client),
        "dead_letters": dead,
        "rows": rows,
        "flower_url": settings.flower_url,
    }


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) if v is not None else "" for v in row])
    return table


def print_status(settings: Settings) -> None:
    facts = gather(settings, redis.Redis.from_url(settings.redis_url))
    console = Console()
    console.print(_table(
        "listeners", ["keys", "state", "host", "pid", "tweets", "last heartbeat", "last error"],
        [[p["keys"], p["state"], p["host"], p["pid"], p["tweets"], p["heartbeat"], p["last_error"]]
         for p in facts["listeners"]],
    ))  # fmt: skip
    console.print(_table(
        f"terms ({facts['tweets_per_minute']} tweets in the last minute)",
        ["id", "term", "enabled", "tweets/min"],
        [[t["id"], t["term"], t["enabled"], t["per_minute"]] for t in facts["terms"]],
    ))  # fmt: skip
    console.print(
        _table("queues", ["queue", "waiting"], [[q, n] for q, n in facts["queues"].items()])
    )
    console.print(_table("rows", ["table", "rows"], [[t, n] for t, n in facts["rows"].items()]))
