"""``ingest`` and ``ingest-no-fanout``: tweetfeed against the obvious Celery design, same file.

The input is a synthetic v1.1 stream (``pipeline.fakes.synth``, seed 7: replies, retweets,
quotes, deletes, byte-identical re-deliveries) of 60,000 lines (quick: 2,000). Each run gets
a fresh PostgreSQL database and a private ``redis-server``, starts a two-process Celery worker,
then times from the producer's start until every line is accounted for:

- tweetfeed: ``tweetfeed listen --from-file`` into ``celery -A workers worker -Q
  ingest,fanout,fanout_low -c 2``; raw payload kept (lz4), dedupe on, users, hashtags,
  mentions, activities and origin feeds written; done when ``tweetfeed:stats`` counts every
  line and the queues are empty. ``ingest-no-fanout`` is the same with
  TWEETFEED_DISABLE_FANOUT=true;
- obvious: ``bench.obvious.app``: 500 lines a task, orjson, jsonb ``ON CONFLICT DO NOTHING``.

CPU counts exactly the run's processes: the worker and producer process trees, the Redis
server by pid and the backends of the run's own database. Runs go ours, ours without fan-out,
obvious, and again, so each figure is interleaved with its reference.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    BIN,
    ROOT,
    WORK,
    CpuMeter,
    Figure,
    backends,
    environment,
    fresh_database,
    private_redis,
    spread,
    started,
    tail,
    tree,
)
from bench.obvious.app import COUNTER, DDL
from pipeline.fakes import synth
from pipeline.ingest.parked import STATS_KEY

LOGS = WORK / "ingest"
DATABASE = "bench_ingest"
QUEUES = ("ingest", "fanout", "fanout_low", "obvious")


@dataclass
class Result:
    """One run: lines per second and CPU µs per line, by process group."""

    rate: float
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())


def stream(lines: int) -> tuple[Path, int]:
    """The synthetic file of ``lines`` lines (made once) and its count of non-empty lines."""
    path = WORK / f"stream-{lines}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        synth.write(path, lines, "v1", seed=7)
    count = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    return path, count


def _wait(client: object, done: object, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.perf_counter() + 900
    while time.perf_counter() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited {worker.returncode}:\n{tail(log)}")
        if done():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise RuntimeError(f"not done after 900 s:\n{tail(log)}")


def run_once(kind: str, path: Path, lines: int) -> Result:
    """One timed run of ``kind``: ``tweetfeed``, ``no-fanout`` or ``obvious``."""
    url = fresh_database(DATABASE)
    log = LOGS / f"{kind}-worker.log"
    with private_redis() as server:
        client = server.client()
        if kind == "obvious":
            import psycopg

            with psycopg.connect(url.replace("+psycopg", "")) as db:
                db.execute(DDL)
            env = environment(OBVIOUS_DATABASE_URL=url.replace("+psycopg", ""),
                              OBVIOUS_REDIS_URL=server.url())  # fmt: skip
            worker_args = [str(BIN / "celery"), "-A", "bench.obvious.app", "worker", "-c", "2",
                           "-Q", "obvious", "--loglevel=WARNING",
                           "-n", "bench-obvious@%h"]  # fmt: skip
            producer = [str(BIN / "python"), "-m", "bench.obvious.app", str(path)]

            def done() -> bool:
                return int(client.get(COUNTER) or 0) >= lines
        else:
            settings = {"TWEETFEED_DATABASE_URL": url, "TWEETFEED_REDIS_URL": server.url(),
                        "TWEETFEED_VAR_DIR": str(LOGS / "var")}  # fmt: skip
            if kind == "no-fanout":
                settings["TWEETFEED_DISABLE_FANOUT"] = "true"
            env = environment(**settings)
            worker_args = [str(BIN / "celery"), "-A", "workers", "worker", "-c", "2",
                           "-Q", "ingest,fanout,fanout_low", "--loglevel=WARNING",
                           "-n", "bench-ingest@%h"]  # fmt: skip
            producer = [str(BIN / "tweetfeed"), "listen", "--from-file", str(path)]

            def done() -> bool:
                pipe = client.pipeline(transaction=False)
                pipe.hget(STATS_KEY, "lines")
                for queue in QUEUES:
                    pipe.llen(queue)
                counted, *depths = pipe.execute()
                return int(counted or 0) >= lines and not any(depths)

        with started(worker_args, log, cwd=ROOT, env=env) as worker:
            time.sleep(4)  # worker boot, not measured
            groups: dict[str, Callable[[], Iterable[int]]] = {
                "worker": tree(worker.pid),
                "postgres": backends(DATABASE),
                "redis": lambda: [server.pid],
            }
            meter = CpuMeter(groups)
            producer_log = LOGS / f"{kind}-producer.log"
            with producer_log.open("wb") as out:
                meter.start()
                begun = time.perf_counter()
                feeder = subprocess.Popen(producer, cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT)  # fmt: skip
                meter.groups["producer"] = tree(feeder.pid)
                _wait(client, done, worker, log)
                seconds = time.perf_counter() - begun
                feeder.wait(timeout=60)
                spent = meter.stop()
            if feeder.returncode != 0:
                raise RuntimeError(f"{kind} producer failed:\n{tail(producer_log)}")
    return Result(lines / seconds, {k: v / lines * 1e6 for k, v in spent.items()})


def _cpu(results: list[Result]) -> str:
    keys = sorted({k for r in results for k in r.cpu})
    parts = [f"{k} {statistics.median(r.cpu.get(k, 0.0) for r in results):.0f}" for k in keys]
    total = statistics.median(r.cpu_total for r in results)
    return f"{total:.0f} µs CPU per line ({', '.join(parts)})"


def run(quick: bool) -> list[Figure]:
    size, pairs = (2_000, 1) if quick else (60_000, 3)
    path, lines = stream(size)
    LOGS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[Result]] = {"tweetfeed": [], "no-fanout": [], "obvious": []}
    for _ in range(pairs):
        for kind in found:
            found[kind].append(run_once(kind, path, lines))
    rates = {k: [round(r.rate, 1) for r in v] for k, v in found.items()}
    reference = statistics.median(rates["obvious"])
    average = path.stat().st_size / lines
    figures = []
    for name, kind, factor, target in (
        ("ingest", "tweetfeed", 3, "≥ 3× the obvious design, ≥ 20,000 tweets/s, ≤ 100 µs CPU"),
        ("ingest-no-fanout", "no-fanout", 5, "≥ 5× the obvious design"),
    ):
        value = statistics.median(rates[kind])
        cpu = statistics.median(r.cpu_total for r in found[kind])
        met = value >= factor * reference
        if name == "ingest":
            met = met and value >= 20_000 and cpu <= 100
        figures.append(Figure(
            name=name, value=round(value), unit="lines/s", reference=round(reference),
            ratio=round(value / reference, 2), target=target, met=met,
            runs={kind: rates[kind], "obvious": rates["obvious"]},
            notes=(f"{lines:,} synthetic v1.1 lines of {average:,.0f} B, {pairs} interleaved "
                   f"runs each; lines/s {spread(rates[kind])} against obvious "
                   f"{spread(rates['obvious'])}; {_cpu(found[kind])}; obvious "
                   f"{_cpu(found['obvious'])}"),
        ))  # fmt: skip
    return figures


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
