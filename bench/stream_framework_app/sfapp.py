"""Stream-Framework 1.4.0's side of ``bench.stream_framework``: its Celery app, feeds and manager.

Run by the Stream-Framework venv's Python only, as the worker (``celery -A sfapp worker -c 2``)
and by ``drive.py``, both from this folder so that pickled references to this module resolve.
``SF_REDIS_URL`` (``redis://host:port/db``) is both the feed store and the broker. Tasks travel
pickled, as Stream-Framework needs: they carry the manager, the feed class and the operation.

The feeds are plain ``RedisFeed``s, kept to 1,000 items like tweetfeed's default; the follow
graph is a Redis set per author (``sf:followers:<id>``), which the bench fills.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from celery import Celery
from stream_framework import settings as sf_settings
from stream_framework.feed_managers.base import FanoutPriority, Manager
from stream_framework.feeds.redis import RedisFeed
from stream_framework.storage.redis.connection import get_redis_connection
from stream_framework.verbs import register
from stream_framework.verbs.base import Verb

URL = os.environ["SF_REDIS_URL"]
_url = urlsplit(URL)
sf_settings.STREAM_REDIS_CONFIG = {
    "default": {
        "host": _url.hostname or "127.0.0.1",
        "port": _url.port or 6379,
        "db": int(_url.path.strip("/") or 0),
        "password": None,
    }
}

app = Celery("sfbench", broker=URL, include=["stream_framework.tasks"])
app.conf.update(
    task_serializer="pickle",
    accept_content=["pickle"],
    result_serializer="pickle",
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)
app.set_default()


class Tweet(Verb):
    id = 5
    infinitive = "tweet"
    past_tense = "tweeted"


register(Tweet)


class TimelineFeed(RedisFeed):
    """A follower's feed: what fan-out writes."""

    key_format = "sf:feed:%(user_id)s"
    max_length = 1000


class UserFeed(RedisFeed):
    """What one author did."""

    key_format = "sf:user_feed:%(user_id)s"
    max_length = 1000


class BenchManager(Manager):
    feed_classes = {"normal": TimelineFeed}  # noqa: RUF012 (Stream-Framework's own API)
    user_feed_class = UserFeed

    def get_user_follower_ids(self, user_id):
        members = get_redis_connection().smembers(f"sf:followers:{user_id}")
        return {FanoutPriority.HIGH: sorted(int(m) for m in members)}


manager = BenchManager()
