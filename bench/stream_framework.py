"""``fanout-vs-stream-framework``: tweetfeed's fan-out against Stream-Framework 1.4.0's.

One author followed by 20,000 feeds (quick: 500), every feed pre-filled with 200 items, the
same private ``redis-server`` for both (tweetfeed in db 0, Stream-Framework in db 1), each
fanning out through its own real Celery worker with as many processes as the Procfile's
``fanout`` worker runs (:func:`fanout_processes`):

- tweetfeed: ``Client.add_activity`` for ``user:1``, ``celery -A workers worker -Q
  fanout,fanout_low -c N`` on PostgreSQL, CELEBRITY_THRESHOLD above the follower count,
  FANOUT_CHUNK_SIZE at its default;
- Stream-Framework: ``manager.add_user_activity`` into ``RedisFeed``s
  (``bench/stream_framework_app``), its own worker, pickled tasks, its default chunk of 100.

A run adds a few activities and is timed from the first send until every follower feed holds
all of them; a write is one activity landing in one follower feed. Each run then checks every
97th feed for the exact members it should hold. Runs alternate, ours first.

Stream-Framework lives in its own venv, built on first use and patched where 1.4.0 predates
Python 3.10 and redis-py 3 (``bench/stream_framework_app/install.py``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence

import redis
from sqlalchemy import select

from bench.harness import (
    BIN,
    ROOT,
    WORK,
    CpuMeter,
    Figure,
    PrivateRedis,
    backends,
    environment,
    fresh_database,
    interleave,
    private_redis,
    spread,
    started,
    tail,
    tree,
)
from bench.stream_framework_app.install import ensure_venv
from models import Activity
from pipeline.bus.client import Client
from pipeline.cli.up import read_procfile
from pipeline.feeds import follows, ids
from pipeline.store.engine import make_engine, make_sessionmaker

APP = ROOT / "bench" / "stream_framework_app"
LOGS = WORK / "stream_framework"
DATABASE = "bench_stream_framework"
AUTHOR = 1
PREFILL = 200
SAMPLE_EVERY = 97


def prefill(client: redis.Redis, keys: Sequence[str], member: Callable[[int], str]) -> None:
    """Give every feed ``PREFILL`` items older than anything a run adds."""
    client.flushdb()
    for start in range(0, len(keys), 1000):
        pipe = client.pipeline(transaction=False)
        for key in keys[start : start + 1000]:
            pipe.zadd(key, {member(n): 1_000_000_000_000 + n for n in range(PREFILL)})
        pipe.execute()


def cut_back(client: redis.Redis, keys: Sequence[str]) -> None:
    """Drop what earlier runs added (everything above the pre-filled, lowest-scored items)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.zremrangebyrank(key, PREFILL, -1)
    pipe.execute()


def wait_landed(
    client: redis.Redis,
    keys: Sequence[str],
    queues: Sequence[str],
    added: int,
    timeout: float,
    worker: subprocess.Popen[bytes],
    broker: redis.Redis | None = None,
) -> None:
    """Return once every feed in ``keys`` holds ``added`` items more than its pre-fill.

    Counting is left until the worker's queues and unacked hash are empty, so that polling
    does not load the Redis being measured; a count that falls short means keep waiting.
    """
    deadline = time.perf_counter() + timeout
    landed = 0
    while time.perf_counter() < deadline and worker.poll() is None:
        pipe = (broker or client).pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
        pipe.hlen("unacked")
        if not any(pipe.execute()):
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            landed = sum(min(int(n) - PREFILL, added) for n in pipe.execute())
            if landed == added * len(keys):
                return
        time.sleep(0.005)
    ended = "" if worker.poll() is None else f" (worker exited {worker.returncode})"
    raise RuntimeError(f"only {landed:,} of {added * len(keys):,} feed writes landed{ended}")


def check_sample(client: redis.Redis, keys: Sequence[str], members: Sequence[str]) -> None:
    """Every ``SAMPLE_EVERY``-th feed holds every one of ``members``."""
    sample = keys[::SAMPLE_EVERY]
    pipe = client.pipeline(transaction=False)
    for key in sample:
        for member in members:
            pipe.zscore(key, member)
    missing = sum(score is None for score in pipe.execute())
    if missing:
        raise RuntimeError(f"{missing} of {len(sample) * len(members)} sampled writes missing")


def fanout_processes() -> str:
    """The process count of the Procfile's ``fanout`` worker (its ``-c``): the benchmarks run
    fan-out as the product deploys it, and give Stream-Framework's worker as many."""
    command = read_procfile()["fanout"].split()
    return command[command.index("-c") + 1]


class Side:
    """One system's fan-out: its worker, its feeds, and a timed run of ``activities``."""

    name = ""
    queues: tuple[str, ...] = ()

    def __init__(self, server: PrivateRedis, db: int, followers: int, activities: int) -> None:
        self.server, self.client = server, server.client(db)
        self.broker: redis.Redis = self.client  # where the worker's queues are
        self.followers, self.activities = followers, activities
        self.runs = 0
        self.cpu: list[float] = []  # CPU µs per write, per measured run
        self.log = LOGS / f"{self.name}-worker.log"
        self.keys: list[str] = []
        self.worker: subprocess.Popen[bytes] | None = None

    def publish(self, run: int, count: int) -> tuple[Callable[[], None], Callable[[], list[str]]]:
        """What sends ``count`` activities, and what then names the members they became."""
        raise NotImplementedError

    def groups(self) -> dict[str, Callable[[], Iterable[int]]]:
        assert self.worker is not None
        return {"worker": tree(self.worker.pid), "redis": lambda: [self.server.pid]}

    def once(self, count: int, timeout: float) -> float:
        """Add ``count`` activities; return the seconds until all landed, checked."""
        self.runs += 1
        cut_back(self.client, self.keys)
        send, members = self.publish(self.runs, count)
        meter = CpuMeter(self.groups()).start()
        begun = time.perf_counter()
        send()
        try:
            assert self.worker is not None
            wait_landed(self.client, self.keys, self.queues, count, timeout, self.worker,
                        self.broker)  # fmt: skip
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name}: {exc}; worker log:\n{tail(self.log)}") from exc
        seconds = time.perf_counter() - begun
        spent = sum(meter.stop().values())
        check_sample(self.client, self.keys, members())
        self.cpu.append(spent / (count * len(self.keys)) * 1e6)
        return seconds

    def measured(self) -> float:
        """One measured run: feed writes per second."""
        return round(self.activities * self.followers / self.once(self.activities, 300), 1)


class Tweetfeed(Side):
    name = "tweetfeed"
    queues = ("fanout", "fanout_low")
    database_name = DATABASE
    key = staticmethod(ids.redis_key)  # a feed's key, as the feed store names it

    def setup(self) -> list[str]:
        self.database = fresh_database(self.database_name)
        engine = make_engine(self.database)
        target = ids.user_feed(AUTHOR)
        feeds = [f"timeline:{n}" for n in range(self.followers)]
        with make_sessionmaker(engine).begin() as session:
            follows.add(session, [(feed, target) for feed in feeds])
        engine.dispose()
        self.keys = [self.key(feed) for feed in feeds]
        # Members far above any activity id a run creates, so that none is overwritten.
        prefill(self.client, self.keys, lambda n: ids.member(10**15 + n))
        self.env = environment(
            TWEETFEED_DATABASE_URL=self.database,
            TWEETFEED_REDIS_URL=self.server.url(0),
            TWEETFEED_CELEBRITY_THRESHOLD=str(self.followers * 2),
            TWEETFEED_VAR_DIR=str(LOGS / "var"),
        )
        return [str(BIN / "celery"), "-A", "workers", "worker", "-Q", "fanout,fanout_low",
                "-c", fanout_processes(), "--loglevel=WARNING",
                "-n", f"bench-sf-{self.name}@%h"]  # fmt: skip

    def groups(self) -> dict[str, Callable[[], Iterable[int]]]:
        return {**super().groups(), "postgres": backends(self.database_name)}

    def publish(self, run: int, count: int) -> tuple[Callable[[], None], Callable[[], list[str]]]:
        foreign = [f"bench:{run}:{n}" for n in range(count)]

        def send() -> None:
            with Client(self.env.get("TWEETFEED_BROKER_URL") or self.server.url(0)) as client:
                for n, fid in enumerate(foreign):
                    tweet = f"tweet:{run * 1000 + n}"
                    client.add_activity(
                        actor=ids.user_feed(AUTHOR), verb="tweet", object=tweet, foreign_id=fid
                    )

        def members() -> list[str]:
            engine = make_engine(self.database)
            with make_sessionmaker(engine)() as session:
                query = select(Activity.id).where(Activity.foreign_id.in_(foreign))
                found = [ids.member(i) for i in session.scalars(query)]
            engine.dispose()
            return found

        return send, members


class StreamFramework(Side):
    name = "stream-framework"
    queues = ("celery",)

    def setup(self) -> list[str]:
        self.python = ensure_venv(LOGS / "venv.log")
        # Celery refuses pickle as root unless told: CI runs as root.
        self.env = environment(SF_REDIS_URL=self.server.url(1), C_FORCE_ROOT="1")
        self.keys = [f"sf:feed:{n}" for n in range(self.followers)]
        # The members Stream-Framework writes: epoch ms, 10-digit object id, 3-digit verb id.
        prefill(self.client, self.keys, lambda n: f"1000000000{n:03d}{n:010d}005")
        self.client.sadd(f"sf:followers:{AUTHOR}", *range(self.followers))
        return [str(self.python.parent / "celery"), "-A", "sfapp", "worker",
                "-c", fanout_processes(), "--loglevel=WARNING",
                "-n", "bench-sf-reference@%h"]  # fmt: skip

    def groups(self) -> dict[str, Callable[[], Iterable[int]]]:
        return {**super().groups(), "producer": tree(self.driver)}

    def publish(self, run: int, count: int) -> tuple[Callable[[], None], Callable[[], list[str]]]:
        # The driver imports and connects before the clock starts, then waits for a line.
        args = [str(self.python), "drive.py", str(AUTHOR), str(count), str(run * 1000)]
        driver = subprocess.Popen(args, cwd=APP, env=self.env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert driver.stdin is not None and driver.stdout is not None
        if driver.stdout.readline().strip() != "ready":
            driver.kill()
            raise RuntimeError("the Stream-Framework driver did not start")
        stdin, stdout = driver.stdin, driver.stdout
        self.driver = driver.pid

        def send() -> None:
            stdin.write("go\n")
            stdin.close()

        def members() -> list[str]:
            sent: list[str] = json.loads(stdout.readline())
            if driver.wait(timeout=30) != 0 or len(sent) != count:
                raise RuntimeError("the Stream-Framework driver failed")
            return sent

        return send, members


def run(quick: bool) -> list[Figure]:
    followers, activities, pairs = (500, 4, 1) if quick else (20_000, 10, 3)
    with private_redis() as server:
        ours = Tweetfeed(server, 0, followers, activities)
        theirs = StreamFramework(server, 1, followers, activities)
        ours_args, theirs_args = ours.setup(), theirs.setup()
        with (
            started(ours_args, ours.log, cwd=ROOT, env=ours.env) as ours.worker,
            started(theirs_args, theirs.log, cwd=APP, env=theirs.env) as theirs.worker,
        ):
            for side in (ours, theirs):  # worker boot and warm-up, not measured
                side.once(1, 120)
                side.cpu.clear()
            a, b = interleave(pairs, ours.measured, theirs.measured)
    value, reference = statistics.median(a), statistics.median(b)
    notes = (
        f"{activities} activities x {followers:,} followers a run, feeds pre-filled to {PREFILL}, "
        f"{pairs} interleaved pairs; feed writes/s tweetfeed {spread(a)}, Stream-Framework "
        f"{spread(b)}; CPU µs per write (workers, Redis, tweetfeed's PostgreSQL, "
        f"Stream-Framework's producer) tweetfeed {statistics.median(ours.cpu):.1f}, "
        f"Stream-Framework {statistics.median(theirs.cpu):.1f}; chunks: tweetfeed "
        "FANOUT_CHUNK_SIZE default, Stream-Framework fanout_chunk_size 100; "
        f"every {SAMPLE_EVERY}th feed checked member by member"
    )
    return [
        Figure(
            name="fanout-vs-stream-framework",
            value=round(value),
            unit="feed writes/s",
            reference=round(reference),
            ratio=round(value / reference, 2),
            target="≥ 5×",
            met=value >= 5 * reference,
            runs={"tweetfeed": a, "stream-framework": b},
            notes=notes,
        )
    ]


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
