"""The Redis client for ``TWEETFEED_REDIS_URL``: one server, or a Redis Cluster.

:func:`connect` asks the server named by the URL whether it runs in cluster mode (``INFO
cluster``) and returns redis-py's ``RedisCluster`` if it does, a plain ``Redis`` otherwise; a
server it cannot reach gets a plain client, as before (it connects on first use).

On a cluster every key but the feeds is under the hash tag ``{tweetfeed}``
(``pipeline.control.redis_keys.NAMESPACE``) and lives on the master that holds that slot;
feeds spread over every master, in 1,024 slots (``pipeline.feeds.storage.redis_cluster``).
"""

from __future__ import annotations

import logging
from typing import Any

import redis as redis_lib
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)


def connect(url: str) -> Any:
    """A client of the Redis at ``url``: ``RedisCluster`` when it is a cluster node."""
    client = redis_lib.Redis.from_url(url)
    if not _cluster_node(client):
        return client
    client.close()
    log.info("Redis at %s is a cluster node: feeds spread over the cluster", _where(url))
    return RedisCluster.from_url(url)


def refuse_as_broker(url: str) -> None:
    """Raise if the Redis at ``url`` (Celery's broker) is a cluster node: kombu's transport
    needs one server (its queues and their bookkeeping are keys of many slots)."""
    client = redis_lib.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        if _cluster_node(client):
            raise RuntimeError(
                f"the broker {_where(url)} is a Redis Cluster node, and Celery cannot use a "
                "cluster as its broker: set TWEETFEED_BROKER_URL to one Redis server or to "
                "RabbitMQ (TWEETFEED_REDIS_URL may stay the cluster)"
            )
    finally:
        client.close()


def _cluster_node(client: Any) -> bool:
    """Whether ``client``'s server runs in cluster mode; False when it cannot be reached."""
    try:
        return bool(client.info("cluster").get("cluster_enabled"))
    except (redis_lib.exceptions.ConnectionError, redis_lib.exceptions.TimeoutError):
        return False


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


def server_of(client: Any, key: str) -> Any:
    """A plain client of the one server that holds ``key`` (``client`` itself off a cluster)."""
    if not is_cluster(client):
        return client
    return client.get_node_from_key(key).redis_connection


def _where(url: str) -> str:
    """``url`` without its credentials."""
    return url.rpartition("@")[2]
