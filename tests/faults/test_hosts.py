"""Workers on three hosts (network namespaces on this machine) against one broker, Redis and
PostgreSQL reached over the network; one host's worker is SIGKILLed mid-run and never comes
back, and every count must still be exact."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

from pipeline.bus import reclaim
from tests.faults.harness import Expected, Scenario
from tests.faults.hosts import Host, hosts
from tests.faults.servers import PrivatePostgres
from tests.faults.test_faults import assert_exact, follow, followers_of, reached, synthetic
from tests.helpers import wait_until


@pytest.fixture
def three_hosts() -> Iterator[list[Host]]:
    with hosts(3) as made:
        yield made


@pytest.fixture
def networked_postgres(three_hosts: list[Host]) -> Iterator[PrivatePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="tweetfeed-hosts-pg-"))
    listen = ("127.0.0.1", *(h.server for h in three_hosts))
    server = PrivatePostgres(folder, listen, tuple(h.network for h in three_hosts)).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_workers_on_three_hosts_one_sigkilled(
    three_hosts: list[Host], networked_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    bind = " ".join(("127.0.0.1", *(h.server for h in three_hosts)))
    run = Scenario("three worker hosts, one SIGKILLed", networked_postgres, tmp_path,
                   ("--bind", bind, "--protected-mode", "no"))  # fmt: skip
    try:
        lines = synthetic(tmp_path / "unique.jsonl", count=6_000, seed=13)
        # A capture with duplicates: every fifth line comes again, a few hundred lines later.
        replayed = [*lines]
        for n, again in enumerate(lines[::5]):
            replayed.insert(min(len(replayed), n * 6 + 300), again)
        stream = tmp_path / "stream.jsonl"
        stream.write_bytes(b"\n".join(replayed) + b"\n")
        expected = Expected.of(lines)
        timelines = followers_of(expected)
        with ExitStack() as stack:
            workers = [stack.enter_context(run.worker(1, host)) for host in three_hosts]
            follow(run, timelines)
            listener = run.replay(stream)
            wait_until(partial(reached, run, len(replayed) // 3), 180, "a third of the lines")
            wait_until(partial(holds_a_task, run, workers[1].pid), 60, "host 2 to hold a task")
            run.kill(workers[1])  # host 2 is lost with its task; hosts 1 and 3 carry on
            assert listener.wait(timeout=300) == 0, (tmp_path / "listener.log").read_text()[-2000:]
            run.wait_settled()
        row = run.check(expected, timelines)
        assert_exact(row)
        logs = sorted(tmp_path.glob("*-worker-*.log"))
        assert len(logs) == 3
        texts = [log.read_text(errors="replace") for log in logs]
        assert all("tweetfeed.ingest_batch" in text for text in texts)  # every host took part
        assert any("gave back" in text for text in texts[::2])  # the lost host's task, by another
    finally:
        run.close()


def holds_a_task(run: Scenario, pid: int) -> bool:
    """True while the worker whose main process is ``pid`` holds an unacknowledged task."""
    held: dict[bytes, bytes] = run.redis.hgetall(reclaim.INFLIGHT)  # type: ignore[assignment]
    return any(w.decode().endswith(f"/{pid}") and run.redis.hexists(reclaim.UNACKED, tag)
               for tag, w in held.items())  # fmt: skip
