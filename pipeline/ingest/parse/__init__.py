"""Turn raw stream lines into rows. Bad lines become dead letters; they never stop a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from pipeline.ingest.parse import v1, v2
from pipeline.ingest.parse.records import LineResult, ParsedBatch, ShapeError

DEAD_LETTER_SAMPLE = 64 << 10


def _classify(message: Any, line: bytes, capture: bool, out: LineResult) -> None:
    if not isinstance(message, dict):
        raise ShapeError(f"expected a JSON object, got {type(message).__name__}")
    if "data" in message:
        v2.parse_message(message, line, capture, out)
    elif "errors" in message:
        v2.parse_errors(message, out)
    elif "delete" in message:
        v1.parse_delete(message, out)
    elif v1.is_tweet(message):
        v1.parse_tweet(message, line, capture, out, embedded=False)
    else:
        notice = next((k for k in v1.NOTICES if k in message), None)
        if notice is None:
            keys = ", ".join(sorted(message)[:8]) or "none"
            raise ShapeError(f"not a tweet, delete, notice or v2 message (keys: {keys})")
        out.notices.append(notice)


def parse_line(line: bytes, capture: bool) -> LineResult:
    """Parse one line; raise ValueError with a reason a person can act on."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        kind = "invalid UTF-8" if "UTF-8" in str(exc) else "invalid JSON"
        raise ValueError(f"{kind}: {exc}") from None
    out = LineResult()
    try:
        _classify(message, line, capture, out)
    except ShapeError as exc:
        raise ValueError(f"wrong shape: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"wrong shape: {type(exc).__name__}: {detail}") from None
    return out


def parse_lines(
    lines: Iterable[bytes | str],
    capture: bool,
    truncated: dict[int, int] | None = None,
    max_line_bytes: int | None = None,
) -> ParsedBatch:
    """Parse a batch. ``truncated`` maps a line's index to its full length when the listener
    had to cut it; such lines and any over ``max_line_bytes`` are dead-lettered unparsed."""
    batch = ParsedBatch()
    truncated = truncated or {}
    for index, item in enumerate(lines):
        line = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
        batch.lines += 1
        size = truncated.get(index)
        if size is None and max_line_bytes is not None and len(line) > max_line_bytes:
            size = len(line)
        if size is not None:
            reason = f"oversize line: {size} bytes, over TWEETFEED_MAX_LINE_BYTES"
            batch.dead.append((reason, line[:DEAD_LETTER_SAMPLE]))
            continue
        if not line.strip():
            batch.notices["keep_alive"] += 1
            continue
        try:
            batch.merge(parse_line(line, capture))
        except ValueError as exc:
            batch.dead.append((str(exc), line[:DEAD_LETTER_SAMPLE]))
    return batch
