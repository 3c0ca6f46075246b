"""The task contract: each task name's payload parser, and the one place that turns a bad
payload into a dead letter.

The base task of the workers parses every message through :func:`accept` before its body runs,
so a task body only ever sees a parsed request. A payload that fails its parser is recorded in
``dead_letters`` as ``task:<name>`` with the reason and the task is acknowledged, never retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
from sqlalchemy.orm import Session

from pipeline.bus import routes, schemas
from pipeline.bus.errors import PayloadError
from pipeline.feeds.filters import FilterRequest
from pipeline.feeds.task_payloads import (
    BroadcastRequest,
    ChunkRequest,
    FollowRequest,
    RemoveRequest,
    activity_row,
)
from pipeline.ingest.request import IngestRequest
from pipeline.store import deadletters

log = logging.getLogger(__name__)
Transaction = Callable[[], AbstractContextManager[Session]]


class Rejected:
    """What :func:`accept` returns for a payload it dead-lettered."""

    def __repr__(self) -> str:
        return "REJECTED"


REJECTED = Rejected()


def _nothing(payload: dict[str, Any]) -> None:
    if payload:
        raise PayloadError(f"takes no payload, got fields: {', '.join(sorted(payload))}")


PARSERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    routes.INGEST_BATCH: IngestRequest.parse,
    routes.ADD_ACTIVITY: activity_row,
    routes.REMOVE_ACTIVITY: RemoveRequest.parse,
    routes.FOLLOW: FollowRequest.parse,
    routes.FOLLOW_MANY: FollowRequest.parse_many,
    routes.UNFOLLOW: FollowRequest.parse_unfollow,
    routes.UNFOLLOW_MANY: FollowRequest.parse_unfollow_many,
    routes.BROADCAST: BroadcastRequest.parse,
    routes.FILTER: FilterRequest.parse,
    routes.UNFILTER: FilterRequest.parse,
    routes.FANOUT_CHUNK: ChunkRequest.parse,
    routes.POLL_FILTER_TERMS: _nothing,
}


def parse(task: str, args: tuple[Any, ...], payload: dict[str, Any]) -> Any:
    """Task ``task``'s parsed request; PayloadError when the message breaks the contract."""
    if args:
        raise PayloadError("the payload goes in keyword arguments, not positional ones")
    parser = PARSERS.get(task)
    if parser is None:
        raise PayloadError(f"{task!r} is not a tweetfeed task")
    parsed = parser(payload)
    schemas.check(task, payload)
    return parsed


def _dump(value: Any) -> bytes:
    """The payload as JSON for the dead-letter table, whatever it holds (orjson refuses
    integers beyond 64 bits; the standard library does not)."""
    try:
        return orjson.dumps(value, default=repr)
    except TypeError:
        return json.dumps(value, default=repr).encode()


def accept(
    transaction: Transaction, task: str, args: tuple[Any, ...], payload: dict[str, Any]
) -> Any:
    """:func:`parse`; or, when the payload is bad, REJECTED after dead-lettering it."""
    try:
        return parse(task, args, payload)
    except PayloadError as exc:
        with transaction() as session:
            body = _dump(payload or list(args))
            reason = f"bad payload: {exc}"
            if len(body) > deadletters.SAMPLE_BYTES:
                reason += (
                    f" ({len(body):,} bytes of JSON; the first {deadletters.SAMPLE_BYTES:,} kept)"
                )
                body = body[: deadletters.SAMPLE_BYTES]
            deadletters.record(session, f"task:{task}", reason, body)
        log.warning("%s payload dead-lettered: %s", task, exc)
        return REJECTED
