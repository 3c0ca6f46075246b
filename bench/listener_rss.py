"""``listener-rss``: the listener's memory while it replays 240,000 lines (quick: 5,000).

``tweetfeed listen --from-file`` replays a synthetic v1 file (``var/bench/``, written once) into
a private Redis with no worker running, so every batch stays parked there and the listener is
measured alone. psutil reads its resident set (with any children) every 0.2 s until it exits.
Met when the peak is at most 100 MB and the mean of the last quarter of the samples is within
10% of the second quarter's (the first quarter holds the interpreter's start).

Every line must reach Redis: the listener must say it handed all of them on, and the parked
batches named by the queued ``ingest_batch`` tasks must hold exactly that many lines.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import time
from pathlib import Path

import psutil
import redis

from bench.harness import (
    BIN,
    ROOT,
    WORK,
    Figure,
    environment,
    private_redis,
    tail,
    tree,
)
from pipeline.fakes import synth

LOGS = WORK / "listener_rss"
EVERY = 0.2
LIMIT_MB = 100.0


def stream_file(count: int) -> Path:
    """A synthetic v1 file of ``count`` lines, written on first use."""
    path = WORK / f"listener-{count}.jsonl"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        synth.write(partial, count, "v1", seed=31)
        partial.rename(path)
    return path


def rss_mb(pid: int) -> float | None:
    """Resident set of ``pid`` and its children, in MB; None once it has gone."""
    total = 0
    for each in tree(pid)():
        try:
            total += psutil.Process(each).memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20 if total else None


def parked_lines(client: redis.Redis) -> int:
    """Lines held by the batches the queued ``ingest_batch`` tasks point at."""
    total = 0
    for raw in client.lrange("ingest", 0, -1):
        message = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        total += int(client.llen(kwargs["batch"]))
    return total


def replay(path: Path, count: int) -> list[float]:
    """Run the listener over ``path``; its RSS samples in MB, checked that all lines landed."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / "listener.log"
    with private_redis() as server:
        env = environment(
            TWEETFEED_REDIS_URL=server.url(),
            TWEETFEED_DATABASE_URL=f"sqlite:///{LOGS / 'unused.sqlite3'}",
            TWEETFEED_VAR_DIR=str(LOGS / "var"),
        )
        args = [str(BIN / "tweetfeed"), "listen", "--from-file", str(path)]
        samples: list[float] = []
        with log.open("wb") as out:
            listener = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                        env=env)  # fmt: skip
            while listener.poll() is None:
                found = rss_mb(listener.pid)
                if found is not None and listener.poll() is None:
                    samples.append(found)
                time.sleep(EVERY)
        if listener.returncode != 0 or f"handed on {count} of {count}" not in log.read_text():
            raise RuntimeError(f"the listener did not hand on all {count} lines:\n{tail(log)}")
        parked = parked_lines(server.client())
        if parked != count:
            raise RuntimeError(f"{parked} of {count} lines are parked in Redis")
    if not samples:
        raise RuntimeError("the listener ended before a single RSS sample")
    return samples


def quarter(samples: list[float], k: int) -> list[float]:
    """The ``k``-th quarter (0–3) of the samples; all of them when there are too few."""
    n = len(samples)
    part = samples[k * n // 4 : (k + 1) * n // 4]
    return part or samples


def run(quick: bool) -> list[Figure]:
    count = 5_000 if quick else 240_000
    samples = replay(stream_file(count), count)
    peak = max(samples)
    second, last = statistics.mean(quarter(samples, 1)), statistics.mean(quarter(samples, 3))
    flat = abs(last - second) <= 0.1 * second
    at = {q: samples[min(len(samples) - 1, round(q / 100 * (len(samples) - 1)))]
          for q in (25, 50, 75, 100)}  # fmt: skip
    notes = (
        f"{count:,} synthetic v1 lines replayed from a file, no worker (batches parked in "
        f"Redis); {len(samples)} samples every {EVERY} s; RSS at 25/50/75/100%: "
        + ", ".join(f"{v:.1f}" for v in at.values())
        + f" MB; second-quarter mean {second:.1f} MB, last-quarter mean {last:.1f} MB "
        f"({'flat' if flat else 'not flat'})"
    )
    return [
        Figure(
            name="listener-rss",
            value=round(peak, 1),
            unit="MB",
            reference=None,
            ratio=None,
            target="≤ 100 MB, flat",
            met=peak <= LIMIT_MB and flat,
            runs={"rss_mb": [round(s, 1) for s in samples]},
            notes=notes,
        )
    ]


if __name__ == "__main__":
    import sys

    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
