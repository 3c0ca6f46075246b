"""Activities: stored once in SQL, referenced by id from every feed they reach.

An ingested tweet becomes the activity ``user:<author> tweet|reply|retweet|quote tweet:<id>``,
sent to ``hashtag:<tag>`` for each hashtag, ``notification:<user>`` for each mention and
``term:<id>`` for each filter term it matched. A retweet's object is the original tweet, so an
aggregated feed can say "alice and 3 others retweeted …".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import Activity, table_of
from pipeline.feeds import ids
from pipeline.feeds.storage.redis import Item
from pipeline.ingest.parse.records import EPOCH, TweetRecord
from pipeline.store import dialects

_t = table_of(Activity)


def millis(time: datetime) -> int:
    """Milliseconds since the epoch, exact (a feed's score)."""
    naive = time.astimezone(UTC).replace(tzinfo=None) if time.tzinfo else time
    delta = naive - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso(time: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, as every JSON answer gives times."""
    return time.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    """An activity as stored; ``to`` are the feeds it was addressed to besides its actor's."""

    id: int
    actor: str
    verb: str
    object: str
    target: str | None
    time: datetime
    foreign_id: str
    to: tuple[str, ...] = ()
    extra: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def score(self) -> int:
        return millis(self.time)

    @property
    def item(self) -> Item:
        return Item(self.score, self.id)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "verb": self.verb,
            "object": self.object,
            "target": self.target,
            "time": iso(self.time),
            "foreign_id": self.foreign_id,
            "to": list(self.to),
            "extra": self.extra or {},
        }


def _verb(row: dict[str, Any]) -> tuple[str, str, str | None]:
    """(verb, object, target) of a tweet."""
    own = f"tweet:{row['id']}"
    if row["retweeted_id"]:
        return "retweet", f"tweet:{row['retweeted_id']}", None
    if row["quoted_id"]:
        return "quote", own, f"tweet:{row['quoted_id']}"
    if row["in_reply_to_id"]:
        return "reply", own, f"tweet:{row['in_reply_to_id']}"
    return "tweet", own, None


def tweet_row(record: TweetRecord) -> dict[str, Any]:
    """The activity row of an ingested tweet (see the module docstring for the mapping)."""
    row = record.row
    verb, obj, target = _verb(row)
    to = [f for f in map(ids.hashtag_feed, record.hashtags) if f]
    to += [f"notification:{user}" for user in record.mentions if user != row["author_id"]]
    to += [f"term:{term}" for term in record.terms]
    return {
        "actor": f"user:{row['author_id']}",
        "verb": verb,
        "object": obj,
        "target": target,
        "time": row["created_at"],
        "foreign_id": f"tweet:{row['id']}",
        "to_feeds": orjson.dumps(to).decode() if to else None,
        "extra": None,
    }


def insert(session: Session, rows: list[dict[str, Any]]) -> list[ActivityRecord]:
    """Insert ``rows`` that are new by foreign_id; return every row's activity, new or not."""
    rows = sorted(rows, key=lambda r: r["foreign_id"])
    dialects.insert_ignore(session, _t, rows)
    return by_foreign_id(session, [r["foreign_id"] for r in rows])


def _record(row: Any) -> ActivityRecord:
    return ActivityRecord(
        id=row.id,
        actor=row.actor,
        verb=row.verb,
        object=row.object,
        target=row.target,
        time=row.time,
        foreign_id=row.foreign_id,
        to=tuple(orjson.loads(row.to_feeds)) if row.to_feeds else (),
        extra=orjson.loads(row.extra) if row.extra else None,
    )


def _select(session: Session, column: Any, keys: Iterable[Any]) -> list[ActivityRecord]:
    found: list[ActivityRecord] = []
    for part in dialects.chunks(sorted(set(keys))):
        found += map(
            _record, session.execute(select(_t).where(dialects.among(session, column, part)))
        )
    return found


def by_foreign_id(session: Session, foreign_ids: Sequence[str]) -> list[ActivityRecord]:
    return _select(session, _t.c.foreign_id, foreign_ids)


def load(session: Session, ids: Iterable[int]) -> dict[int, ActivityRecord]:
    """The activities with these ids that still exist, by id: one query per thousand."""
    return {a.id: a for a in _select(session, _t.c.id, ids)}


def existing_ids(session: Session, ids: Iterable[int]) -> set[int]:
    return dialects.existing(session, _t.c.id, ids)


def delete_ids(session: Session, ids: Sequence[int]) -> None:
    for part in dialects.chunks(sorted(ids)):
        session.execute(delete(_t).where(dialects.among(session, _t.c.id, part)))
