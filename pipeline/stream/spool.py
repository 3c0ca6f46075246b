"""A local spool: batches that could not be handed on wait on disk, in order, until they can.

The spool uses ``delimited=length`` framing, so any bytes (invalid UTF-8 included) survive.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import redis
from kombu.exceptions import KombuError

from pipeline.stream.batcher import Batch, Sink
from pipeline.stream.framing import length_framed, length_frames

log = logging.getLogger(__name__)
DRAIN_BATCH = 500
UNREACHABLE = (redis.RedisError, KombuError, OSError)  # what a hand-off may wait out


class SpoolingSink:
    """Wraps a sink: on failure the batch goes to the spool; the spool drains first next time."""

    def __init__(self, inner: Sink, path: Path, max_line_bytes: int) -> None:
        self.inner = inner
        self.path = path
        self.max_line_bytes = max_line_bytes
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, batch: Batch) -> None:
        try:
            self.drain()
            self.inner(batch)
        except Exception as exc:
            self._append(batch)
            log.warning(
                "could not hand on %d lines (%s): spooled to %s", len(batch.lines), exc, self.path
            )

    def pending(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def drain(self) -> None:
        """Hand on everything spooled, oldest first; raise (keeping the spool) if that fails."""
        if not self.pending():
            return
        with self.path.open("rb") as spool:
            lines = [f.data for f in length_frames(spool, self.max_line_bytes)]
        for start in range(0, len(lines), DRAIN_BATCH):
            self.inner(Batch(lines[start : start + DRAIN_BATCH]))
            # Rewrite what is left, so a failure midway never hands a batch on twice.
            self._rewrite(lines[start + DRAIN_BATCH :])
        log.info("spool drained: %d lines handed on", len(lines))

    def _append(self, batch: Batch) -> None:
        with self.path.open("ab") as spool:
            spool.write(length_framed(batch.lines))
            spool.flush()
            os.fsync(spool.fileno())

    def _rewrite(self, lines: list[bytes]) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(length_framed(lines))
        os.replace(temporary, self.path)


class PatientSink:
    """Wraps a sink for a replay: a batch that cannot be handed on is tried again, with a
    growing pause (at most ``longest`` seconds), until it is; reading waits meanwhile.

    A file can wait where a live stream cannot, so the replay holds its place instead of
    spooling, and a broker that comes back finds it where it stopped.
    """

    def __init__(self, inner: Sink, longest: float = 5.0) -> None:
        self.inner, self.longest = inner, longest

    def __call__(self, batch: Batch) -> None:
        pause = 0.1
        while True:
            try:
                self.inner(batch)
                return
            except UNREACHABLE as exc:
                log.warning("could not hand on %d lines (%s): trying again in %.1f s",
                            len(batch.lines), exc, pause)  # fmt: skip
                time.sleep(pause)
                pause = min(pause * 2, self.longest)
