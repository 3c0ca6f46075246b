"""Activities: stored once in SQL, referenced by id from every feed they reach.

Ingested tweets become activities through ``pipeline.ingest.tweet_activities``; other apps send
their own with ``tweetfeed.add_activity``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from models import Activity, table_of
from pipeline.feeds.storage.base import Item
from pipeline.store import dialects
from pipeline.times import iso, millis

_t = table_of(Activity)


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
    item: Item = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Fan-out asks for the item once per feed it writes: compute the score once.
        object.__setattr__(self, "item", Item(millis(self.time), self.id))

    @property
    def score(self) -> int:
        return self.item.score

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


def insert(session: Session, rows: list[dict[str, Any]]) -> list[ActivityRecord]:
    """Insert ``rows`` that are new by foreign_id; return every row's activity, new or not.

    New rows come back from the insert itself; only rows stored before (a redelivery) are
    read back.
    """
    rows = sorted(rows, key=lambda r: r["foreign_id"])
    new = dict(dialects.insert_returning(session, _t, rows, ["foreign_id", "id"]))
    found = [_from_row(new[r["foreign_id"]], r) for r in rows if r["foreign_id"] in new]
    old = [r["foreign_id"] for r in rows if r["foreign_id"] not in new]
    return found + by_foreign_id(session, old) if old else found


def _from_row(activity_id: int, row: dict[str, Any]) -> ActivityRecord:
    """The record of a row just inserted, as :func:`load` would read it back (aware UTC)."""
    time: datetime = row["time"]
    return ActivityRecord(
        id=activity_id,
        actor=row["actor"],
        verb=row["verb"],
        object=row["object"],
        target=row["target"],
        time=time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC),
        foreign_id=row["foreign_id"],
        to=tuple(orjson.loads(row["to_feeds"])) if row["to_feeds"] else (),
        extra=orjson.loads(row["extra"]) if row["extra"] else None,
    )


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


def stored_foreign_ids(session: Session, foreign_ids: Sequence[str]) -> set[str]:
    """Those of ``foreign_ids`` that some activity has."""
    found: set[str] = set()
    for part in dialects.chunks(sorted(set(foreign_ids))):
        condition = dialects.among(session, _t.c.foreign_id, part)
        found.update(session.scalars(select(_t.c.foreign_id).where(condition)))
    return found


def load(session: Session, ids: Iterable[int]) -> dict[int, ActivityRecord]:
    """The activities with these ids that still exist, by id: one query per thousand."""
    return {a.id: a for a in _select(session, _t.c.id, ids)}


def newest_id(session: Session) -> int:
    """The highest activity id stored so far (0 for none)."""
    return int(session.scalar(select(func.max(_t.c.id))) or 0)


def existing_ids(session: Session, ids: Iterable[int]) -> set[int]:
    return dialects.existing(session, _t.c.id, ids)


def delete_ids(session: Session, ids: Sequence[int]) -> None:
    for part in dialects.chunks(sorted(ids)):
        session.execute(delete(_t).where(dialects.among(session, _t.c.id, part)))
