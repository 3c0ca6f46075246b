from __future__ import annotations

import json

import orjson
import pytest

from pipeline.ingest.parse import parse_lines
from tests.helpers import expected_ids, json_lines, real_fixture

V1_STREAM = "v1_stream_python-twitter_lines.jsonl"
V1_EXAMPLES = "v1_original_format_tweet_parser_examples.jsonl"
V2_STREAM = "v2_stream_twarc-csv_streaming_output.jsonl"
V2_BROKEN = "v2_stream_twarc-csv_streaming_output_with_error.jsonl"
V2_PAGES = "v2_search_pages_twarc-csv_2sets.jsonl"
ALL = [V1_STREAM, V1_EXAMPLES, V2_STREAM, V2_BROKEN, V2_PAGES]


def lines_of(name: str) -> list[bytes]:
    return [line for line in real_fixture(name).read_bytes().split(b"\n") if line]


@pytest.mark.parametrize("capture", [False, True])
@pytest.mark.parametrize("name", ALL)
def test_the_parser_finds_exactly_the_ids_a_file_holds(name: str, capture: bool) -> None:
    batch = parse_lines(lines_of(name), capture)
    assert set(batch.tweets) == expected_ids(real_fixture(name), capture)


def test_extended_tweets_keep_their_full_text() -> None:
    batch = parse_lines(lines_of(V1_STREAM), False)
    for message in json_lines(real_fixture(V1_STREAM)):
        if "extended_tweet" in message and "retweeted_status" not in message:
            stored = batch.tweets[int(message["id_str"])].row["text"]
            assert stored == message["extended_tweet"]["full_text"]
            assert not stored.endswith("…") or message["extended_tweet"]["full_text"].endswith("…")


def test_four_byte_emoji_survive_parsing() -> None:
    batch = parse_lines(lines_of(V1_STREAM), False)
    wanted = {
        int(m["id_str"]): m.get("extended_tweet", {}).get("full_text") or m["text"]
        for m in json_lines(real_fixture(V1_STREAM))
        if "retweeted_status" not in m
    }
    with_emoji = [i for i, t in wanted.items() if any(ord(ch) > 0xFFFF for ch in t)]
    assert len(with_emoji) >= 5
    for tweet_id in with_emoji:
        assert batch.tweets[tweet_id].row["text"].encode() == wanted[tweet_id].encode()


def test_a_retweet_gets_the_full_text_of_its_original() -> None:
    lines = lines_of(V1_EXAMPLES)
    batch = parse_lines(lines, True)
    retweets = [m for m in json_lines(real_fixture(V1_EXAMPLES)) if "retweeted_status" in m]
    assert retweets
    for message in retweets:
        original = message["retweeted_status"]
        full = original.get("extended_tweet", {}).get("full_text") or original["text"]
        row = batch.tweets[int(message["id_str"])].row
        assert row["text"] == f"RT @{original['user']['screen_name']}: {full}"
        assert row["retweeted_id"] == int(original["id_str"])
        assert int(original["id_str"]) in batch.tweets


def test_v2_tweets_carry_rules_users_and_references() -> None:
    batch = parse_lines(lines_of(V2_STREAM), False)
    first = json.loads(lines_of(V2_STREAM)[0])
    record = batch.tweets[int(first["data"]["id"])]
    assert record.rules == ("1377649934414049282",)
    assert record.row["quoted_id"] == 1377640162566496258
    assert record.row["source_format"] == "v2"
    assert int(first["data"]["author_id"]) in batch.users


def test_the_raw_payload_of_a_stream_line_is_the_line_itself() -> None:
    lines = lines_of(V2_STREAM)
    batch = parse_lines(lines, False)
    assert batch.tweets[int(json.loads(lines[0])["data"]["id"])].row["raw"] == lines[0]


def test_a_duplicate_delivery_is_counted_and_kept_once() -> None:
    assert parse_lines(lines_of(V1_STREAM), False).duplicates == 1


def test_an_operational_disconnect_is_a_count_not_a_tweet() -> None:
    batch = parse_lines(lines_of(V2_STREAM), False)
    assert batch.notices == {"operational_disconnect": 1}
    assert not batch.dead


def test_the_truncated_line_is_dead_lettered_and_the_rest_parse() -> None:
    lines = lines_of(V2_BROKEN)
    batch = parse_lines(lines, False)
    assert [(reason.split(":")[0], payload) for reason, payload in batch.dead] == [
        ("invalid JSON", lines[-1])
    ]
    assert len(batch.tweets) == len(expected_ids(real_fixture(V2_BROKEN), False)) > 0


TWEET = {"id": 5, "id_str": "5", "text": "hi", "created_at": "Wed Oct 10 20:19:24 +0000 2018",
         "user": {"id": 9, "id_str": "9", "screen_name": "nine"}}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id": 1, "text": ', "invalid JSON"),
        (b'{"text": "\xff\xfe"}', "invalid UTF-8"),
        (b"[1, 2, 3]", "wrong shape: expected a JSON object, got list"),
        (b"42", "wrong shape: expected a JSON object, got int"),
        (b'{"favorite": true}', "wrong shape: not a tweet"),
        (orjson.dumps({**TWEET, "user": None}), "wrong shape: v1 tweet 'user' must be an object"),
        (orjson.dumps({k: v for k, v in TWEET.items() if k != "created_at"}), "missing field"),
        (b'{"data": 7}', "wrong shape: v2 'data' must be"),
        (b'{"delete": {"status": {}}}', "wrong shape: v1 delete 'status' has no 'id'"),
    ],
)
def test_bad_input_is_dead_lettered_with_a_clear_reason(line: bytes, reason: str) -> None:
    batch = parse_lines([orjson.dumps(TWEET), line], False)
    assert list(batch.tweets) == [5], "the good line in the same batch is kept"
    ((got, payload),) = batch.dead
    assert reason in got
    assert payload == line


def test_deletes_of_both_formats_are_recognised() -> None:
    v1 = orjson.dumps(
        {"delete": {"status": {"id": 11, "id_str": "11", "user_id": 3}, "timestamp_ms": "15"}}
    )
    v2 = orjson.dumps(
        {
            "data": {
                "delete": {
                    "tweet": {"id": "12", "author_id": "4"},
                    "event_at": "2021-01-01T00:00:00Z",
                }
            }
        }
    )
    batch = parse_lines([v1, v2], False)
    assert set(batch.deletes) == {11, 12}
    assert batch.deletes[11]["user_id"] == 3


def test_limit_disconnect_and_warning_notices_are_counted() -> None:
    lines = [b'{"limit":{"track":12,"timestamp_ms":"1"}}', b'{"disconnect":{"code":7}}',
             b'{"warning":{"code":"FALLING_BEHIND"}}', b'{"limit":{"track":13}}']  # fmt: skip
    batch = parse_lines(lines, False)
    assert batch.notices == {"limit": 2, "disconnect": 1, "warning": 1}
    assert not batch.tweets and not batch.dead


def test_lines_marked_truncated_by_the_listener_are_dead_lettered_unparsed() -> None:
    batch = parse_lines([b'{"partial', orjson.dumps(TWEET)], False, truncated={0: 10_000_000},
                        max_line_bytes=1000)  # fmt: skip
    assert batch.dead[0][0] == "oversize line: 10000000 bytes, over TWEETFEED_MAX_LINE_BYTES"
    assert list(batch.tweets) == [5]
