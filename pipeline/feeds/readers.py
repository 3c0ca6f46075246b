"""stream-django's feed manager readers, by user id: the feeds ``follow_user`` and ingest fill.

    from pipeline.feeds.readers import get_news_feeds, get_notification_feed, get_user_feed

    get_user_feed(42)[:10]                   # what user 42 did
    get_news_feeds(7)["timeline"].page(25)   # what the users 7 follows did
    get_news_feeds(7)["timeline_aggregated"][:10]
    get_notification_feed(7).counts()

Each returns the lazy feed :func:`pipeline.feeds.read.get_feed` returns for the same id.
"""

from __future__ import annotations

from pipeline.feeds import ids
from pipeline.feeds.read import AggregatedFeed, FlatFeed, NotificationFeed, get_feed
from pipeline.runtime import Runtime


def get_user_feed(user: int | str, rt: Runtime | None = None) -> FlatFeed:
    """``user:<id>``: the user's own activities."""
    feed = get_feed(ids.user_feed(user), rt)
    assert isinstance(feed, FlatFeed)
    return feed


def get_news_feeds(
    user: int | str, rt: Runtime | None = None
) -> dict[str, FlatFeed | AggregatedFeed]:
    """The user's news feeds by slug: ``timeline`` (flat) and ``timeline_aggregated``."""
    found: dict[str, FlatFeed | AggregatedFeed] = {}
    for feed in ids.news_feeds(user):
        reader = get_feed(feed, rt)
        assert not isinstance(reader, NotificationFeed)
        found[ids.slug(feed)] = reader
    return found


def get_notification_feed(user: int | str, rt: Runtime | None = None) -> NotificationFeed:
    """``notification:<id>``: mentions, retweets of the user's tweets, and what apps send there."""
    feed = get_feed(ids.notification_feed(user), rt)
    assert isinstance(feed, NotificationFeed)
    return feed
