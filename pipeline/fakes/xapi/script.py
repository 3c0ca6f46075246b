"""Scripts and commands of the fake X API: checking the steps a script plays to each new stream
connection, the commands a connection carries out (queued from a script or the control API),
and the HTTP errors owed to the next connection attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.fakes.xapi.factory import TweetLine

__all__ = [
    "SECONDS_STEPS",
    "Command",
    "Failures",
    "check_script",
    "http_error_arguments",
    "load_script",
]

# Script steps, each a one-key dict, and the type of the value each key takes.
_COUNT_STEPS = frozenset({"tweets", "keepalive", "truncated"})
SECONDS_STEPS = frozenset({"stall", "sleep"})
_FLAG_STEPS = frozenset({"operational_disconnect", "drop"})
_STEPS = _COUNT_STEPS | SECONDS_STEPS | _FLAG_STEPS | {"http_error"}


@dataclass(frozen=True, slots=True)
class Command:
    """Something a stream connection must do next, queued from the control API or a script."""

    kind: str
    tweets: tuple[TweetLine, ...] = ()
    seconds: float = 0.0
    count: int = 0
    status: int = 0


@dataclass(slots=True)
class Failures:
    """HTTP errors owed to the next stream connection attempts."""

    status: int = 0
    remaining: int = 0

    def take(self) -> int | None:
        """The status for this attempt, or None when no failure is owed."""
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.status


def check_script(script: Iterable[Any]) -> list[dict[str, Any]]:
    """Validate script steps up front, so a typo fails at start-up and not mid-stream."""
    steps = list(script)
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            raise ValueError(f"script step {index} must be a one-key object, got {step!r}")
        ((kind, value),) = step.items()
        if kind not in _STEPS:
            raise ValueError(f"script step {index}: unknown step {kind!r}")
        _check_step_value(index, kind, value)
    return steps


def _check_step_value(index: int, kind: str, value: Any) -> None:
    """Reject a script step value of the wrong type or range."""
    if kind in _COUNT_STEPS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif kind in SECONDS_STEPS:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    elif kind in _FLAG_STEPS:
        ok = isinstance(value, bool)
    else:
        ok = http_error_arguments(value) is not None
    if not ok:
        raise ValueError(f"script step {index}: bad value {value!r} for {kind!r}")


def http_error_arguments(value: Any) -> tuple[int, int] | None:
    """Read ``503`` or ``{"status": 503, "count": 2}`` as (status, count), or None if neither."""
    if isinstance(value, dict):
        status, count = value.get("status"), value.get("count", 1)
    else:
        status, count = value, 1
    if not (isinstance(status, int) and isinstance(count, int)):
        return None
    if not 400 <= status <= 599 or count < 1:
        return None
    return status, count


def load_script(path: Path) -> list[dict[str, Any]]:
    """Read and validate a script file: a JSON list of one-key step objects."""
    steps = orjson.loads(path.read_bytes())
    if not isinstance(steps, list):
        raise ValueError(f"{path}: a script is a JSON list of steps")
    return check_script(steps)
