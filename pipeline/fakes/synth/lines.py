"""The synthetic stream as lines: each event of a ``Stream`` rendered as v1.1 or v2 JSON, with
byte-identical re-deliveries of recent lines and, in v2, the fixed rules each tweet matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from pipeline.fakes import v2_json
from pipeline.fakes.synth import statuses
from pipeline.fakes.synth.stream import Delete, Stream, pick_recent, remember
from pipeline.fakes.tweets import Tweet

__all__ = ["FORMATS", "Format", "generate"]

_REDELIVERY_WINDOW = 200

_RULES = (
    {"id": "1866105389405917184", "tag": "python and data"},
    {"id": "1866105389405917185", "tag": "japanese tech"},
    {"id": "1866105389405917186", "tag": "sample 1%"},
)
# Weighted by repetition: most tweets match one rule, some match two.
_RULE_SETS = (
    [_RULES[0]],
    [_RULES[1]],
    [_RULES[2]],
    [_RULES[2]],
    [_RULES[0], _RULES[2]],
    [_RULES[1], _RULES[2]],
)


def _v2_line(tweet: Tweet) -> bytes:
    """One v2 filtered-stream line, naming one or two of the fixed rules."""
    # Rules come from the id's random worker bits, not the rng, so v1 and v2 stay in step.
    return v2_json.stream_message(tweet, _RULE_SETS[(tweet.id >> 12) % len(_RULE_SETS)])


class Format(NamedTuple):
    """How one format renders a tweet and a deletion, and what ends each line in a file."""

    tweet: Callable[[Tweet], bytes]
    delete: Callable[[Tweet, int], bytes]
    separator: bytes


FORMATS = {
    "v1": Format(statuses.status_line, statuses.delete_notice, b"\r\n"),
    "v2": Format(_v2_line, v2_json.delete_event, b"\n"),
}


def generate(count: int, fmt: str = "v1", seed: int = 0, users: int = 500) -> Iterator[bytes]:
    """Yield `count` stream lines (bytes, JSON, no trailing newline) in format "v1" or "v2".

    Arguments are checked at call time, not at the first ``next()``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected 'v1' or 'v2'")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    return _lines(count, fmt, seed, users)


def _lines(count: int, fmt: str, seed: int, users: int) -> Iterator[bytes]:
    """Drive the stream and render each event in the chosen format."""
    stream = Stream(seed, users)
    render = FORMATS[fmt]
    sent: list[bytes] = []  # recent tweet lines, for byte-identical re-delivery
    for _ in range(count):
        event = stream.step(can_redeliver=bool(sent))
        if event is None:
            yield pick_recent(stream.rng, sent, _REDELIVERY_WINDOW)
            continue
        if isinstance(event, Delete):
            yield render.delete(event.tweet, stream.ms)
            continue
        line = render.tweet(event)
        remember(sent, line, _REDELIVERY_WINDOW)
        yield line
