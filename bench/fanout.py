"""``fanout``: tweetfeed's fan-out through Celery against raw Lua writes into the same Redis.

One author followed by 20,000 feeds (quick: 500), every feed pre-filled with 200 items, one
private ``redis-server``:

- tweetfeed: ``Client.add_activity`` for ``user:1`` and a real ``celery -A workers worker -Q
  fanout,fanout_low -c N`` on PostgreSQL, N the Procfile's fan-out worker's process count (the same
  side as ``bench.stream_framework``);
- raw: this process writing the same number of items straight into Redis with a Lua script
  of its own (``RAW_LUA``: ZADD, then trim to 1,000, per feed), one EVALSHA per 1,000 feeds,
  an activity's calls in one pipeline: what Redis alone can take, with no task queue, no
  database and no follow graph. It is written here, not borrowed from tweetfeed's feed store,
  so that the reference stays put while the store changes.

Runs alternate, ours first; a write is one activity landing in one follower feed, and every
97th feed is checked member by member after each run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable

from bench.harness import ROOT, CpuMeter, Figure, interleave, private_redis, spread, started, tail
from bench.stream_framework import PREFILL, Side, Tweetfeed, check_sample, cut_back, prefill
from pipeline.feeds import ids

# KEYS: feeds; ARGV: the member, its score, the length to keep.
RAW_LUA = """
local keep = -(tonumber(ARGV[3]) + 1)
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[1])
  redis.call('ZREMRANGEBYRANK', key, 0, keep)
end
return #KEYS
"""
PER_CALL = 1000
KEEP = 1000


class RawLua(Side):
    """The reference: :data:`RAW_LUA` from this process, nothing else."""

    name = "raw-lua"

    def setup(self) -> None:
        self.keys = [ids.redis_key(f"timeline:{n}") for n in range(self.followers)]
        prefill(self.client, self.keys, lambda n: ids.member(10**15 + n))
        self.sha = self.client.script_load(RAW_LUA)

    def add(self, activity: int, score: int) -> None:
        """One activity into every feed: one EVALSHA per :data:`PER_CALL` feeds, one trip."""
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(self.keys), PER_CALL):
            keys = self.keys[start : start + PER_CALL]
            pipe.evalsha(self.sha, len(keys), *keys, ids.member(activity), score, KEEP)
        pipe.execute()

    def groups(self) -> dict[str, Callable[[], Iterable[int]]]:
        return {"client": lambda: [os.getpid()], "redis": lambda: [self.server.pid]}

    def once(self, count: int, timeout: float) -> float:
        self.runs += 1
        cut_back(self.client, self.keys)
        first = 10**12 + self.runs * 1000
        meter = CpuMeter(self.groups()).start()
        begun = time.perf_counter()
        for n in range(count):
            self.add(first + n, 1_700_000_000_000 + first + n)
        seconds = time.perf_counter() - begun
        spent = sum(meter.stop().values())
        check_sample(self.client, self.keys, [ids.member(first + n) for n in range(count)])
        self.cpu.append(spent / (count * len(self.keys)) * 1e6)
        return seconds


def run(quick: bool) -> list[Figure]:
    followers, activities, pairs = (500, 4, 1) if quick else (20_000, 10, 3)
    with private_redis() as server:
        ours = Tweetfeed(server, 0, followers, activities)
        raw = RawLua(server, 2, followers, activities)
        args = ours.setup()
        raw.setup()
        with started(args, ours.log, cwd=ROOT, env=ours.env) as ours.worker:
            try:
                for side in (ours, raw):  # worker boot and warm-up, not measured
                    side.once(1, 120)
                    side.cpu.clear()
                a, b = interleave(pairs, ours.measured, raw.measured)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{tail(ours.log)}") from exc
    value, reference = statistics.median(a), statistics.median(b)
    notes = (
        f"{activities} activities x {followers:,} followers a run, feeds pre-filled to {PREFILL}, "
        f"{pairs} interleaved pairs; feed writes/s tweetfeed {spread(a)}, raw Lua {spread(b)}; "
        f"CPU µs per write tweetfeed {statistics.median(ours.cpu):.1f} (workers, Redis, its "
        f"PostgreSQL), raw {statistics.median(raw.cpu):.1f} (client, Redis)"
    )
    return [
        Figure(
            name="fanout",
            value=round(value),
            unit="feed writes/s",
            reference=round(reference),
            ratio=round(value / reference, 3),
            target="≥ 70% of raw Lua",
            met=value >= 0.7 * reference,
            runs={"tweetfeed": a, "raw-lua": b},
            notes=notes,
        )
    ]


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
