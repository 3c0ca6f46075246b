"""The listener's replay path: a file or stdin, framed, batched and handed on."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.stream.batcher import Batcher
from pipeline.stream.framing import frames, open_input

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2000


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    keep_alives: int = 0
    oversize: int = 0
    handed_on: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.lines / self.seconds if self.seconds else 0.0
        return (
            f"handed on {self.handed_on} of {self.lines} lines in {self.seconds:.1f} s "
            f"({rate:,.0f} lines/s; {self.keep_alives} keep-alives, {self.oversize} oversize)"
        )


def replay(
    stream: BinaryIO,
    batcher: Batcher,
    limit: int,
    delimited: str | None = None,
    on_progress: Callable[[], None] | None = None,
    rate: float | None = None,
) -> ReplayStats:
    """Read every frame of ``stream`` into ``batcher``, then flush it; at most ``rate`` lines a
    second when given (a capture played back as it streamed, for a demo or a load test)."""
    stats = ReplayStats()
    started = time.perf_counter()
    try:
        for frame in frames(stream, limit, delimited):
            if frame.is_keep_alive:
                stats.keep_alives += 1
                continue
            if rate:
                ahead = started + stats.lines / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
            stats.lines += 1
            stats.oversize += frame.full_length is not None
            batcher.add(frame.data, frame.full_length)
            if on_progress is not None and stats.lines % PROGRESS_EVERY == 0:
                on_progress()
    finally:
        try:
            batcher.close()
        finally:
            stats.handed_on = batcher.handed_on
            stats.seconds = time.perf_counter() - started
    return stats


def _position(stream: BinaryIO) -> int:
    underlying = getattr(stream, "fileobj", None) or stream  # gzip: bytes read of the .gz
    try:
        return int(underlying.tell())
    except (OSError, ValueError):
        return 0


def replay_path(
    path: str,
    batcher: Batcher,
    limit: int,
    delimited: str | None = None,
    rate: float | None = None,
) -> ReplayStats:
    """Replay a file (with a progress bar on a terminal) or ``-`` for stdin."""
    with open_input(path) as stream:
        if path == "-" or not sys.stderr.isatty():
            return replay(stream, batcher, limit, delimited, rate=rate)
        columns = (
            TextColumn("[bold]replaying[/] {task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(os.path.basename(path), total=os.path.getsize(path))

            def update() -> None:
                progress.update(task, completed=_position(stream))

            stats = replay(stream, batcher, limit, delimited, update, rate)
            progress.update(task, completed=os.path.getsize(path))
            return stats
