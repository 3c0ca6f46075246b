"""Every Redis key the control side uses: worker presence, listener counters and rates, and the
channel that tells listeners the filter terms changed; and the namespace every tweetfeed key
but the feeds is under.

NAMESPACE is a Redis Cluster hash tag: every key under it hashes to one slot, so the scripts,
MULTIs and multi-key commands among them run on a cluster as on one server. Feeds
(``tweetfeed:feed:*``) are named without it and spread over the cluster's slots
(``pipeline.feeds.ids.cluster_key``).
"""

from __future__ import annotations

NAMESPACE = "{tweetfeed}:"
CONTROL_CHANNEL = NAMESPACE + "control"
TERMS_FINGERPRINT = NAMESPACE + "terms:fingerprint"


def worker(hostname: str) -> str:
    return NAMESPACE + "worker:" + hostname


def rate(minute: int) -> str:
    """Tweets counted in one minute (a hash: ``total`` and one field per term)."""
    return f"{NAMESPACE}rate:{minute}"


def listener(keys_name: str) -> str:
    return NAMESPACE + "listener:" + keys_name


def term_field(term_id: int | str) -> str:
    """The field of a :func:`rate` hash that counts one filter term's tweets."""
    return f"term:{term_id}"
