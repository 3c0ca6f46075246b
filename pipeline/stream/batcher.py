"""Group lines into batches by count and by time, and hand each batch to a sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Batch:
    """Lines on their way to one ingest task; ``truncated`` holds [index, full length] pairs."""

    lines: list[bytes] = field(default_factory=list)
    truncated: list[list[int]] = field(default_factory=list)
    received_at: float = 0.0


Sink = Callable[[Batch], None]


class Batcher:
    """Flushes when ``size`` lines are waiting or the oldest has waited ``wait`` seconds.

    A sink that raises stops the batcher: the error is re-raised to the producer on its next
    ``add`` or ``close``, so the listener can never report lines as handed on that were not.
    """

    def __init__(self, sink: Sink, size: int, wait: float) -> None:
        self._sink = sink
        self._size = size
        self._wait = wait
        self._batch = Batch()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self.handed_on = 0
        self._timer = threading.Thread(target=self._tick, name="batcher-timer", daemon=True)
        self._timer.start()

    def add(self, line: bytes, full_length: int | None = None) -> None:
        with self._lock:
            self._raise_if_failed()
            batch = self._batch
            if not batch.lines:
                batch.received_at = time.time()
            if full_length is not None:
                batch.truncated.append([len(batch.lines), full_length])
            batch.lines.append(line)
            if len(batch.lines) >= self._size:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._raise_if_failed()
            self._flush_locked()

    def close(self) -> None:
        """Flush what is left and stop the timer; raise if any batch could not be handed on."""
        self._closed.set()
        self._timer.join()
        self.flush()

    def _flush_locked(self) -> None:
        batch, self._batch = self._batch, Batch()
        if not batch.lines:
            return
        try:
            self._sink(batch)
        except BaseException as exc:
            self._error = exc
            raise
        self.handed_on += len(batch.lines)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError("an earlier batch could not be handed on") from self._error

    def _tick(self) -> None:
        while not self._closed.wait(self._wait / 4):
            with self._lock:
                batch = self._batch
                due = batch.lines and time.time() - batch.received_at >= self._wait
                if due and self._error is None:
                    try:
                        self._flush_locked()
                    except BaseException:
                        return
