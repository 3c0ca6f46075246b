"""``tweetfeed.ingest_batch``'s payload: lines inline (any client) or a parked batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.bus.errors import PayloadError
from pipeline.ingest.parked import KEY_PREFIX, KEY_PREFIXES

LATEST_TIME = 253_402_300_800  # 10000-01-01T00:00:00Z, past what a datetime holds
# A batch whose source starts so is an X compliance file: it applies deletes and stores nothing.
COMPLIANCE = "compliance:"


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """``tweetfeed.ingest_batch``: lines inline (any client) or a parked batch (the listener)."""

    source: str
    lines: list[str] | None = None
    batch: str | None = None
    received_at: float | None = None
    truncated: dict[int, int] | None = None

    @property
    def deletes_only(self) -> bool:
        return self.source.startswith(COMPLIANCE)

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> IngestRequest:
        unknown = set(payload) - {"lines", "batch", "source", "received_at", "truncated"}
        if unknown:
            raise PayloadError(f"unknown fields: {', '.join(sorted(unknown))}")
        lines, batch = payload.get("lines"), payload.get("batch")
        if (lines is None) == (batch is None):
            raise PayloadError("exactly one of 'lines' and 'batch' is required")
        if lines is not None and not (
            isinstance(lines, list) and all(isinstance(x, str) for x in lines)
        ):
            raise PayloadError("'lines' must be a list of strings")
        if batch is not None and not (isinstance(batch, str) and batch.startswith(KEY_PREFIXES)):
            raise PayloadError(f"'batch' must be a string starting with {KEY_PREFIX!r}")
        source = payload.get("source", "unknown")
        if not isinstance(source, str) or not source or len(source) > 255:
            raise PayloadError("'source' must be a non-empty string of at most 255 characters")
        received_at = payload.get("received_at")
        if received_at is not None and (
            isinstance(received_at, bool)
            or not isinstance(received_at, int | float)
            or not 0 <= received_at < LATEST_TIME
        ):
            raise PayloadError(
                "'received_at' must be a number of seconds since the epoch, before the year 10000"
            )
        return cls(source, lines, batch, received_at, _truncated(payload.get("truncated")))


def _truncated(value: Any) -> dict[int, int] | None:
    if value is None:
        return None
    pairs_ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(type(x) is int for x in p)
        and p[0] >= 0 and p[1] > 0
        for p in value
    )  # fmt: skip
    if not pairs_ok:
        raise PayloadError(
            "'truncated' must be a list of [line index, full length] pairs, index from 0,"
            " length above 0"
        )
    return {index: size for index, size in value}
