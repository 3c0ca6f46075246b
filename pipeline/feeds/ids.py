"""The one place that owns feed ids, the references activities hold, feed types and every
Redis key a feed uses.

A feed is ``slug:key``: ``user:42``, ``timeline:7``, ``hashtag:python``. The slug decides the
feed's type: ``notification`` is a notification feed, a slug ending in ``_aggregated`` is
aggregated, anything else is flat (``user``, ``timeline``, ``hashtag``, ``term`` and any slug an
app invents, as GetStream's feed groups allow).
"""

from __future__ import annotations

import re
from binascii import crc_hqx
from collections.abc import Callable
from enum import Enum
from functools import cache

from pipeline.control.redis_keys import NAMESPACE
from pipeline.settings import Settings

FEED_RE = re.compile(r"[a-z][a-z0-9_]{0,31}:[\w-]{1,150}")
PREFIX = "tweetfeed:feed:"
# Hash slots a Redis Cluster's feeds are spread over (``cluster_key``): a 5,000-feed fan-out
# chunk is about a thousand script calls, against one a feed, and a thousand slots still
# spread evenly over a hundred masters. Three masters on one machine, 20,000 feeds an activity,
# in-process: 210,840-249,899 writes/s and 1.7-2.4 µs of client CPU a write, against
# 75,461-90,166 and 9.3-11.0 with a slot a feed.
CLUSTER_BUCKETS = 1024
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
    """``feed``'s sorted set on one Redis server."""
    return PREFIX + feed


def cluster_key(feed: str) -> str:
    """``feed``'s sorted set on a Redis Cluster: in one of CLUSTER_BUCKETS hash slots, picked
    by the feed's name, so that a chunk's feeds make few slots and a script call writes many.
    """
    return f"{PREFIX}{{{crc_hqx(feed.encode(), 0) % CLUSTER_BUCKETS}}}:{feed}"


def cluster_slot(key: str) -> int:
    """The hash slot of a :func:`cluster_key`, read off its tag (Redis: CRC16 of the tag)."""
    start = len(PREFIX) + 1
    return _BUCKET_SLOTS[key[start : key.index("}", start)]]


_BUCKET_SLOTS = {str(b): crc_hqx(str(b).encode(), 0) % 16384 for b in range(CLUSTER_BUCKETS)}


def key_for(cluster: bool) -> Callable[[str], str]:
    """:func:`cluster_key` on a cluster, :func:`redis_key` on one server."""
    return cluster_key if cluster else redis_key


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
