"""Split a byte stream into lines: ``\\n`` or ``\\r\\n``, or ``delimited=length`` framing.

An oversize line is never held in memory whole: its first bytes are kept as a sample for the
dead-letter table and the rest is skipped, so one bad line cannot exhaust the listener.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


def open_input(path: str) -> BinaryIO:
    """``-`` for stdin, ``*.gz`` decompressed on the fly, anything else as a plain file."""
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return Path(path).open("rb", buffering=READ_CHUNK)


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
