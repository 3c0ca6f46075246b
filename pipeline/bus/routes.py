"""The one place that owns task names and the queue each one is routed to.

These names are a public contract: other apps send tasks by them, in any language that speaks
Celery's protocol.
"""

from __future__ import annotations

INGEST_BATCH = "tweetfeed.ingest_batch"
ADD_ACTIVITY = "tweetfeed.add_activity"
REMOVE_ACTIVITY = "tweetfeed.remove_activity"
FOLLOW = "tweetfeed.follow"
UNFOLLOW = "tweetfeed.unfollow"
FOLLOW_MANY = "tweetfeed.follow_many"
UNFOLLOW_MANY = "tweetfeed.unfollow_many"
BROADCAST = "tweetfeed.broadcast"
FILTER = "tweetfeed.filter"
UNFILTER = "tweetfeed.unfilter"
FANOUT_CHUNK = "tweetfeed.fanout_chunk"
POLL_FILTER_TERMS = "tweetfeed.poll_filter_terms"

QUEUES = ("ingest", "fanout", "fanout_low", "control")

ROUTES: dict[str, str] = {
    INGEST_BATCH: "ingest",
    ADD_ACTIVITY: "fanout",
    REMOVE_ACTIVITY: "fanout",
    FOLLOW: "fanout",
    UNFOLLOW: "fanout",
    FOLLOW_MANY: "fanout",
    UNFOLLOW_MANY: "fanout",
    BROADCAST: "fanout_low",
    FILTER: "fanout",
    UNFILTER: "fanout",
    FANOUT_CHUNK: "fanout",
    POLL_FILTER_TERMS: "control",
}
