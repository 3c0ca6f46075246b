"""Validation of the public feed tasks' payloads (the README's task table).

Other apps, in any language, send these; each check names the field it rejects, because the
reason is all a person sees in ``dead_letters``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.bus.errors import PayloadError
from pipeline.feeds import ids
from pipeline.times import from_iso

REF_RE = re.compile(r"[A-Za-z][\w.-]{0,63}:[^\s]{1,120}")
VERB_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_TO = 100
MAX_EXTRA_BYTES = 64 << 10
MAX_FOLLOWS = 10_000
MAX_BROADCAST_FEEDS = 100_000
DEFAULT_BACKFILL = 200
MAX_BACKFILL = 1000


def check_fields(payload: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    """``payload`` if it is an object with only ``allowed`` fields and every ``required`` one."""
    if not isinstance(payload, dict):
        raise PayloadError(f"payload must be an object, got {type(payload).__name__}")
    unknown = set(payload) - allowed
    if unknown:
        raise PayloadError(f"unknown fields: {', '.join(sorted(unknown))}")
    missing = required - set(payload)
    if missing:
        raise PayloadError(f"missing fields: {', '.join(sorted(missing))}")
    return payload


def _ref(value: Any, name: str) -> str:
    if not isinstance(value, str) or not REF_RE.fullmatch(value):
        raise PayloadError(f"'{name}' must be a reference such as 'user:42', got {value!r}")
    return value


def _feed(value: Any, name: str) -> str:
    try:
        return ids.check(value)
    except ids.FeedError as exc:
        raise PayloadError(f"'{name}': {exc}") from None


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PayloadError(f"'time' must be an ISO-8601 string, got {value!r}")
    try:
        return from_iso(value)
    except ValueError:
        raise PayloadError(f"'time' is not ISO-8601: {value!r}") from None


def _bigint(value: Any, name: str) -> int:
    """An integer a BIGINT column holds: 0 to 2**63 - 1."""
    if type(value) is not int or not 0 <= value < 2**63:
        raise PayloadError(f"'{name}' must be an integer from 0 to 2**63 - 1")
    return value


def _backfill(value: Any) -> int:
    if value is None:
        return DEFAULT_BACKFILL
    if type(value) is not int or not 0 <= value <= MAX_BACKFILL:
        raise PayloadError(f"'backfill' must be an integer from 0 to {MAX_BACKFILL}")
    return value


def activity_row(payload: Any, now: datetime | None = None) -> dict[str, Any]:
    """The ``activities`` row for an ``add_activity`` payload (or a broadcast's activity).

    Without ``foreign_id`` one is derived from the fields (and the time, if given), so a
    redelivered task still adds the activity once.
    """
    allowed = {"actor", "verb", "object", "target", "time", "foreign_id", "to", "extra"}
    p = check_fields(payload, allowed, {"actor", "verb", "object"})
    actor, obj = _ref(p["actor"], "actor"), _ref(p["object"], "object")
    verb = p["verb"]
    if not isinstance(verb, str) or not VERB_RE.fullmatch(verb):
        raise PayloadError(f"'verb' must be lower-case letters, digits or '_', got {verb!r}")
    target = _ref(p["target"], "target") if p.get("target") is not None else None
    to = p.get("to") or []
    if not isinstance(to, list) or len(to) > MAX_TO:
        raise PayloadError(f"'to' must be a list of at most {MAX_TO} feed ids")
    to = list(dict.fromkeys(_feed(f, "to") for f in to))
    extra = p.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise PayloadError("'extra' must be an object")
    extra_json = orjson.dumps(extra).decode() if extra else None
    if extra_json and len(extra_json) > MAX_EXTRA_BYTES:
        raise PayloadError(f"'extra' is larger than {MAX_EXTRA_BYTES} bytes")
    foreign_id = p.get("foreign_id")
    if foreign_id is None:
        basis = "\0".join([actor, verb, obj, target or "", str(p.get("time") or "")])
        foreign_id = "auto:" + hashlib.blake2b(basis.encode(), digest_size=16).hexdigest()
    if not isinstance(foreign_id, str) or not 0 < len(foreign_id) <= 191:
        raise PayloadError("'foreign_id' must be a string of 1 to 191 characters")
    time = _time(p["time"]) if p.get("time") is not None else None
    return {
        "actor": actor,
        "verb": verb,
        "object": obj,
        "target": target,
        "time": time or (now or datetime.now(UTC)).replace(tzinfo=None),
        "foreign_id": foreign_id,
        "to_feeds": orjson.dumps(to).decode() if to else None,
        "extra": extra_json,
    }


@dataclass(frozen=True, slots=True)
class RemoveRequest:
    foreign_id: str | None
    activity_id: int | None

    @classmethod
    def parse(cls, payload: Any) -> RemoveRequest:
        p = check_fields(payload, {"foreign_id", "activity_id"}, set())
        foreign_id, activity_id = p.get("foreign_id"), p.get("activity_id")
        if (foreign_id is None) == (activity_id is None):
            raise PayloadError("exactly one of 'foreign_id' and 'activity_id' is required")
        if foreign_id is not None and not isinstance(foreign_id, str):
            raise PayloadError("'foreign_id' must be a string")
        if activity_id is not None:
            _bigint(activity_id, "activity_id")
        return cls(foreign_id, activity_id)


@dataclass(frozen=True, slots=True)
class FollowRequest:
    """follow, unfollow and their many forms alike: pairs of (feed, target), the size of a
    follow's backfill, and whether an unfollow leaves the feed the items it already holds."""

    pairs: tuple[tuple[str, str], ...]
    backfill: int
    keep_history: bool = False

    @classmethod
    def parse(cls, payload: Any) -> FollowRequest:
        p = check_fields(payload, {"feed", "target", "backfill"}, {"feed", "target"})
        return cls(((_pair(p),)), _backfill(p.get("backfill")))

    @classmethod
    def parse_many(cls, payload: Any) -> FollowRequest:
        p = check_fields(payload, {"follows", "backfill"}, {"follows"})
        return cls(_pairs(p["follows"]), _backfill(p.get("backfill")))

    @classmethod
    def parse_unfollow(cls, payload: Any) -> FollowRequest:
        # ``backfill`` means nothing here; it is taken (and checked) as it always was.
        p = check_fields(
            payload, {"feed", "target", "backfill", "keep_history"}, {"feed", "target"}
        )
        return cls(
            ((_pair(p),)), _backfill(p.get("backfill")), _keep_history(p.get("keep_history"))
        )

    @classmethod
    def parse_unfollow_many(cls, payload: Any) -> FollowRequest:
        p = check_fields(payload, {"follows", "keep_history"}, {"follows"})
        return cls(_pairs(p["follows"]), 0, _keep_history(p.get("keep_history")))


def _pairs(items: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(items, list) or not 0 < len(items) <= MAX_FOLLOWS:
        raise PayloadError(f"'follows' must be a list of 1 to {MAX_FOLLOWS} follows")
    pairs = [_pair(check_fields(i, {"feed", "target"}, {"feed", "target"})) for i in items]
    return tuple(dict.fromkeys(pairs))


def _keep_history(value: Any) -> bool:
    if value is not None and type(value) is not bool:
        raise PayloadError("'keep_history' must be true or false")
    return bool(value)


def _pair(p: dict[str, Any]) -> tuple[str, str]:
    feed, target = _feed(p["feed"], "feed"), _feed(p["target"], "target")
    if feed == target:
        raise PayloadError(f"a feed cannot follow itself ({feed!r})")
    return feed, target


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    activity: dict[str, Any]
    feeds: tuple[str, ...]

    @classmethod
    def parse(cls, payload: Any) -> BroadcastRequest:
        p = check_fields(payload, {"activity", "feeds"}, {"activity", "feeds"})
        feeds = p["feeds"]
        if not isinstance(feeds, list) or not 0 < len(feeds) <= MAX_BROADCAST_FEEDS:
            raise PayloadError(f"'feeds' must be a list of 1 to {MAX_BROADCAST_FEEDS} feed ids")
        checked = tuple(dict.fromkeys(_feed(f, "feeds") for f in feeds))
        return cls(activity_row(p["activity"]), checked)


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    """The internal ``fanout_chunk`` payload: one activity (with its score, when the sender
    knows it), a list of feeds, whether they are its direct addressees (a broadcast's) rather
    than followers, and when the chunk was planned (epoch ms, optional)."""

    activity_id: int
    feeds: list[str]
    direct: bool = False
    score: int | None = None
    planned: int | None = None

    @classmethod
    def parse(cls, payload: Any) -> ChunkRequest:
        if not (
            isinstance(payload, dict)
            and type(payload.get("activity_id")) is int
            and isinstance(payload.get("feeds"), list)
            and isinstance(payload.get("direct", False), bool)
            and type(payload.get("score", 0)) is int
            and type(payload.get("planned", 0)) is int
        ):
            raise PayloadError(
                "expected {'activity_id': int, 'feeds': [feed ids], 'direct': bool (optional),"
                " 'score': int (optional), 'planned': epoch ms (optional)}"
            )
        for name in ("activity_id", "score", "planned"):
            if name in payload:
                _bigint(payload[name], name)
        return cls(
            payload["activity_id"], payload["feeds"], payload.get("direct", False),
            payload.get("score"), payload.get("planned"),
        )  # fmt: skip
