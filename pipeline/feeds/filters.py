"""Mute, block and muted words (Mastodon's feed filters): what a user keeps out of their
timelines and notifications.

A user's rules apply to the feeds they read as theirs: ``timeline:<user>``,
``timeline_aggregated:<user>`` and ``notification:<user>`` (their own ``user:`` feed is what they
did, and is never filtered). An activity is kept out when

- its actor is a user they mute or block, or its object is a tweet by one (a retweet or quote of
  that user's tweet);
- for a block, also when its object or target is the blocked user, or it mentions them;
- its text (the tweet's, a retweet's own, or ``extra["content"]``) holds a muted word: a whole
  word or phrase, case-insensitively.

Fan-out leaves such activities out of those feeds (so a notification is never made), and every
read leaves out what is there anyway (written before the rule, or merged in from a celebrity).
The owners with any rule are kept in a Redis set beside the feeds, so a read or a fan-out that
meets none of them costs one set lookup; the set is rebuilt from SQL when Redis has lost it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from models import FeedFilter, table_of
from pipeline.bus.errors import PayloadError
from pipeline.feeds import ids
from pipeline.feeds.enrich import EnrichedActivity
from pipeline.feeds.storage import sets
from pipeline.feeds.task_payloads import check_fields
from pipeline.store import dialects

_t = table_of(FeedFilter)
KINDS = ("mute", "block", "word")
FIELDS = {"mute": "mute", "block": "block", "words": "word"}  # payload field: kind
MAX_RULES = 100  # per field of one request
USER_RE = re.compile(r"[\w-]{1,150}")
WORD_MAX = 100
OWNERS = ids.FILTERED
owner = ids.owner


def feeds_of(user: str) -> list[str]:
    return [f"{slug}:{user}" for slug in ids.OWNED_SLUGS]


@dataclass(frozen=True)
class Rules:
    """One user's rules."""

    muted: frozenset[str]  # user references, ``user:<id>``
    blocked: frozenset[str]
    words: tuple[str, ...]

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """The muted words as one case-insensitive, whole-word pattern (None without any)."""
        if not self.words:
            return None
        joined = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{joined})(?!\w)", re.IGNORECASE)

    def hides(self, item: EnrichedActivity) -> bool:
        a = item.activity
        silenced = self.muted | self.blocked
        obj = item.object_data if isinstance(item.object_data, dict) else {}
        author = f"user:{obj['author_id']}" if obj.get("author_id") else None
        if a.actor in silenced or author in silenced:
            return True
        if self.blocked and (
            a.object in self.blocked
            or a.target in self.blocked
            or any(ids.notification_feed(u.partition(":")[2]) in a.to for u in self.blocked)
        ):
            return True
        pattern = self.pattern
        return pattern is not None and any(pattern.search(t) for t in _texts(item, obj))


def _texts(item: EnrichedActivity, obj: dict[str, Any]) -> list[str]:
    found = [obj.get("text"), (item.foreign_data or {}).get("text")]
    content = (item.activity.extra or {}).get("content")
    return [t for t in (*found, content) if isinstance(t, str)]


def owners(session: Session, redis: Any) -> set[str]:
    """Every user with a rule (from Redis; from SQL when Redis has lost the set)."""
    return sets.members(redis, OWNERS, lambda: session.scalars(select(_t.c.owner).distinct()))


def among(session: Session, redis: Any, users: Iterable[str]) -> set[str]:
    """Those of ``users`` with a rule: one round trip, and a tiny one while no one has any."""
    wanted = sorted(set(users))
    if not wanted:
        return set()
    size = redis.scard(OWNERS)
    if size == 1:  # the sentinel alone
        return set()
    if size == 0:
        return owners(session, redis) & set(wanted)
    return {u for u, there in zip(wanted, redis.smismember(OWNERS, wanted), strict=True) if there}


def has_rules(session: Session, redis: Any, user: str) -> bool:
    """Whether ``user`` has a rule: one set lookup, unless Redis lost the set."""
    pipe = redis.pipeline(transaction=False)
    pipe.exists(OWNERS)
    pipe.sismember(OWNERS, user)
    there, member = pipe.execute()
    return bool(member) if there else user in owners(session, redis)


def load(session: Session, users: Iterable[str]) -> dict[str, Rules]:
    """The rules of each of ``users`` that has any."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for part in dialects.chunks(sorted(set(users))):
        query = select(_t.c.owner, _t.c.kind, _t.c.value).where(
            dialects.among(session, _t.c.owner, part)
        )
        for who, kind, value in session.execute(query):
            found[who][kind].add(value)
    return {
        who: Rules(
            frozenset(ids.user_feed(u) for u in kinds["mute"]),
            frozenset(ids.user_feed(u) for u in kinds["block"]),
            tuple(sorted(kinds["word"])),
        )
        for who, kinds in found.items()
    }


def rules_for(session: Session, redis: Any, feed: str) -> Rules | None:
    """The rules that apply to ``feed``, or None when there are none."""
    user = owner(feed)
    if user is None or not has_rules(session, redis, user):
        return None
    return load(session, [user]).get(user)


def hidden(
    session: Session, redis: Any, pairs: Sequence[tuple[str, EnrichedActivity]]
) -> set[tuple[str, int]]:
    """The (feed, activity id) pairs of ``pairs`` that their owner's rules keep out."""
    users = {who for who in (owner(f) for f, _ in pairs) if who is not None}
    rules = load(session, users)
    out: set[tuple[str, int]] = set()
    for feed, item in pairs:
        who = owner(feed) or ""
        if who in rules and rules[who].hides(item):
            out.add((feed, item.activity.id))
    return out


def add(session: Session, user: str, rules: Mapping[str, Sequence[str]]) -> None:
    rows = [{"owner": user, "kind": k, "value": v} for k in KINDS for v in rules.get(k, ())]
    dialects.insert_ignore(session, _t, rows)


def remove(session: Session, user: str, rules: Mapping[str, Sequence[str]]) -> bool:
    """Delete the listed rules; return whether ``user`` has any rule left."""
    for kind in KINDS:
        for value in rules.get(kind, ()):
            session.execute(
                delete(_t).where(and_(_t.c.owner == user, _t.c.kind == kind, _t.c.value == value))
            )
    return session.scalar(select(_t.c.owner).where(_t.c.owner == user).limit(1)) is not None


def listed(session: Session, user: str) -> dict[str, list[str]]:
    """``user``'s rules as the API shows them: ``mute``, ``block`` and ``words``."""
    found: dict[str, list[str]] = {"mute": [], "block": [], "words": []}
    query = select(_t.c.kind, _t.c.value).where(_t.c.owner == user).order_by(_t.c.kind, _t.c.value)
    for kind, value in session.execute(query):
        found["words" if kind == "word" else kind].append(value)
    return found


@dataclass(frozen=True)
class FilterRequest:
    """``tweetfeed.filter`` and ``tweetfeed.unfilter``: a user and the rules to add or drop,
    by kind (``mute`` and ``block`` list user ids, ``words`` words or phrases)."""

    user: str
    rules: dict[str, tuple[str, ...]]

    @classmethod
    def parse(cls, payload: Any) -> FilterRequest:
        check_fields(payload, {"user", *FIELDS}, {"user"})
        user = _user(payload["user"], "user")
        rules = {kind: _values(payload.get(name), name) for name, kind in FIELDS.items()}
        if not any(rules.values()):
            raise PayloadError("name at least one of 'mute', 'block' and 'words'")
        return cls(user, rules)


def _user(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not USER_RE.fullmatch(value):
        raise PayloadError(f"'{name}' must be a user id (letters, digits, '_', '-'), got {value!r}")
    return value


def _values(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_RULES:
        raise PayloadError(f"'{name}' must be a list of at most {MAX_RULES}")
    if name != "words":
        return tuple(dict.fromkeys(_user(v, name) for v in value))
    words = []
    for word in value:
        if not isinstance(word, str) or not word.strip() or len(word) > WORD_MAX:
            raise PayloadError(f"'words' must hold words of 1 to {WORD_MAX} characters")
        if not word.isprintable():
            raise PayloadError("'words' must not hold control characters")
        words.append(" ".join(word.split()).casefold())
    return tuple(dict.fromkeys(words))
