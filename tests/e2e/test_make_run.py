"""What a newcomer sees: ``tweetfeed up --demo`` on a machine with nothing configured."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.helpers import BIN, clean_env, wait_until

pytestmark = pytest.mark.slow


def test_make_run_stores_tweets_within_a_minute_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    env = clean_env(TWEETFEED_VAR_DIR=str(tmp_path / "var"), PATH=f"{BIN}:{os.environ['PATH']}")
    process = subprocess.Popen(
        [str(BIN / "tweetfeed"), "up", "--demo"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    output: list[str] = []
    stored = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            text = raw.decode(errors="replace")
            output.append(text)
            match = re.search(r"stored: tweets (\d+)", text)
            if match and int(match.group(1)) > 0:
                stored.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        assert stored.wait(60), "no stored count within a minute:\n" + "".join(output[-60:])
        elapsed = time.monotonic() - started
        shows_what_it_does("".join(output), tmp_path / "var" / "tweetfeed.sqlite3")
        children = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        for part in (
            "redis-server",
            "control,ingest",
            "fanout,fanout_low",
            "beat",
            "flower",
            "listen",
        ):
            assert part in names, f"{part} is not running"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    reader.join(timeout=5)
    assert elapsed < 60
    gone = psutil.wait_procs(children, timeout=15)[1]
    assert not gone, f"still running after Ctrl-C: {[p.pid for p in gone]}"
    assert (tmp_path / "var" / "tweetfeed.sqlite3").exists()


def shows_what_it_does(output: str, database: Path) -> None:
    """While the sample plays: follows among its users, their timelines and notifications
    filling, the replay among the listeners and its tweets counted per minute."""
    url = re.search(r"embedded redis: (redis://\S+)", output)
    reader = re.search(r"/feeds/timeline/(\d+)", output)
    assert url and reader, output[-3000:]
    client = redis.Redis.from_url(url.group(1))
    engine = create_engine(f"sqlite:///{database}")

    def scalar(sql: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)

    def filled(pattern: str) -> bool:
        return any(client.zcard(k) for k in client.scan_iter(pattern, count=1000))

    wait_until(lambda: scalar("SELECT count(*) FROM follows") == 20 * 15 * 2, 60, "the follows")
    replaying = "SELECT count(*) FROM stream_processes WHERE state = 'replaying'"
    wait_until(lambda: scalar(replaying) == 1, 30, "the replay among the listeners")
    minute = int(time.time() // 60)
    counted = lambda: any(int(client.hget(f"{{tweetfeed}}:rate:{m}", "all") or 0)  # noqa: E731
                          for m in (minute - 1, minute, minute + 1))  # fmt: skip
    wait_until(counted, 30, "replayed tweets counted per minute")
    wait_until(lambda: client.zcard(f"tweetfeed:feed:timeline:{reader.group(1)}"), 60,
               "the first demo timeline to fill")  # fmt: skip
    wait_until(lambda: filled("tweetfeed:feed:notification:*"), 60, "notifications")
    engine.dispose()
