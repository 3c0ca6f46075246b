"""Tweets for the fake X API: texts built around the current rules' values, posted by accounts
from the shared ``people`` pool and rendered by the shared v2 renderer with the rules matched.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

from pipeline.fakes.clock import snowflake
from pipeline.fakes.people import User, make_users
from pipeline.fakes.tweets import Span, Tweet
from pipeline.fakes.v2_json import stream_message
from pipeline.fakes.xapi.rules import Rule

__all__ = ["TweetFactory", "TweetLine"]

_AUTHORS = 8
_OPENERS = (
    "Just read a long thread about",
    "Hot take:",
    "Can't stop thinking about",
    "Morning notes on",
    "New post up about",
    "Anyone else excited about",
    "Live from the meetup, all talk is",
    "Quick question about",
)
_CLOSERS = ("today", "again", "right now", "this week", "lately", "for the first time", "", "")
_HASHTAGS = ("news", "dev", "data", "opensource", "weekend", "tbt")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")


@dataclass(frozen=True, slots=True)
class TweetLine:
    """One generated tweet, already rendered: its id and its JSON line without the CRLF."""

    id: int
    message: bytes


@dataclass(slots=True)
class TweetFactory:
    """Builds tweets that match the current rules, with realistic ids and authors."""

    rng: random.Random
    users: list[User] = field(default_factory=list)
    last_id: int = 0

    @classmethod
    def seeded(cls, seed: int) -> TweetFactory:
        """A factory whose text and author choices all come from ``seed``."""
        rng = random.Random(seed)
        return cls(rng=rng, users=make_users(rng, _AUTHORS))

    def next_id(self, now_ms: int) -> int:
        """A snowflake id for ``now_ms``, strictly above every id handed out before."""
        self.last_id = max(self.last_id + 1, snowflake(now_ms))
        return self.last_id

    def build(self, rules: list[Rule]) -> TweetLine:
        """A tweet whose text contains one rule's value (or more), naming every rule it matches."""
        now_ms = int(time.time() * 1000)
        tweet_id = self.next_id(now_ms)
        text = self._text(rules)
        user = self.rng.choice(self.users)
        hashtags = [
            Span(m.start(), m.end(), "hashtag", m.group(1)) for m in _HASHTAG.finditer(text)
        ]
        tweet = Tweet(tweet_id, now_ms, user, text, hashtags, "en", conversation_id=tweet_id)
        matching = [
            {"id": rule.id, "tag": rule.tag} for rule in rules if rule.value.lower() in text.lower()
        ]
        return TweetLine(tweet_id, stream_message(tweet, matching))

    def _text(self, rules: list[Rule]) -> str:
        """Filler text around one chosen rule value, sometimes a second value and a hashtag."""
        chosen = [self.rng.choice(rules)] if rules else []
        if len(rules) > 1 and self.rng.random() < 0.25:
            chosen.append(self.rng.choice([r for r in rules if r is not chosen[0]]))
        keywords = [rule.value for rule in chosen]
        words = [self.rng.choice(_OPENERS), " and ".join(keywords), self.rng.choice(_CLOSERS)]
        if self.rng.random() < 0.5:
            words.append("#" + self.rng.choice(_HASHTAGS))
        return " ".join(word for word in words if word)
