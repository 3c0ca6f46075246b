"""Split a byte stream into lines: ``\\n`` or ``\\r\\n``, or ``delimited=length`` framing.

An oversize line is never held in memory whole: its first bytes are kept as a sample for the
dead-letter table and the rest is skipped, so one bad line cannot exhaust the listener.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

SAMPLE_BYTES = 64 << 10
READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Frame:
    """One line without its terminator; ``full_length`` is set only when it was cut short."""

    data: bytes
    full_length: int | None = None

    @property
    def is_keep_alive(self) -> bool:
        return not self.data.strip()


GZIP_MAGIC = b"\x1f\x8b"


class _Rejoined(io.RawIOBase):
    """The bytes already read off a stream, then the rest of it: a pipe cannot be rewound."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest, self.served = head, rest, 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.served  # how far the progress bar has come

    def readinto(self, buffer: Any) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size], self.head = self.head[:size], self.head[size:]
        else:
            # read1: what is there now, so lines piped in slowly are not held back.
            data = getattr(self.rest, "read1", self.rest.read)(len(buffer))
            size = len(data)
            buffer[:size] = data
        self.served += size
        return size

    def close(self) -> None:
        self.rest.close()
        super().close()


def open_input(path: str) -> BinaryIO:
    """``-`` for stdin, else the file; gzip is recognised by its first bytes, not by the name,
    and decompressed on the fly."""
    stream: BinaryIO = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    head = stream.read(len(GZIP_MAGIC))
    rejoined = io.BufferedReader(_Rejoined(head, stream), buffer_size=READ_CHUNK)
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=rejoined, mode="rb")  # type: ignore[return-value]
    return rejoined  # type: ignore[return-value]


def _skip_rest_of_line(stream: BinaryIO, first: bytes, limit: int) -> Frame:
    total = len(first)
    chunk = first
    while not chunk.endswith(b"\n"):
        chunk = stream.readline(limit)
        if not chunk:
            break
        total += len(chunk)
    return Frame(first[:SAMPLE_BYTES], total)


def newline_frames(stream: BinaryIO, limit: int) -> Iterator[Frame]:
    """Frames separated by ``\\n``; a trailing ``\\r`` is dropped (tweets never contain one)."""
    while True:
        line = stream.readline(limit + 2)
        if not line:
            return
        if len(line) > limit and not (line.endswith(b"\n") and len(line.rstrip(b"\r\n")) <= limit):
            yield _skip_rest_of_line(stream, line, limit)
            continue
        yield Frame(line.rstrip(b"\r\n"))


def length_frames(stream: BinaryIO, limit: int) -> Iterator[Frame]:
    """``delimited=length``: a line holding the byte count, then that many bytes of message."""
    while True:
        header = stream.readline(64)
        if not header:
            return
        size_text = header.strip()
        if not size_text:
            yield Frame(b"")
            continue
        if not size_text.isdigit():
            # Not a length: treat it as a plain line so that nothing is silently lost.
            rest = header if header.endswith(b"\n") else header + stream.readline(limit)
            yield Frame(rest.rstrip(b"\r\n"))
            continue
        size = int(size_text)
        if size > limit + 2:
            sample = stream.read(min(SAMPLE_BYTES, size))
            remaining = size - len(sample)
            while remaining > 0:
                skipped = stream.read(min(remaining, READ_CHUNK))
                if not skipped:
                    break
                remaining -= len(skipped)
            yield Frame(sample, size)
            continue
        yield Frame(stream.read(size).rstrip(b"\r\n"))


def length_framed(lines: list[bytes]) -> bytes:
    """The bytes that :func:`length_frames` reads back as ``lines``."""
    return b"".join(b"%d\r\n%s\r\n" % (len(line) + 2, line) for line in lines)


def frames(stream: BinaryIO, limit: int, delimited: str | None = None) -> Iterator[Frame]:
    if delimited == "length":
        return length_frames(stream, limit)
    if delimited not in (None, "", "newline"):
        raise ValueError(f"unknown framing {delimited!r}: use 'newline' or 'length'")
    return newline_frames(stream, limit)
