"""``tweetfeed up``: the whole Procfile through honcho, on embedded defaults where unset."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from pipeline.cli import embedded
from pipeline.fakes import synth
from pipeline.store.engine import make_engine
from pipeline.store.migrate import upgrade

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
DEMO_TWEETS = 20_000
DEMO_RATE = 50  # lines a second: the sample plays for about seven minutes, as a live stream
DEMO_READERS, DEMO_FOLLOWS = 20, 15  # the busiest authors, each following that many others


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _environment(var: Path) -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    env = dict(os.environ)
    redis_process = None
    if not env.get("TWEETFEED_REDIS_URL"):
        redis_process, env["TWEETFEED_REDIS_URL"] = embedded.start_redis(var)
        print(f"embedded redis: {env['TWEETFEED_REDIS_URL']} (data in {var}/)", flush=True)
    if not env.get("TWEETFEED_DATABASE_URL"):
        env["TWEETFEED_DATABASE_URL"] = embedded.sqlite_url(var)
        print(f"embedded database: {env['TWEETFEED_DATABASE_URL']}", flush=True)
    env["TWEETFEED_VAR_DIR"] = str(var.resolve())
    return env, redis_process


def _demo_file(var: Path) -> Path:
    path = var / "demo.jsonl"
    if not path.exists():
        count = synth.write(path, DEMO_TWEETS, "v1", seed=1)
        print(f"generated {count} sample stream lines in {path}", flush=True)
    return path


def _demo_follows(path: Path, broker_url: str) -> list[str]:
    """Follows among the sample's busiest authors, sent as ``tweetfeed.follow_many`` tasks
    (the workers run them when they start); returns the timelines that got them."""
    import orjson

    from pipeline.bus.client import Client

    authors: Counter[str] = Counter()
    with path.open("rb") as lines:
        for line in lines:
            message = orjson.loads(line)
            if "user" in message:
                authors[message["user"]["id_str"]] += 1
    busiest = [a for a, _ in authors.most_common(DEMO_READERS + DEMO_FOLLOWS)]
    readers = busiest[:DEMO_READERS]
    follows = [
        {"feed": feed, "target": f"user:{target}"}
        for n, reader in enumerate(readers)
        for feed in (f"timeline:{reader}", f"timeline_aggregated:{reader}")
        for target in (busiest * 2)[n + 1 : n + 1 + DEMO_FOLLOWS]
    ]
    with Client(broker_url) as client:
        client.follow_many(follows)
    return [f"timeline:{r}" for r in readers]


def up(var: Path, replay: str | None = None, demo: bool = False) -> int:
    """Start embedded services if unset, migrate, run the Procfile; return honcho's exit code."""
    env, redis_process = _environment(var)
    try:
        engine = make_engine(env["TWEETFEED_DATABASE_URL"])
        upgrade(engine)
        engine.dispose()
        processes = read_procfile()
        processes.pop("release", None)
        rate = ""
        if demo and replay is None:
            replay = str(_demo_file(var))
            rate = f" --rate {DEMO_RATE}"
            broker = env.get("TWEETFEED_BROKER_URL") or env["TWEETFEED_REDIS_URL"]
            timelines = _demo_follows(Path(replay), broker)
            reader = timelines[0].partition(":")[2]
            print(f"demo: {len(timelines)} sample users follow each other; read "
                  f"http://127.0.0.1:8000/feeds/timeline/{reader}, "
                  f"/feeds/timeline_aggregated/{reader} and /feeds/notification/<user id>; "
                  "the status page charts tweets per minute as the sample plays",
                  flush=True)  # fmt: skip
        if replay is not None:
            processes["listener"] = (
                f"tweetfeed listen --from-file {shlex.quote(replay)}{rate} --then-watch"
            )
        manager = Manager(Printer(sys.stdout))
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        for name, command in processes.items():
            manager.add_process(name, command, env=env)
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
