"""Aggregation for ``*_aggregated`` and ``notification`` feeds: activities grouped by a key, so a
page can say "alice and 3 others retweeted …".

The key is verb, object and (UTC) day unless ``TWEETFEED_AGGREGATION_KEYS`` names other parts for
the feed's slug (``notification=actor+verb+hour``): any of actor, verb, object, target and one
time bucket (hour, day, ISO week, month).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pipeline.feeds import ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.enrich import EnrichedActivity
from pipeline.settings import Settings
from pipeline.times import iso

SHOWN_PER_GROUP = 15  # activities listed in a group; all of them are counted
DEFAULT_KEY = ("verb", "object", "day")

_PARTS: dict[str, Callable[[ActivityRecord], str]] = {
    "actor": lambda r: r.actor,
    "verb": lambda r: r.verb,
    "object": lambda r: r.object,
    "target": lambda r: r.target or "",
    "hour": lambda r: r.time.strftime("%Y-%m-%dT%H"),
    "day": lambda r: r.time.date().isoformat(),
    "week": lambda r: "{}-W{:02d}".format(*r.time.isocalendar()[:2]),
    "month": lambda r: r.time.strftime("%Y-%m"),
}


@dataclass
class Group:
    """Activities that share their feed's aggregation key, newest first. ``verb``, ``object``
    and ``day`` are the newest activity's; ``group`` is the key's value, part by part."""

    id: str
    verb: str
    object: str
    day: str
    group: str = ""
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
            "group": self.group,
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


@cache
def _keys(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, tuple[str, ...]]:
    return dict(pairs)


def key_of(feed: str, settings: Settings) -> tuple[str, ...]:
    """The parts that group ``feed``: its slug's entry in AGGREGATION_KEYS, else the default."""
    return _keys(settings.aggregation_keys).get(ids.slug(feed), DEFAULT_KEY)


def group_id(*values: str) -> str:
    """A group's id: a digest of its key's values (verb, object and day by default)."""
    digest = hashlib.blake2b("\0".join(values).encode(), digest_size=8).hexdigest()
    return f"g{digest}"


def group(records: Sequence[ActivityRecord], key: Sequence[str] = DEFAULT_KEY) -> list[Group]:
    """Group ``records`` (newest first) by ``key``; groups come out ordered by their newest
    activity."""
    parts = [_PARTS[p] for p in key]
    groups: dict[tuple[str, ...], Group] = {}
    for record in records:
        values = tuple(part(record) for part in parts)
        found = groups.get(values)
        if found is None:
            day = record.time.date().isoformat()
            found = groups[values] = Group(
                group_id(*values), record.verb, record.object, day,
                " ".join(f"{p}={v}" for p, v in zip(key, values, strict=True)),
            )  # fmt: skip
        found.records.append(record)
        if record.actor not in found.actors:
            found.actors.append(record.actor)
    return list(groups.values())
