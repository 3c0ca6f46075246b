"""The one place that owns feed ids, the references activities hold, feed types and every
Redis key a feed uses.

A feed is ``slug:key``: ``user:42``, ``timeline:7``, ``hashtag:python``. The slug decides the
feed's type: ``notification`` is a notification feed, a slug ending in ``_aggregated`` is
aggregated, anything else is flat (``user``, ``timeline``, ``hashtag``, ``term`` and any slug an
app invents, as GetStream's feed groups allow).
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache

from pipeline.control.redis_keys import NAMESPACE
from pipeline.settings import Settings

FEED_RE = re.compile(r"[a-z][a-z0-9_]{0,31}:[\w-]{1,150}")
PREFIX = "tweetfeed:feed:"
CELEBRITIES = NAMESPACE + "celebrities"
# Kept in the celebrity set so that an empty set and a lost one can be told apart.
CELEBRITY_SENTINEL = "~"
# Every user with a mute, block or muted word (``pipeline.feeds.filters``), and the same sentinel.
FILTERED = NAMESPACE + "filtered"
# When each feed was last read (a sorted set: member the feed, score ms), for active-only fan-out.
READS = NAMESPACE + "feeds:read"
# The feeds a user's filters apply to, by slug: the key is the user.
OWNED_SLUGS = ("timeline", "timeline_aggregated", "notification")
MEMBER_WIDTH = 19  # digits of the largest BIGINT


class FeedError(ValueError):
    """Not a feed id."""


class FeedType(Enum):
    FLAT = "flat"
    AGGREGATED = "aggregated"
    NOTIFICATION = "notification"


def check(feed: object) -> str:
    """Return ``feed`` if it is a valid feed id; raise FeedError naming it otherwise."""
    if not isinstance(feed, str) or not FEED_RE.fullmatch(feed):
        raise FeedError(
            f"{feed!r} is not a feed id (slug:key; key of letters, digits, '_' and '-')"
        )
    return feed


def slug(feed: str) -> str:
    return feed.partition(":")[0]


def feed_type(feed: str) -> FeedType:
    name = slug(feed)
    if name == "notification":
        return FeedType.NOTIFICATION
    if name.endswith("_aggregated"):
        return FeedType.AGGREGATED
    return FeedType.FLAT


@cache
def _lengths(pairs: tuple[tuple[str, int], ...]) -> dict[str, int]:
    return dict(pairs)


def max_length(feed: str, settings: Settings) -> int:
    """Items kept in ``feed``: its slug's entry in FEED_MAX_LENGTHS, else FEED_MAX_LENGTH.

    Called for every feed write, so the table is built once per settings value, not per call.
    """
    return _lengths(settings.feed_max_lengths).get(slug(feed), settings.feed_max_length)


def redis_key(feed: str) -> str:
    return PREFIX + feed


def feed_of_key(key: bytes | str) -> str:
    text = key.decode() if isinstance(key, bytes) else key
    return text[len(PREFIX) :]


def member(activity_id: int) -> str:
    """A ZSET member: the activity id, zero-padded so equal scores order as ids do in SQL."""
    return f"{activity_id:0{MEMBER_WIDTH}d}"


def user_feed(user: int | str) -> str:
    """What an actor did: ``user:<id>``."""
    return f"user:{user}"


def news_feeds(user: int | str) -> list[str]:
    """The two news feeds of a user, flat and aggregated (stream-django's ``follow_user``)."""
    return [f"timeline:{user}", f"timeline_aggregated:{user}"]


def notification_feed(user: int | str) -> str:
    return f"notification:{user}"


def term_feed(term: int | str) -> str:
    """The tweets that matched filter term ``term`` (its id)."""
    return f"term:{term}"


def tweet_ref(tweet: int | str) -> str:
    """The reference an activity's object or target holds for a tweet: ``tweet:<id>``."""
    return f"tweet:{tweet}"


def hashtag_feed(tag: str) -> str | None:
    """``hashtag:<tag>`` with the tag case-folded, or None for a tag that cannot be a key."""
    feed = f"hashtag:{tag.casefold()}"
    return feed if FEED_RE.fullmatch(feed) else None


def owner(feed: str) -> str | None:
    """The user whose mutes, blocks and muted words apply to ``feed``, or None."""
    slug, _, key = feed.partition(":")
    return key if slug in OWNED_SLUGS else None
