"""The format-free state of one synthetic stream: its users, its clock and the earlier tweets
that replies, retweets, quotes and deletes refer to; each step yields the next event.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pipeline.fakes.clock import snowflake
from pipeline.fakes.people import User, make_users
from pipeline.fakes.synth.text import Composer, Token
from pipeline.fakes.tweets import V1_LIMIT, V2_LIMIT, Span, Tweet, clip

__all__ = ["Delete", "Stream", "pick_recent", "remember"]

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
_DAY_MS = 86_400_000

# Windows that bound memory however many lines are asked for.
_TARGET_WINDOW = 1_000
_DELETE_WINDOW = 2_000
_OLDER_POOL = 64

# Cumulative thresholds: 55% plain, 15% replies, 15% retweets, 7% quotes, 4% long, 2% deletes,
# 2% re-deliveries.
_KINDS = (
    (0.55, "plain"),
    (0.70, "reply"),
    (0.85, "retweet"),
    (0.92, "quote"),
    (0.96, "long"),
    (0.98, "delete"),
    (1.00, "duplicate"),
)
_OLDER_SHARE = 0.2


@dataclass(slots=True, frozen=True)
class Delete:
    """A deletion notice for an earlier top-level tweet."""

    tweet: Tweet


def remember(items: list[Any], item: Any, window: int) -> None:
    """Append to a list that only ever needs its last `window` items."""
    items.append(item)
    if len(items) > 2 * window:
        del items[:window]


def pick_recent(rng: random.Random, items: list[Any], window: int) -> Any:
    """Pick uniformly among the last `window` items."""
    return items[rng.randrange(max(0, len(items) - window), len(items))]


class Stream:
    """The format-free state of one synthetic stream: users, clock and earlier tweets."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = random.Random(seed)
        self.compose = Composer(self.rng, make_users(self.rng, users))
        self.ms = EPOCH_MS
        self.sequence = 0
        self.originals: list[Tweet] = []  # plain, reply and long tweets: any reference target
        self.quotes: list[Tweet] = []  # quoted in turn, never retweeted (keeps nesting shallow)
        self.posted: list[Tweet] = []  # every top-level tweet, for deletes
        self.older: list[Tweet] = []  # originals from before the stream, never top-level

    def step(self, can_redeliver: bool) -> Tweet | Delete | None:
        """Advance the clock; return a new tweet, a deletion, or None for a re-delivery."""
        self.ms += self.rng.randint(1, 19)  # ~10 ms apart, strictly increasing ids
        roll = self.rng.random()
        kind = next(name for limit, name in _KINDS if roll < limit)
        if kind == "duplicate":
            return None if can_redeliver else self._plain()
        if kind == "delete":
            victim = self._delete_target()
            return Delete(victim) if victim else self._plain()
        make = {
            "plain": self._plain,
            "reply": self._reply,
            "retweet": self._retweet,
            "quote": self._quote,
            "long": self._long,
        }[kind]
        return make()

    def _next_id(self, ms: int) -> int:
        """A snowflake id: timestamp, then 10 worker bits, then a 12-bit sequence."""
        self.sequence = (self.sequence + 1) & 0xFFF
        return snowflake(ms, (self.rng.getrandbits(10) << 12) | self.sequence)

    def _new(
        self, user: User, text: str, spans: list[Span], lang: str, ms: int | None = None
    ) -> Tweet:
        """Build a tweet stamped now (or at `ms`) that starts its own conversation."""
        ms = self.ms if ms is None else ms
        tweet_id = self._next_id(ms)
        source = self.compose.source()
        return Tweet(tweet_id, ms, user, text, spans, lang, tweet_id, source)

    def _post(self, tweet: Tweet, target_list: list[Tweet] | None) -> Tweet:
        """Record a top-level tweet so later lines can reference or delete it."""
        remember(self.posted, tweet, _DELETE_WINDOW)
        if target_list is not None:
            remember(target_list, tweet, _TARGET_WINDOW)
        return tweet

    def _plain(self) -> Tweet:
        """A short original tweet."""
        lang = self.compose.lang()
        text, spans = self.compose.text(lang, 12, V1_LIMIT)
        return self._post(self._new(self.compose.user(), text, spans, lang), self.originals)

    def _long(self) -> Tweet:
        """An original longer than v1.1's 140 code points."""
        # Half fit v2's 280 but not v1.1's 140; half are v2 "note tweets" beyond 280.
        lo, hi = (141, V2_LIMIT) if self.rng.random() < 0.5 else (V2_LIMIT + 1, 900)
        lang = self.compose.lang()
        text, spans = self.compose.text(lang, lo, hi)
        return self._post(self._new(self.compose.user(), text, spans, lang), self.originals)

    def _reply(self) -> Tweet:
        """A reply to an earlier top-level tweet, opening with its author's handle."""
        target = self._stream_target(self.originals)
        if target is None:
            return self._plain()
        lead: Token = ("@" + target.user.screen_name, "mention", target.user)
        text, spans = self.compose.text(target.lang, 12, V1_LIMIT, lead)
        tweet = self._new(self.compose.user(), text, spans, target.lang)
        tweet.reply_to = target
        tweet.conversation_id = target.conversation_id
        target.reply_count += 1
        return self._post(tweet, self.originals)

    def _retweet(self) -> Tweet:
        """A retweet: "RT @author: " and the original clipped to 140 code points."""
        original = self._original(self.originals)
        prefix = f"RT @{original.user.screen_name}: "
        body, body_spans = clip(original.text, original.spans, V1_LIMIT)
        spans = [Span(3, len(prefix) - 2, "mention", original.user)]
        spans += [
            Span(s.start + len(prefix), s.end + len(prefix), s.kind, s.value) for s in body_spans
        ]
        tweet = self._new(self.compose.user(), prefix + body, spans, original.lang)
        tweet.retweet_of = original
        original.retweet_count += 1
        return self._post(tweet, None)

    def _quote(self) -> Tweet:
        """A comment quoting an earlier tweet, occasionally itself a quote."""
        pool = self.quotes if self.quotes and self.rng.random() < 0.1 else self.originals
        quoted = self._original(pool)
        lang = self.compose.lang()
        text, spans = self.compose.text(lang, 12, V1_LIMIT)
        tweet = self._new(self.compose.user(), text, spans, lang)
        tweet.quote_of = quoted
        quoted.quote_count += 1
        return self._post(tweet, self.quotes)

    def _stream_target(self, pool: list[Tweet]) -> Tweet | None:
        """An earlier top-level tweet that is still there, or None."""
        if not pool:
            return None
        target = pick_recent(self.rng, pool, _TARGET_WINDOW)
        return None if target.deleted else target

    def _original(self, pool: list[Tweet]) -> Tweet:
        """What a retweet or quote embeds: mostly from this stream, sometimes from before it."""
        original = None if self.rng.random() < _OLDER_SHARE else self._stream_target(pool)
        if original is None:
            original = self._older()
        original.favorite_count += self.rng.randint(0, 3)
        return original

    def _older(self) -> Tweet:
        """An original from before the stream began, so it never appears as a line itself."""
        if self.older and self.rng.random() < 0.5:
            return self.rng.choice(self.older)  # viral: retweeted again and again
        user = self.compose.user()
        earliest = max(EPOCH_MS - 730 * _DAY_MS, user.created_ms + _DAY_MS)
        ms = self.rng.randint(earliest, EPOCH_MS - 3_600_000)
        lang = self.compose.lang()
        lo, hi = (141, 600) if self.rng.random() < 0.15 else (12, V1_LIMIT)
        text, spans = self.compose.text(lang, lo, hi)
        tweet = self._new(user, text, spans, lang, ms)
        tweet.retweet_count = int(self.rng.paretovariate(1.1) * 20)
        tweet.favorite_count = tweet.retweet_count * self.rng.randint(2, 8)
        tweet.reply_count = self.rng.randint(0, 50)
        tweet.quote_count = self.rng.randint(0, 20)
        remember(self.older, tweet, _OLDER_POOL)
        return tweet

    def _delete_target(self) -> Tweet | None:
        """An earlier top-level tweet to delete, marked so nothing references it afterwards."""
        victim = self._stream_target(self.posted)
        if victim is not None:
            victim.deleted = True
        return victim
