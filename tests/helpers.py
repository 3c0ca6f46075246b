"""Helpers shared by the tests: waiting on conditions, reading fixtures, running the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from pipeline.runtime import Runtime
from pipeline.store.engine import transaction

ROOT = Path(__file__).resolve().parent.parent
REAL_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"
BIN = Path(sys.executable).parent


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(argv: list[str], env: dict[str, str], url: str, log_path: Path) -> Iterator[str]:
    """Run a server process until the block ends; yield ``url`` once it answers HTTP at all."""
    import requests

    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        def answers() -> bool:
            try:
                requests.get(url, timeout=2)
                return True
            except requests.ConnectionError:
                return process.poll() is not None

        try:
            wait_until(answers, 60, f"{argv[1]} to answer on {url}")
            assert process.poll() is None, log_path.read_text()
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


def real_fixture(name: str) -> Path:
    """A recorded payload file from ../shared/fixtures/real, or a skip when it is absent."""
    path = REAL_FIXTURES / name
    if not path.exists():
        pytest.skip(f"real fixtures are not beside this checkout ({REAL_FIXTURES} is absent)")
    return path


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Decode a JSONL file with the standard library, skipping lines that are not JSON."""
    for line in path.read_bytes().split(b"\n"):
        try:
            yield json.loads(line)
        except ValueError:
            continue


def expected_ids(path: Path, capture: bool) -> set[int]:
    """The tweet ids a file holds, worked out independently of tweetfeed's parser."""
    ids: set[int] = set()

    def v1(tweet: dict[str, Any]) -> None:
        if tweet.get("tweetfeed_stub"):
            return
        ids.add(int(tweet["id_str"]))
        for key in ("retweeted_status", "quoted_status"):
            if capture and key in tweet:
                v1(tweet[key])

    for message in json_lines(path):
        if "data" in message:
            data = message["data"]
            ids.update(int(t["id"]) for t in (data if isinstance(data, list) else [data]))
            if capture:
                included = message.get("includes", {}).get("tweets", [])
                ids.update(int(t["id"]) for t in included if not t.get("tweetfeed_stub"))
        elif "id_str" in message:
            v1(message)
    return ids


def tweetfeed(
    *args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """Run the ``tweetfeed`` command as a user would."""
    return subprocess.run(
        [str(BIN / "tweetfeed"), *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
    )


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without any TWEETFEED_* setting, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWEETFEED_")}
    env.update(overrides)
    return env


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@contextmanager
def worker(
    env: dict[str, str],
    log: Path,
    queues: str = "ingest",
    concurrency: int = 1,
    prefix: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker in a process group of its own, so that it can be killed whole; ``prefix``
    runs it through another command (``ip netns exec <host>``), which must exec it."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*prefix, str(BIN / "celery"), "-A", "workers", "worker", "-Q", queues,
             "-c", str(concurrency),
             "--loglevel=INFO", "-n", f"{log.stem}-{os.getpid()}@%h"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: b" ready." in log.read_bytes() or process.poll() is not None,
                   60, "the Celery worker to start")  # fmt: skip
        assert process.poll() is None, log.read_text()[-3000:]
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


class RedisServer:
    """A ``redis-server`` of the test's own on a fixed loopback port, which the test may kill
    and start again; it keeps nothing on disk unless ``persist`` names extra arguments."""

    def __init__(self, folder: Path, *persist: str) -> None:
        from tests.conftest import unavailable

        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server", FileNotFoundError("redis-server is not installed"))
        self.argv = [str(executable), "--bind", "127.0.0.1", "--port", str(free_port()),
                     "--dir", str(folder), "--save", "", "--appendonly", "no",
                     *persist]  # fmt: skip
        self.port = int(self.argv[4])
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        import redis

        self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url())

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(answers, 10, "the test's redis-server to start")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def installed(
    engine: Any, dialect: str, create: dict[str, list[str]], undo: dict[str, list[str]]
) -> Iterator[None]:
    """Run ``create[dialect]`` (triggers, functions) for the block, ``undo[dialect]`` after."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for statement in create[dialect]:
            conn.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in undo[dialect]:
                conn.execute(text(statement))


class Died(BaseException):
    """The process ended here, as SIGKILL would end it."""


@dataclass(frozen=True, eq=False)
class DiesAfterCommit(Runtime):
    """A runtime whose process dies right after its ``die_at``-th commit: the work queued for
    after that commit never runs, nor does anything after it."""

    die_at: int = 1
    commits: list[int] = field(default_factory=list, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        self.commits.append(1)
        if len(self.commits) != self.die_at:
            with super().transaction() as session:
                yield session
            return
        stack = self._pending()
        stack.append([])
        try:
            with transaction(self.sessions) as session:
                yield session
        finally:
            stack.pop()
        raise Died
