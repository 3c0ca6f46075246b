"""``make bench``: end-to-end ingest throughput on this machine, with where the CPU went.

Runs the real thing: a synthetic v1 stream replayed by ``tweetfeed listen`` into a real Celery
worker (prefork, 2 processes) writing to PostgreSQL (or the URL in BENCH_DATABASE_URL), raw
payload kept and dedupe on. Prints the machine, then figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis
from sqlalchemy import func, select, text

from models import Tweet
from pipeline.fakes import synth
from pipeline.ingest.parse import parse_lines
from pipeline.ingest.tweets import store_batch
from pipeline.store.engine import make_engine, make_sessionmaker
from pipeline.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.node()}: {psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def fresh_database(name: str) -> str:
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def cpu_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    seen = {}
    for process in processes:
        try:
            times = process.cpu_times()
            seen[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return seen


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots; processes born in between count whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def server_processes(name: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if name in (p.info["name"] or "")]


def snapshot(worker_pid: int) -> list[dict[int, float]]:
    worker = psutil.Process(worker_pid)
    return [
        cpu_by_pid([worker, *worker.children(recursive=True)]),
        cpu_by_pid(server_processes("postgres")),
        cpu_by_pid(server_processes("redis-server")),
    ]


def stages(lines: list[bytes], url: str) -> None:
    """Single-process figures for the two halves of a worker's job."""
    sample = lines[:20_000]
    started = time.perf_counter()
    batches = [parse_lines(sample[i : i + 500], False) for i in range(0, len(sample), 500)]
    parse_s = time.perf_counter() - started
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    for batch in batches:
        with sessions.begin() as session:
            store_batch(session, batch, "bench")
    store_s = time.perf_counter() - started
    engine.dispose()
    print(f"  parse only (1 process):  {len(sample) / parse_s:10,.0f} lines/s")
    print(f"  store only (1 process):  {len(sample) / store_s:10,.0f} lines/s (insert, new rows)")


def end_to_end(path: Path, count: int, url: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    env = {**os.environ, "TWEETFEED_DATABASE_URL": url, "TWEETFEED_REDIS_URL": REDIS_URL}
    log = (path.parent / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "workers", "worker", "-Q", "ingest", "-c", "2",
         "--loglevel=WARNING", "-n", "bench@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(4)  # worker boot; not part of the measurement
        before = snapshot(worker.pid)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        listener = subprocess.run(
            [str(BIN / "tweetfeed"), "listen", "--from-file", str(path)],
            env=env, cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        while client.keys("tweetfeed:batch:*") or client.llen("ingest"):
            time.sleep(0.02)
        wall = time.perf_counter() - started
        after = snapshot(worker.pid)
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        listener_s = (children_after.ru_utime - children_before.ru_utime) + (
            children_after.ru_stime - children_before.ru_stime
        )
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            stored = session.scalar(select(func.count()).select_from(Tweet)) or 0
        engine.dispose()
        used = [spent(b, a) for b, a in zip(before, after, strict=True)]
        total = sum(used) + listener_s
        print(f"  end to end: {count:,} lines, {stored:,} tweets stored in {wall:.2f} s")
        print(f"  throughput:              {count / wall:10,.0f} lines/s")
        print(
            f"  CPU: worker {used[0]:.1f} s, postgres {used[1]:.1f} s, redis {used[2]:.1f} s, "
            f"listener {listener_s:.1f} s = {total / count * 1e6:.0f} µs per line"
        )
        print("  " + listener.stdout.decode().strip())
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"stream-{args.count}.jsonl"
    if not path.exists():
        synth.write(path, args.count, "v1", seed=7)
    lines = [x for x in path.read_bytes().split(b"\r\n") if x]
    print(
        f"input: {len(lines):,} synthetic v1 lines, {path.stat().st_size / len(lines):,.0f} B each"
    )
    print("ingest, PostgreSQL, raw payload kept (lz4), dedupe on:")
    stages(lines, fresh_database("tweetfeed_bench"))
    end_to_end(path, len(lines), fresh_database("tweetfeed_bench"))


if __name__ == "__main__":
    main()
