"""X API compliance-job lines: ``{"id": "…", "action": "delete", "redacted_at": "…", "reason":
"deleted"}``, one per tweet that must go (deleted, suspended, protected, deactivated).

Each becomes a delete notice, as a stream's own delete would: the tweet is removed with its
activity from every feed, and a later copy of it is never stored (deletes win). A line of
another action is counted as a notice (``compliance_<action>``) and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import UNSET

from pipeline.ingest.parse.records import LineResult, ShapeError, fit_id
from pipeline.ingest.parse.schema import Message
from pipeline.times import from_iso

WHAT = "compliance line"


def parse_action(message: Message, out: LineResult) -> None:
    action = message.action
    if action != "delete":
        if not isinstance(action, str) or not action.isidentifier() or len(action) > 40:
            raise ShapeError(f"{WHAT} 'action' {action!r} is not an action name")
        out.notices.append(f"compliance_{action}")
        return
    raw = message.id_str if message.id_str is not None else message.id
    if not isinstance(raw, (int, str)) or not str(raw).isdigit():
        shown = None if raw is UNSET else raw
        raise ShapeError(f"{WHAT} 'id' must be a tweet id (digits), got {shown!r}")
    when = message.redacted_at
    out.deletes.append(
        {
            "tweet_id": fit_id(int(raw), WHAT, "id"),
            "user_id": None,
            "deleted_at": _time(when) if when else None,
        }
    )


def _time(text: str) -> datetime:
    try:
        return from_iso(text)
    except ValueError:
        raise ShapeError(f"{WHAT} 'redacted_at' {text!r} is not an ISO-8601 time") from None
