"""A replay shown as the live stream is: among the listeners, and in the tweets-per-minute chart.

The live listener counts what it hands on per minute (``StreamCounters``) and keeps a
``stream_processes`` row; a replay into the queue does the same through :class:`ShownReplay`,
so the status page tells what is arriving whichever the source. A replay whose database cannot
be reached still runs: it is only not listed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pipeline.control import counters, processes, redis_keys
from pipeline.store.engine import transaction
from pipeline.stream.batcher import Batch, Sink

log = logging.getLogger(__name__)
BEAT_SECONDS = 2.0


class ShownReplay:
    """Wraps the replay's sink: counts each batch's lines per minute (and per filter term, for
    v2 lines that carry matching rules) and keeps a ``stream_processes`` row of state
    ``replaying`` while it runs."""

    def __init__(self, inner: Sink, redis: Any, sessions: sessionmaker[Session], name: str):
        self.inner, self.redis, self.sessions, self.name = inner, redis, sessions, name
        self.handed_on = 0
        self._row: int | None = None
        self._beat_at = 0.0
        try:
            with transaction(sessions) as session:
                self._row = processes.register(session, name[:191], "replaying")
        except SQLAlchemyError as exc:
            log.info("replay not listed among listeners (database: %s)", exc.__class__.__name__)

    def __call__(self, batch: Batch) -> None:
        self.inner(batch)
        self.handed_on += len(batch.lines)
        self._count(batch)
        if time.monotonic() - self._beat_at >= BEAT_SECONDS:
            self._beat("replaying")

    def _count(self, batch: Batch) -> None:
        minute: Counter[str] = Counter(all=len(batch.lines))
        for line in batch.lines:
            for tag in counters.rule_tags(line):
                minute[redis_keys.term_field(tag)] += 1
        key = redis_keys.rate(int(time.time() // 60))
        pipe = self.redis.pipeline(transaction=False)
        for field, value in minute.items():
            pipe.hincrby(key, field, value)
        pipe.expire(key, counters.RATE_TTL)
        try:
            pipe.execute()
        except Exception as exc:  # a chart gap, never a lost batch
            log.warning("could not count replayed lines per minute: %s", exc)

    def _beat(self, state: str) -> None:
        self._beat_at = time.monotonic()
        if self._row is None:
            return
        try:
            with transaction(self.sessions) as session:
                processes.heartbeat(session, self._row, state, self.handed_on, None)
        except SQLAlchemyError as exc:
            log.info("could not update the replay's listener row: %s", exc.__class__.__name__)

    def close(self) -> None:
        """The replay is over: its row goes."""
        if self._row is None:
            return
        try:
            with transaction(self.sessions) as session:
                processes.forget(session, self._row)
        except SQLAlchemyError as exc:
            log.info("could not remove the replay's listener row: %s", exc.__class__.__name__)
