"""Send tweetfeed's public tasks from another Python app, by name, without importing ``workers``.

    from pipeline.bus.client import Client

    client = Client("redis://127.0.0.1:6379/0")
    client.add_activity(actor="user:42", verb="like", object="tweet:123", to=["notification:7"])
    client.follow_user("7", "42")  # timeline:7 and timeline_aggregated:7 follow user:42

Each call publishes one Celery protocol-2 message with the payload as keyword arguments, the
same message any Celery client (Python's ``send_task``, Node.js's celery-node) would send.
"""

from __future__ import annotations

from typing import Any

from pipeline.bus import routes
from pipeline.bus.sender import TaskSender
from pipeline.feeds import ids
from pipeline.settings import get_settings

Users = list[str] | None


class Client:
    """Publishes feed tasks to the broker; returns each task's id."""

    def __init__(self, broker_url: str | None = None) -> None:
        self.sender = TaskSender(broker_url or get_settings().celery_broker_url)

    def __repr__(self) -> str:
        return f"Client({self.sender!r})"

    def send(self, name: str, **payload: Any) -> str:
        """Send task ``name`` with ``payload``, dropping arguments left as None."""
        return self.sender.send(name, {k: v for k, v in payload.items() if v is not None})

    def add_activity(self, **activity: Any) -> str:
        """actor, verb, object; optional target, time (ISO-8601 UTC), foreign_id, to, extra."""
        return self.send(routes.ADD_ACTIVITY, **activity)

    def remove_activity(self, foreign_id: str | None = None, activity_id: int | None = None) -> str:
        return self.send(routes.REMOVE_ACTIVITY, foreign_id=foreign_id, activity_id=activity_id)

    def follow(self, feed: str, target: str, backfill: int | None = None) -> str:
        return self.send(routes.FOLLOW, feed=feed, target=target, backfill=backfill)

    def unfollow(self, feed: str, target: str, keep_history: bool = False) -> str:
        """``keep_history``: the feed keeps the target's items it already holds."""
        return self.send(routes.UNFOLLOW, feed=feed, target=target,
                         keep_history=keep_history or None)  # fmt: skip

    def unfollow_many(self, follows: list[dict[str, str]], keep_history: bool = False) -> str:
        return self.send(routes.UNFOLLOW_MANY, follows=follows, keep_history=keep_history or None)

    def follow_many(self, follows: list[dict[str, str]], backfill: int | None = None) -> str:
        return self.send(routes.FOLLOW_MANY, follows=follows, backfill=backfill)

    def follow_user(self, user: str, target_user: str, backfill: int | None = None) -> str:
        """stream-django's follow_user: both news feeds of ``user`` follow ``user:<target>``."""
        target = ids.user_feed(target_user)
        pairs = [{"feed": feed, "target": target} for feed in ids.news_feeds(user)]
        return self.follow_many(pairs, backfill)

    def unfollow_user(self, user: str, target_user: str, keep_history: bool = False) -> str:
        """stream-django's unfollow_user: both news feeds of ``user`` stop following
        ``user:<target>``, in one task."""
        target = ids.user_feed(target_user)
        pairs = [{"feed": feed, "target": target} for feed in ids.news_feeds(user)]
        return self.unfollow_many(pairs, keep_history)

    def filter(
        self, user: str, mute: Users = None, block: Users = None, words: Users = None
    ) -> str:
        """Keep what matches out of ``user``'s timelines and notifications (Mastodon's mutes,
        blocks and muted words): ``mute`` and ``block`` list user ids."""
        return self.send(routes.FILTER, user=user, mute=mute, block=block, words=words)

    def unfilter(
        self, user: str, mute: Users = None, block: Users = None, words: Users = None
    ) -> str:
        return self.send(routes.UNFILTER, user=user, mute=mute, block=block, words=words)

    def mute(self, user: str, target_user: str) -> str:
        return self.filter(user, mute=[target_user])

    def unmute(self, user: str, target_user: str) -> str:
        return self.unfilter(user, mute=[target_user])

    def block(self, user: str, target_user: str) -> str:
        return self.filter(user, block=[target_user])

    def unblock(self, user: str, target_user: str) -> str:
        return self.unfilter(user, block=[target_user])

    def mute_words(self, user: str, *words: str) -> str:
        return self.filter(user, words=list(words))

    def unmute_words(self, user: str, *words: str) -> str:
        return self.unfilter(user, words=list(words))

    def broadcast(self, activity: dict[str, Any], feeds: list[str]) -> str:
        """One activity into every listed feed (django-user-streams' message to many users)."""
        return self.send(routes.BROADCAST, activity=activity, feeds=feeds)

    def close(self) -> None:
        self.sender.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
