"""JSON Schemas of the public tasks' payloads: what another app may send, in any language.

Served at ``/api/schemas/{task}`` and checked by the workers: a payload its task's parser
accepts must match the schema too, or it is dead-lettered like any bad payload (the parsers give
the reasons people read first; the schema is what another app can check against before it
sends). ``tests/bus/test_schemas.py`` holds the two to each other.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema_rs

from pipeline.bus import routes
from pipeline.bus.errors import PayloadError
from pipeline.feeds.filters import MAX_RULES, WORD_MAX
from pipeline.feeds.task_payloads import (
    MAX_BACKFILL,
    MAX_BROADCAST_FEEDS,
    MAX_EXTRA_BYTES,
    MAX_FOLLOWS,
    MAX_TO,
)
from pipeline.ingest.parked import KEY_PATTERN
from pipeline.ingest.request import LATEST_TIME

DIALECT = "https://json-schema.org/draft/2020-12/schema"
REF = {"type": "string", "pattern": r"^[A-Za-z][\w.-]{0,63}:[^\s]{1,120}$"}
FEED = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,31}:[\w-]{1,150}$"}
BIGINT = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
BACKFILL = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_BACKFILL,
            "description": "items of the target the feed gets at once (default 200)"}  # fmt: skip
ACTIVITY = {
    "type": "object",
    "required": ["actor", "verb", "object"],
    "additionalProperties": False,
    "properties": {
        "actor": REF,
        "verb": {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,31}$"},
        "object": REF,
        "target": {"anyOf": [REF, {"type": "null"}]},
        "time": {"type": ["string", "null"], "description": "ISO-8601, UTC if no offset"},
        "foreign_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 191},
        "to": {"type": ["array", "null"], "items": FEED, "maxItems": MAX_TO},
        "extra": {"type": ["object", "null"],
                  "description": f"any JSON object of at most {MAX_EXTRA_BYTES} bytes"},
    },
}  # fmt: skip
FOLLOW = {
    "type": "object",
    "required": ["feed", "target"],
    "additionalProperties": False,
    "properties": {"feed": FEED, "target": FEED, "backfill": BACKFILL},
}

FOLLOWS = {
    "type": "array", "minItems": 1, "maxItems": MAX_FOLLOWS, "items": {
        "type": "object", "required": ["feed", "target"], "additionalProperties": False,
        "properties": {"feed": FEED, "target": FEED}},
}  # fmt: skip
KEEP_HISTORY = {"type": ["boolean", "null"],
                "description": "leave the feed the target's items it already holds"}  # fmt: skip

USER = {"anyOf": [{"type": "string", "pattern": r"^[\w-]{1,150}$"},
                  {"type": "integer", "minimum": 0}], "description": "a user id"}  # fmt: skip
USERS = {"type": ["array", "null"], "maxItems": MAX_RULES, "items": USER}
FILTER = {
    "type": "object",
    "required": ["user"],
    "additionalProperties": False,
    "minProperties": 2,
    "properties": {
        "user": USER,
        "mute": USERS,
        "block": USERS,
        "words": {"type": ["array", "null"], "maxItems": MAX_RULES,
                  "items": {"type": "string", "minLength": 1, "maxLength": WORD_MAX}},
    },
}  # fmt: skip

_SCHEMAS: dict[str, dict[str, Any]] = {
    routes.INGEST_BATCH: {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["lines"]}, {"required": ["batch"]}],
        "properties": {
            "lines": {"type": "array", "items": {"type": "string"},
                      "description": "raw stream lines (v1.1 or v2 JSON), one per item"},
            "batch": {"type": "string", "pattern": KEY_PATTERN,
                      "description": "the listener's parked batch (Redis key)"},
            "source": {"type": "string", "minLength": 1, "maxLength": 255},
            "received_at": {"type": ["number", "null"], "minimum": 0,
                            "exclusiveMaximum": LATEST_TIME},
            "truncated": {"type": ["array", "null"], "items": {
                "type": "array", "prefixItems": [{"type": "integer", "minimum": 0},
                                                 {"type": "integer", "minimum": 1}],
                "minItems": 2, "maxItems": 2}},
        },
    },
    routes.ADD_ACTIVITY: ACTIVITY,
    routes.REMOVE_ACTIVITY: {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["foreign_id"], "not": {"required": ["activity_id"]}},
                  {"required": ["activity_id"], "not": {"required": ["foreign_id"]}}],
        "properties": {"foreign_id": {"type": "string"}, "activity_id": BIGINT},
    },
    routes.FOLLOW: FOLLOW,
    routes.UNFOLLOW: {
        "type": "object",
        "required": ["feed", "target"],
        "additionalProperties": False,
        "properties": {"feed": FEED, "target": FEED, "backfill": BACKFILL,
                       "keep_history": KEEP_HISTORY},
    },
    routes.FOLLOW_MANY: {
        "type": "object",
        "required": ["follows"],
        "additionalProperties": False,
        "properties": {"follows": FOLLOWS, "backfill": BACKFILL},
    },
    routes.UNFOLLOW_MANY: {
        "type": "object",
        "required": ["follows"],
        "additionalProperties": False,
        "properties": {"follows": FOLLOWS, "keep_history": KEEP_HISTORY},
    },
    routes.FILTER: FILTER,
    routes.UNFILTER: FILTER,
    routes.BROADCAST: {
        "type": "object",
        "required": ["activity", "feeds"],
        "additionalProperties": False,
        "properties": {
            "activity": ACTIVITY,
            "feeds": {"type": "array", "items": FEED, "minItems": 1,
                      "maxItems": MAX_BROADCAST_FEEDS},
        },
    },
}  # fmt: skip


def names() -> list[str]:
    return sorted(_SCHEMAS)


def schema(task: str) -> dict[str, Any] | None:
    """Task ``task``'s payload schema, complete with its ``$schema`` and ``$id``; None for a
    task that is not public."""
    found = _SCHEMAS.get(task)
    if found is None:
        return None
    return {"$schema": DIALECT, "$id": f"/api/schemas/{task}", "title": task, **found}


@cache
def _validator(task: str) -> Any:
    return jsonschema_rs.validator_for(schema(task) or {})


def check(task: str, payload: Any) -> None:
    """Raise PayloadError when ``payload`` does not match task ``task``'s schema (tasks with
    none, the internal ones, pass)."""
    if task not in _SCHEMAS:
        return
    error = next(iter(_validator(task).iter_errors(payload)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "the payload"
        raise PayloadError(f"does not match its JSON Schema at {where}: {error.message[:200]}")
