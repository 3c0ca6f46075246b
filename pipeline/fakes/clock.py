"""Time as both simulators write it: snowflake ids and the v1.1 and v2 timestamp formats.

Everything is spelled out by hand from epoch milliseconds, so no locale or wall clock can
change the bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["TWEPOCH_MS", "snowflake", "v1_time", "v2_time"]

TWEPOCH_MS = 1_288_834_974_657  # the snowflake epoch, so ids decode to real times

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def snowflake(ms: int, low_bits: int = 0) -> int:
    """A snowflake id: milliseconds since the snowflake epoch, then 22 lower bits."""
    return ((ms - TWEPOCH_MS) << 22) | low_bits


def v1_time(ms: int) -> str:
    """v1.1's "Wed Oct 10 20:19:24 +0000 2018"."""
    return _v1_second(ms // 1000)


def v2_time(ms: int) -> str:
    """v2's "2026-01-01T00:00:00.000Z"."""
    return f"{_v2_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=1024)  # ~100 lines share each second of the stream
def _v1_second(seconds: int) -> str:
    """Format one UTC second the v1.1 way, spelled out so no locale can change it."""
    t = datetime.fromtimestamp(seconds, UTC)
    day = _DAYS[t.weekday()]
    month = _MONTHS[t.month - 1]
    return f"{day} {month} {t.day:02d} {t:%H:%M:%S} +0000 {t.year}"


@lru_cache(maxsize=1024)
def _v2_second(seconds: int) -> str:
    """Format one UTC second as ISO 8601 without the fraction."""
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"
