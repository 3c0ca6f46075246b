"""Aggregation for ``*_aggregated`` and ``notification`` feeds: activities grouped by verb and
object per (UTC) day, so a page can say "alice and 3 others retweeted …"."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.enrich import EnrichedActivity
from pipeline.times import iso

SHOWN_PER_GROUP = 15  # activities listed in a group; all of them are counted


@dataclass
class Group:
    """Activities with one verb and object on one day, newest first."""

    id: str
    verb: str
    object: str
    day: str
    records: list[ActivityRecord] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    activities: list[EnrichedActivity] = field(default_factory=list)
    seen: bool = False
    read: bool = False

    @property
    def score(self) -> int:
        """The newest activity's score: where the group sits in its feed."""
        return self.records[0].score

    @property
    def activity_count(self) -> int:
        return len(self.records)

    @property
    def actor_count(self) -> int:
        return len(self.actors)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verb": self.verb,
            "object": self.object,
            "day": self.day,
            "activity_count": self.activity_count,
            "actor_count": self.actor_count,
            "actors": self.actors[:SHOWN_PER_GROUP],
            "updated_at": iso(self.records[0].time),
            "is_seen": self.seen,
            "is_read": self.read,
            "activities": [a.as_json() for a in self.activities],
        }


def group_id(verb: str, obj: str, day: str) -> str:
    digest = hashlib.blake2b(f"{verb}\0{obj}\0{day}".encode(), digest_size=8).hexdigest()
    return f"g{digest}"


def group(records: Sequence[ActivityRecord]) -> list[Group]:
    """Group ``records`` (newest first); groups come out ordered by their newest activity."""
    groups: dict[tuple[str, str, str], Group] = {}
    for record in records:
        day = record.time.date().isoformat()
        key = (record.verb, record.object, day)
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(group_id(*key), record.verb, record.object, day)
        found.records.append(record)
        if record.actor not in found.actors:
            found.actors.append(record.actor)
    return list(groups.values())
