"""The listener's hand-off ledger: a batch it handed on stays on disk until a worker has
committed it, and is handed on again if Redis lost it.

A batch is handed on by parking its lines in Redis and queueing its task; the worker deletes the
parked key once the batch has committed. So a key gone from a Redis server that has not
restarted since the hand-off is a committed batch. A server that did restart (its ``run_id``
changed: a crash, a restart that kept nothing, a failover) may have lost the parked lines and
the queued task with them, and there a gone key proves nothing: every batch not yet confirmed
is parked and queued again. A batch stored twice costs a little work (ingest is idempotent);
a batch lost is gone.

A batch still parked long after its hand-off (twice VISIBILITY_TIMEOUT, when kombu would have
given back any task a dead worker held) has its task queued again: kombu's Redis transport
loses a message that a worker killed at the wrong moment had taken off the queue without yet
recording it as unacknowledged. The fault suite found one such batch in a worker SIGKILL.

Each unconfirmed batch is a file in the ledger's folder (its lines, its key and the server it
was handed to), so the next listener for the same source takes over what a listener that died
left behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import redis as redis_lib

from pipeline.bus import depths
from pipeline.ingest import parked
from pipeline.store import redis_client
from pipeline.stream.batcher import Batch

log = logging.getLogger(__name__)
CHECK_EVERY = 1.0  # seconds between looks for commits and restarts


class Handoff(Protocol):
    def hand_on(self, batch: Batch, key: str) -> None:
        """Park ``batch`` under ``key`` and queue its task."""

    def queue(self, batch: Batch, key: str) -> None:
        """Queue the task of ``batch``, parked under ``key`` already."""

    def restarted(self) -> None:
        """The servers restarted: declare the queues again before the next send."""


@dataclass(slots=True)
class _Entry:
    path: Path
    server: str  # the servers' run ids when it was handed on
    since: float = field(default_factory=time.monotonic)  # when its task was last queued


def _slug(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", source)[:80] or "source"


def servers(redis_url: str, broker_url: str) -> list[Any]:
    """Clients of the Redis servers a handed-on batch lives on: the parked lines' server, then
    the broker's when that is another Redis server (a RabbitMQ broker keeps its own queues)."""
    found = [redis_client.server_of(redis_client.connect(redis_url), parked.KEY_PREFIX)]
    if depths.is_redis(broker_url):
        broker = redis_lib.Redis.from_url(broker_url)
        mine = found[0].connection_pool.connection_kwargs
        theirs = broker.connection_pool.connection_kwargs
        if any(mine.get(k) != theirs.get(k) for k in ("host", "port", "path")):
            found.append(broker)
    return found


def _run_id(client: Any) -> str:
    return str(client.info("server")["run_id"])


class HandoffLedger:
    """A sink that hands batches on through ``handoff`` and keeps each until it is committed;
    a batch still parked ``stale`` seconds after its task was queued has it queued again.

    ``servers`` are the Redis clients whose restart can lose a handed-on batch: the one the
    lines are parked on first (its keys are the confirmations), then the broker's if that is
    another Redis server.
    """

    def __init__(
        self, handoff: Handoff, servers: list[Any], root: Path, source: str, stale: float = 240.0
    ) -> None:
        self.handoff, self.servers, self.stale = handoff, servers, stale
        self.redis = servers[0]
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.RLock()
        self._server = self._servers()  # and a Redis that is not there at all fails at once
        self._confirmed_at = time.monotonic()
        self._stopped = threading.Event()
        parent = root / _slug(source)
        self.folder = parent / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir(parents=True)
        self._lock_file = (self.folder / "lock").open("w")  # held while we live
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._adopt(parent, at_start=True)
        self._thread = threading.Thread(target=self._watch, name="handoff-ledger", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"HandoffLedger({str(self.folder)!r}, {len(self._entries)} unconfirmed)"

    @property
    def unconfirmed(self) -> int:
        return len(self._entries)

    def __call__(self, batch: Batch) -> None:
        with self._lock:
            key = parked.new_key()
            path = self._write(key, batch)
            try:
                self.handoff.hand_on(batch, key)
            except BaseException:
                path.unlink()
                raise
            self._entries[key] = _Entry(path, self._server)

    def check(self) -> None:
        """Forget the batches Redis confirms committed; hand on again those it may have lost."""
        with self._lock:
            if not self._entries:
                return
            before = self._servers()
            keys = list(self._entries)
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.exists(key)
            present = pipe.execute()
            if self._servers() != before:
                return  # a restart during the look: look again next time
            self._server = before
            lost = [key for key in keys if self._entries[key].server != before]
            if lost:
                self.handoff.restarted()
            for key in lost:
                self._again(key, self._entries[key])
            now = time.monotonic()
            for key, here in zip(keys, present, strict=True):
                entry = self._entries.get(key)
                if entry is None or entry.server != before:
                    continue
                if not here:
                    entry.path.unlink(missing_ok=True)
                    del self._entries[key]
                    self._confirmed_at = now
                elif now - entry.since > self.stale:
                    self._requeue(key, entry)

    def settle(self, stall: float) -> bool:
        """Wait until every batch is confirmed committed; give up after ``stall`` seconds in
        which none was. True when none is left."""
        self._confirmed_at = time.monotonic()
        while self._entries and time.monotonic() - self._confirmed_at < stall:
            try:
                self.check()
            except redis_lib.RedisError as exc:
                log.warning("cannot ask Redis which batches are committed: %s", exc)
            if self._entries:
                time.sleep(min(CHECK_EVERY / 4, stall))
        return not self._entries

    def close(self) -> None:
        """Stop watching. Unconfirmed batches stay on disk for the next listener."""
        self._stopped.set()
        self._thread.join()
        with self._lock:
            if not self._entries:
                for path in self.folder.iterdir():
                    path.unlink()
                self.folder.rmdir()
            self._lock_file.close()

    def _servers(self) -> str:
        return " ".join(_run_id(client) for client in self.servers)

    def _again(self, key: str, entry: _Entry) -> None:
        header, batch = self._read(entry.path)
        new_key = parked.new_key()
        path = self._write(new_key, batch)
        try:
            self.redis.delete(key)  # a task that survived finds nothing to do
            self.handoff.hand_on(batch, new_key)
        except BaseException:
            path.unlink()
            raise
        entry.path.unlink()
        del self._entries[key]
        self._entries[new_key] = _Entry(path, self._server)
        log.warning(
            "Redis restarted since batch %s was handed on (%d lines): handed on again as %s",
            header["key"], len(batch.lines), new_key,
        )  # fmt: skip

    def _requeue(self, key: str, entry: _Entry) -> None:
        """A batch still parked long after its hand-off: its task may be lost (kombu's Redis
        transport drops a message taken by a worker killed before it recorded it as unacked).
        Queue it again; a second task for the same batch finds it stored and does nothing."""
        _, batch = self._read(entry.path)
        self.handoff.queue(batch, key)
        entry.since = time.monotonic()
        log.warning("batch %s not committed %.0f s after it was handed on: its task is queued "
                    "again", key, self.stale)  # fmt: skip

    def _write(self, key: str, batch: Batch) -> Path:
        """A file of one header line (the key, the batch's fields, each line's length) and then
        the lines as they are."""
        header = {
            "key": key,
            "received_at": batch.received_at,
            "truncated": batch.truncated,
            "lengths": [len(line) for line in batch.lines],
        }
        path = self.folder / (key.removeprefix(parked.KEY_PREFIX) + ".batch")
        # One write: a buffered writer would make a system call every few lines.
        path.write_bytes(b"".join([orjson.dumps(header), b"\n", *batch.lines]))
        return path

    @staticmethod
    def _read(path: Path) -> tuple[dict[str, Any], Batch]:
        with path.open("rb") as file:
            header = orjson.loads(file.readline())
            lines = [file.read(length) for length in header["lengths"]]
        return header, Batch(lines, header["truncated"], header["received_at"])

    def _adopt(self, parent: Path, at_start: bool = False) -> None:
        """Take over the batches of listeners for this source that are gone: they go out
        again at the next check (the server they went to is unknown). Run at start, and at
        every check, so that a hot standby takes over a dead listener's batches too; only at
        start are empty folders removed (a listener starting now has one, not yet locked)."""
        adopted = 0
        for folder in sorted(parent.iterdir()):
            if folder == self.folder or not folder.is_dir():
                continue
            try:
                adopted += self._adopt_one(folder, at_start)
            except FileNotFoundError:
                continue  # another listener took it over first
        if adopted:
            log.warning("%d batches a listener that is gone handed on are not confirmed yet: "
                        "they go out again", adopted)  # fmt: skip

    def _adopt_one(self, folder: Path, at_start: bool) -> int:
        """The batches of ``folder``, if its listener is gone; how many."""
        adopted = 0
        if not at_start and not any(folder.glob("*.batch")):
            return 0
        with (folder / "lock").open("r") as other:  # never made again once removed
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its listener still runs
            for path in sorted(folder.glob("*.batch")):
                moved = self.folder / path.name
                os.replace(path, moved)
                self._entries[parked.KEY_PREFIX + path.stem] = _Entry(moved, "unknown")
                adopted += 1
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
        return adopted

    def _watch(self) -> None:
        while not self._stopped.wait(CHECK_EVERY):
            try:
                with self._lock:
                    self._adopt(self.folder.parent)
                self.check()
            except redis_lib.RedisError as exc:
                log.warning("cannot ask Redis which batches are committed: %s", exc)
            except Exception:
                log.exception("the hand-off ledger's check failed")
