"""Time, in one place: naive UTC datetimes in and out of the formats tweetfeed meets.

Tweets carry milliseconds (v1.1 ``timestamp_ms``), v1.1 ``created_at`` strings or ISO-8601 (v2);
feeds score by milliseconds; every JSON answer gives ISO-8601 with a ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def from_millis(ms: int | str) -> datetime:
    """Naive UTC from milliseconds since the epoch (v1.1 ``timestamp_ms``)."""
    return EPOCH + timedelta(milliseconds=int(ms))


def from_v1_time(text: str) -> datetime:
    """Naive UTC from ``Wed Oct 10 20:19:24 +0000 2018``; 10x cheaper than strptime."""
    if text[20:25] != "+0000":
        return (
            datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC).replace(tzinfo=None)
        )
    return datetime(
        int(text[26:30]), _MONTHS[text[4:7]], int(text[8:10]),
        int(text[11:13]), int(text[14:16]), int(text[17:19]),
    )  # fmt: skip


def from_iso(text: str) -> datetime:
    """Naive UTC from an ISO-8601 time such as ``2021-04-01T15:52:31.000Z``."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def millis(time: datetime) -> int:
    """Milliseconds since the epoch, exact (a feed's score)."""
    naive = time.astimezone(UTC).replace(tzinfo=None) if time.tzinfo else time
    delta = naive - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso(time: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, as every JSON answer gives times."""
    return time.isoformat().replace("+00:00", "Z")
