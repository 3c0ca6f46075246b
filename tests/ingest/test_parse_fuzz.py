"""Hypothesis on the parser: any bytes, and JSON shaped like what the stream sends with every
field's type and presence left to chance, become a tweet, a notice or a dead letter with a
reason; no other exception ever escapes (it would fail the whole batch in the worker)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.parse import parse_line, parse_lines
from tests.factories import v1_tweet

KEYS = ["id", "id_str", "text", "full_text", "user", "delete", "status", "user_id", "data",
        "includes", "tweets", "users", "author_id", "created_at", "entities", "hashtags",
        "user_mentions", "retweeted_status", "quoted_status", "extended_tweet", "timestamp_ms",
        "in_reply_to_status_id_str", "referenced_tweets", "type", "matching_rules", "limit",
        "track", "screen_name", "name", "errors", "tag", "note_tweet"]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["1", "123", "-4", "99999999999999999999", "Wed Oct 10 20:19:24 +0000 2018"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    max_leaves=25,
)  # fmt: skip


def dump(message: Any) -> bytes:
    return json.dumps(message).encode()  # orjson refuses ints past 64 bits; the stream may not


def outcome(raw: bytes) -> str:
    try:
        result = parse_line(raw, capture=True)
    except ValueError as exc:
        assert str(exc), "a dead letter needs a reason"
        return "dead letter"
    assert result.tweets or result.deletes or result.notices, "a line that became nothing"
    return "parsed"


fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz
@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_dead_lettered(raw: bytes) -> None:
    outcome(raw)


@fuzz
@given(JSON)
def test_any_json_of_the_streams_shape_is_parsed_or_dead_lettered(message: Any) -> None:
    outcome(dump(message))


@fuzz
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8))
def test_a_real_tweet_with_any_field_replaced_is_parsed_or_dead_lettered(
    changes: dict[str, Any],
) -> None:
    tweet = v1_tweet(1_000 + len(changes))
    tweet.update(changes)
    outcome(dump(tweet))


@fuzz
@given(st.lists(st.binary(max_size=120) | JSON.map(dump), max_size=12))
def test_a_batch_accounts_for_every_line(lines: list[bytes]) -> None:
    batch = parse_lines(lines, capture=True)
    assert batch.lines == len(lines)
    dead = sum(outcome(raw) == "dead letter" for raw in lines if raw.strip())
    assert len(batch.dead) == dead
