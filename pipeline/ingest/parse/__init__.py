"""Turn raw stream lines into rows. Bad lines become dead letters; they never stop a batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import orjson
from msgspec import UNSET

from pipeline.ingest.parse import compliance, v1, v2
from pipeline.ingest.parse.records import LineResult, ParsedBatch, ShapeError
from pipeline.ingest.parse.schema import MESSAGE, Message
from pipeline.store.deadletters import SAMPLE_BYTES

# What a bad value raises in the parsers, beyond ShapeError (a ValueError).
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError,
                 RecursionError)  # fmt: skip


def _decode(line: bytes) -> Message | dict[str, Any]:
    """The line as a ``Message``; as a dict if it is a v2 message (``v2`` reads those whole)."""
    # v2 lines (stream messages, search pages) start so: no need to scan them for their keys.
    message = None if line.startswith(b'{"data":') else MESSAGE.decode(line)
    if message is None or message.data is not UNSET or message.errors is not UNSET:
        whole: dict[str, Any] = orjson.loads(line)
        return whole
    if not line.isascii():
        line.decode()  # msgspec skips the fields it does not read without checking their UTF-8
    return message


def _undecodable(line: bytes, error: Exception) -> str:
    """Why ``line`` could not be decoded, in orjson's words when it is not JSON at all."""
    try:
        line.decode()
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8: {exc.reason} at byte {exc.start}"
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(message, dict):
        return f"wrong shape: expected a JSON object, got {type(message).__name__}"
    return f"wrong shape: {error}"  # msgspec's message names the field: "... - at `$.user.id`"


def _classify(
    message: Message | dict[str, Any], line: bytes, capture: bool, out: LineResult
) -> None:
    if isinstance(message, dict):
        if "data" in message:
            v2.parse_message(message, line, capture, out)
        else:
            v2.parse_errors(message, out)
    elif message.delete is not UNSET:
        v1.parse_delete(message.delete, message, out)
    elif message.action is not UNSET:
        compliance.parse_action(message, out)
    elif v1.is_tweet(message):
        v1.parse_tweet(message, line, capture, out, embedded=False)
    else:
        notice = v1.notice(message)
        if notice is None:
            keys = ", ".join(sorted(orjson.loads(line))[:8]) or "none"
            raise ShapeError(
                f"not a tweet, delete, notice, compliance or v2 message (keys: {keys})"
            )
        out.notices.append(notice)


def parse_line(line: bytes, capture: bool) -> LineResult:
    """Parse one line; raise ValueError with a reason a person can act on."""
    try:
        message = _decode(line)
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:  # orjson's too, bad UTF-8
        raise ValueError(_undecodable(line, exc)) from None
    out = LineResult()
    try:
        _classify(message, line, capture, out)
    except ShapeError as exc:
        raise ValueError(f"wrong shape: {exc}") from None
    except _SHAPE_ERRORS as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"wrong shape: {type(exc).__name__}: {detail}") from None
    return out


def _bytes(line: str) -> bytes:
    """A line that came as text: bytes it escaped go back as they were, and a lone surrogate
    (JSON's ``"\\ud800"`` decoded by a client) stays as the invalid UTF-8 it encodes to."""
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogatepass")


def parse_lines(
    lines: Iterable[bytes | str],
    capture: bool,
    truncated: dict[int, int] | None = None,
    max_line_bytes: int | None = None,
    deletes_only: bool = False,
) -> ParsedBatch:
    """Parse a batch. ``truncated`` maps a line's index to its full length when the listener
    had to cut it; such lines and any over ``max_line_bytes`` are dead-lettered unparsed.
    With ``deletes_only`` (a compliance file) a line that would store anything is too."""
    batch = ParsedBatch()
    truncated = truncated or {}
    for index, item in enumerate(lines):
        line = _bytes(item) if isinstance(item, str) else item
        batch.lines += 1
        size = truncated.get(index)
        if size is None and max_line_bytes is not None and len(line) > max_line_bytes:
            size = len(line)
        if size is not None:
            reason = f"oversize line: {size} bytes, over TWEETFEED_MAX_LINE_BYTES"
            batch.dead.append((reason, line[:SAMPLE_BYTES]))
            continue
        if not line.strip():
            batch.notices["keep_alive"] += 1
            continue
        try:
            result = parse_line(line, capture)
            if deletes_only and (result.tweets or result.users):
                raise ValueError("not a delete: a compliance batch applies deletes only")
            batch.merge(result)
        except ValueError as exc:
            batch.dead.append((str(exc), line[:SAMPLE_BYTES]))
    return batch
