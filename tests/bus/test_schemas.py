"""The public tasks' JSON Schemas and their parsers agree: each good payload below passes both,
each bad one fails both (the parser names the reason people read; the schema is what other
apps check before they send). The workers check both (``pipeline.bus.contract``)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from pipeline.bus import contract, routes, schemas
from pipeline.bus.errors import PayloadError

ACT = {"actor": "user:1", "verb": "like", "object": "tweet:2"}
GOOD: list[tuple[str, dict[str, Any]]] = [
    (routes.INGEST_BATCH, {"lines": ["{}"], "source": "app"}),
    (routes.INGEST_BATCH, {"batch": "{tweetfeed}:batch:ab12", "source": "x", "received_at": 1.5,
                           "truncated": [[0, 70000]]}),
    (routes.ADD_ACTIVITY, ACT),
    (routes.ADD_ACTIVITY, {**ACT, "target": "board:9", "time": "2025-01-01T00:00:00Z",
                           "foreign_id": "like:1", "to": ["notification:2"], "extra": {"a": 1}}),
    (routes.ADD_ACTIVITY, {**ACT, "target": None, "to": None, "extra": None}),
    (routes.REMOVE_ACTIVITY, {"foreign_id": "like:1"}),
    (routes.REMOVE_ACTIVITY, {"activity_id": 2**63 - 1}),
    (routes.FOLLOW, {"feed": "timeline:1", "target": "user:2", "backfill": 0}),
    (routes.UNFOLLOW, {"feed": "timeline:1", "target": "user:2"}),
    (routes.UNFOLLOW, {"feed": "timeline:1", "target": "user:2", "keep_history": True}),
    (routes.UNFOLLOW, {"feed": "timeline:1", "target": "user:2", "backfill": 5}),  # ignored
    (routes.UNFOLLOW_MANY, {"follows": [{"feed": "timeline:1", "target": "user:2"}],
                            "keep_history": False}),
    (routes.FOLLOW_MANY, {"follows": [{"feed": "timeline:1", "target": "user:2"}],
                          "backfill": 1000}),
    (routes.BROADCAST, {"activity": ACT, "feeds": ["user:2", "user:3"]}),
    (routes.FILTER, {"user": "7", "mute": ["42", 43], "block": None, "words": ["spoilers"]}),
    (routes.FILTER, {"user": 7, "words": ["two words"]}),
    (routes.UNFILTER, {"user": "7", "block": ["9"]}),
]  # fmt: skip
BAD: list[tuple[str, Any]] = [
    (routes.FILTER, {"user": "7"}),
    (routes.FILTER, {"mute": ["1"]}),
    (routes.FILTER, {"user": "not an id", "mute": ["1"]}),
    (routes.FILTER, {"user": "7", "mute": ["a b"]}),
    (routes.FILTER, {"user": "7", "words": [""]}),
    (routes.FILTER, {"user": "7", "words": ["x" * 101]}),
    (routes.FILTER, {"user": "7", "words": ["ok"], "colour": "red"}),
    (routes.UNFILTER, {"user": "7", "mute": ["1"] * 101}),
    (routes.INGEST_BATCH, {"source": "x"}),
    (routes.INGEST_BATCH, {"lines": ["{}"], "batch": "{tweetfeed}:batch:1"}),
    (routes.INGEST_BATCH, {"lines": "{}"}),
    (routes.INGEST_BATCH, {"lines": [1]}),
    (routes.INGEST_BATCH, {"batch": "elsewhere:1"}),
    (routes.INGEST_BATCH, {"lines": [], "source": ""}),
    (routes.INGEST_BATCH, {"lines": [], "received_at": 1e300}),
    (routes.INGEST_BATCH, {"lines": [], "received_at": -1}),
    (routes.INGEST_BATCH, {"lines": [], "truncated": [[-1, 5]]}),
    (routes.INGEST_BATCH, {"lines": [], "truncated": [[0, 0]]}),
    (routes.INGEST_BATCH, {"lines": [], "truncated": [[0, 5, 6]]}),
    (routes.INGEST_BATCH, {"lines": [], "surplus": 1}),
    (routes.ADD_ACTIVITY, {"actor": "user:1", "object": "tweet:2"}),
    (routes.ADD_ACTIVITY, {**ACT, "actor": 5}),
    (routes.ADD_ACTIVITY, {**ACT, "actor": "no colon"}),
    (routes.ADD_ACTIVITY, {**ACT, "verb": "Like"}),
    (routes.ADD_ACTIVITY, {**ACT, "to": ["not a feed"]}),
    (routes.ADD_ACTIVITY, {**ACT, "to": ["user:1"] * 101}),
    (routes.ADD_ACTIVITY, {**ACT, "extra": [1]}),
    (routes.ADD_ACTIVITY, {**ACT, "foreign_id": ""}),
    (routes.ADD_ACTIVITY, {**ACT, "time": 5}),
    (routes.ADD_ACTIVITY, {**ACT, "colour": "red"}),
    (routes.REMOVE_ACTIVITY, {}),
    (routes.REMOVE_ACTIVITY, {"foreign_id": "x", "activity_id": 3}),
    (routes.REMOVE_ACTIVITY, {"activity_id": 10**30}),
    (routes.REMOVE_ACTIVITY, {"activity_id": -1}),
    (routes.REMOVE_ACTIVITY, {"foreign_id": 7}),
    (routes.FOLLOW, {"feed": "timeline:1"}),
    (routes.FOLLOW, {"feed": "timeline:1", "target": "not a feed"}),
    (routes.FOLLOW, {"feed": "timeline:1", "target": "user:2", "backfill": 10**20}),
    (routes.FOLLOW, {"feed": "timeline:1", "target": "user:2", "backfill": -1}),
    (routes.UNFOLLOW, {"feed": ["a"], "target": {}}),
    (routes.UNFOLLOW, {"feed": "timeline:1", "target": "user:2", "keep_history": "yes"}),
    (routes.UNFOLLOW_MANY, {"follows": [], "keep_history": True}),
    (routes.FOLLOW_MANY, {"follows": []}),
    (routes.FOLLOW_MANY, {"follows": [{"feed": "timeline:1"}]}),
    (routes.FOLLOW_MANY, {"follows": [{"feed": "timeline:1", "target": "user:2"}] * 10_001}),
    (routes.BROADCAST, {"activity": {"actor": "user:1"}, "feeds": ["user:2"]}),
    (routes.BROADCAST, {"activity": ACT, "feeds": []}),
    (routes.BROADCAST, {"activity": "x", "feeds": "y"}),
]  # fmt: skip


def valid(task: str, payload: Any) -> bool:
    found = schemas.schema(task)
    assert found is not None, f"{task} has no schema"
    return bool(jsonschema_rs.validator_for(found).is_valid(payload))


@pytest.mark.parametrize(("task", "payload"), GOOD)
def test_a_good_payload_passes_its_schema_and_its_parser(task: str, payload: Any) -> None:
    assert valid(task, payload)
    contract.parse(task, (), payload)


@pytest.mark.parametrize(("task", "payload"), BAD)
def test_a_bad_payload_fails_its_schema_and_its_parser(task: str, payload: Any) -> None:
    assert not valid(task, payload)
    with pytest.raises(PayloadError):
        contract.parse(task, (), payload)


def test_every_public_task_has_a_schema_and_internal_ones_none() -> None:
    public = set(contract.PARSERS) - {routes.FANOUT_CHUNK, routes.POLL_FILTER_TERMS}
    assert set(schemas.names()) == public
    assert schemas.schema(routes.FANOUT_CHUNK) is None
