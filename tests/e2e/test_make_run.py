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

from tests.helpers import BIN, clean_env

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
        children = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        for part in ("redis-server", "worker", "beat", "flower", "listen"):
            assert part in names, f"{part} is not running"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    reader.join(timeout=5)
    assert elapsed < 60
    gone = psutil.wait_procs(children, timeout=15)[1]
    assert not gone, f"still running after Ctrl-C: {[p.pid for p in gone]}"
    assert (tmp_path / "var" / "tweetfeed.sqlite3").exists()
