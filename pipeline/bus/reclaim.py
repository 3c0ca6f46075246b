"""Tasks of a dead worker go back to their queue within seconds, not a visibility timeout.

On a Redis broker, a task a worker has taken waits in kombu's ``unacked`` hash until the worker
acknowledges it (``acks_late``); if the worker dies, kombu gives it back only once
VISIBILITY_TIMEOUT has passed, since it cannot tell a dead worker from a slow one. Each worker
therefore records which tasks it holds (``tweetfeed:inflight``: delivery tag → worker) and keeps
a key alive while it lives (``tweetfeed:alive:<worker>``, ``ALIVE_SECONDS``). Every worker looks
now and then for tasks held by a worker whose key has lapsed, and gives them back at once.

A worker that is alive but stalled past ``ALIVE_SECONDS`` has its task given to another: it then
runs twice, which every task tolerates (writes are idempotent), as after any redelivery.
RabbitMQ needs none of this: it gives a dead consumer's messages back when its connection drops.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
INFLIGHT = "tweetfeed:inflight"
ALIVE_PREFIX = "tweetfeed:alive:"
ALIVE_SECONDS = 10
UNACKED = "unacked"  # kombu's Redis transport: delivery tag -> message of every unacked task
# Forget (tag, worker) pairs unless the tag was recorded again since (a task given back keeps
# its delivery tag, and the worker that takes it next records it under its own name).
_FORGET = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 1
"""


def me(hostname: str) -> str:
    """This worker process's name: its node name, host and pid (a worker restarted under the
    same node name is another worker)."""
    return f"{hostname}/{socket.gethostname()}/{os.getpid()}"


def holding(client: Any, tag: str, worker: str) -> None:
    """Record that ``worker`` holds the task with delivery tag ``tag``."""
    client.hset(INFLIGHT, tag, worker)


def alive(client: Any, worker: str) -> None:
    client.set(ALIVE_PREFIX + worker, 1, ex=ALIVE_SECONDS)


def gone(client: Any, worker: str) -> None:
    """A worker shutting down cleanly: its unacknowledged tasks go back at the next look."""
    client.delete(ALIVE_PREFIX + worker)


def reclaim(client: Any, restore: Callable[[str], None]) -> int:
    """Give back every unacknowledged task whose worker is gone; forget acknowledged ones.
    Returns how many went back."""
    held = {k.decode(): v.decode() for k, v in client.hgetall(INFLIGHT).items()}
    if not held:
        return 0
    tags, workers = list(held), sorted(set(held.values()))
    pipe = client.pipeline(transaction=False)
    for tag in tags:
        pipe.hexists(UNACKED, tag)
    for worker in workers:
        pipe.exists(ALIVE_PREFIX + worker)
    answers = pipe.execute()
    waiting = dict(zip(tags, answers[: len(tags)], strict=True))
    living = dict(zip(workers, answers[len(tags) :], strict=True))
    done: list[str] = []
    back = 0
    for tag, worker in held.items():
        if not waiting[tag]:
            done += (tag, worker)  # acknowledged (or given back) already
        elif not living[worker]:
            restore(tag)
            done += (tag, worker)
            back += 1
    if done:
        client.eval(_FORGET, 1, INFLIGHT, *done)
    if back:
        log.warning("gave back %d tasks of workers that are gone", back)
    return back
