"""``fanout-cluster``: tweetfeed's fan-out with its feeds on a Redis Cluster of three masters,
against the same fan-out with its feeds on one Redis server, on this machine.

Both sides are ``bench.stream_framework``'s tweetfeed side: one author followed by 20,000 feeds
(quick: 500), each pre-filled with 200 items, ``Client.add_activity`` for the author, and a real
``celery -A workers worker -Q fanout,fanout_low`` with the Procfile's fan-out process count on
PostgreSQL; a write is one activity landing in one follower feed.

- cluster: ``TWEETFEED_REDIS_URL`` names a private cluster of three masters (``tests.cluster``),
  the broker a private ``redis-server`` of its own;
- one server: a private ``redis-server`` for feeds and broker, as the ``fanout`` benchmark runs.

Runs alternate, cluster first; CPU counts the worker, every Redis process and PostgreSQL. On one
machine the three masters share the cores one server has alone, so the figure is what the
cluster's way of writing costs (feeds grouped by slot, a script call a slot, the removal record
read before and after each write), not what it gains: that needs masters on machines of their
own.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.harness import ROOT, Figure, PrivateRedis, interleave, private_redis, spread, started
from bench.stream_framework import PREFILL, Tweetfeed
from pipeline.feeds import ids
from pipeline.store.redis_client import connect
from tests.cluster import Cluster, redis_cluster


class OnOneServer(Tweetfeed):
    name = "one-server"
    database_name = "bench_fanout_one_server"


class OnCluster(Tweetfeed):
    name = "cluster"
    database_name = "bench_fanout_cluster"
    key = staticmethod(ids.cluster_key)

    def __init__(self, broker: PrivateRedis, cluster: Cluster, followers: int, count: int) -> None:
        super().__init__(broker, 0, followers, count)
        self.cluster = cluster
        self.client = connect(cluster.url)

    def setup(self) -> list[str]:
        args = super().setup()
        self.env.update(TWEETFEED_REDIS_URL=self.cluster.url,
                        TWEETFEED_BROKER_URL=self.server.url(0))  # fmt: skip
        return args

    def groups(self) -> dict[str, Callable[[], Iterable[int]]]:
        return {**super().groups(), "masters": lambda: list(self.cluster.pids)}


def run(quick: bool) -> list[Figure]:
    followers, activities, pairs = (500, 4, 1) if quick else (20_000, 10, 3)
    with (
        private_redis() as alone,
        private_redis() as broker,
        tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder,
        redis_cluster(Path(folder)) as cluster,
    ):
        spread_out = OnCluster(broker, cluster, followers, activities)
        one = OnOneServer(alone, 0, followers, activities)
        sides = (spread_out, one)
        argv = [side.setup() for side in sides]
        with (
            started(argv[0], spread_out.log, cwd=ROOT, env=spread_out.env) as spread_out.worker,
            started(argv[1], one.log, cwd=ROOT, env=one.env) as one.worker,
        ):
            for side in sides:  # worker boot and warm-up, not measured
                side.once(1, 120)
                side.cpu.clear()
            a, b = interleave(pairs, spread_out.measured, one.measured)
    value, reference = statistics.median(a), statistics.median(b)
    notes = (
        f"{activities} activities x {followers:,} followers a run, feeds pre-filled to {PREFILL}, "
        f"{pairs} interleaved pairs; feed writes/s cluster of 3 masters {spread(a)}, one server "
        f"{spread(b)}; CPU µs per write (worker, Redis processes, PostgreSQL) cluster "
        f"{statistics.median(spread_out.cpu):.1f}, one server {statistics.median(one.cpu):.1f}; "
        "all on this machine's cores"
    )
    return [
        Figure(
            name="fanout-cluster",
            value=round(value),
            unit="feed writes/s",
            reference=round(reference),
            ratio=round(value / reference, 3),
            target="≥ 50% of one server on the same cores",
            met=value >= 0.5 * reference,
            runs={"cluster": a, "one-server": b},
            notes=notes,
        )
    ]


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
