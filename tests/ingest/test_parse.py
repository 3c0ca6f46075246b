from __future__ import annotations

import json
from datetime import datetime

import orjson
import pytest

from pipeline.ingest.parse import parse_lines
from tests.factories import v1_tweet
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
        (b'{"text": "\xff\xfe"}', "invalid UTF-8: invalid start byte at byte 10"),
        (b"[1, 2, 3]", "wrong shape: expected a JSON object, got list"),
        (b"42", "wrong shape: expected a JSON object, got int"),
        (b'{"favorite": true}', "wrong shape: not a tweet"),
        (orjson.dumps({**TWEET, "user": None}), "wrong shape: v1 tweet 'user' must be an object"),
        (orjson.dumps({k: v for k, v in TWEET.items() if k != "created_at"}), "missing field"),
        (b'{"data": 7}', "wrong shape: v2 'data' must be"),
        (b'{"delete": {"status": {}}}', "wrong shape: v1 delete 'status' has no 'id'"),
        (orjson.dumps({**TWEET, "id": 6}), "v1 tweet 'id' 6 and 'id_str' '5' disagree"),
        (orjson.dumps({**TWEET, "id": -6, "id_str": None}), "wrong shape: v1 tweet 'id' -6 is out"),
    ],
)
def test_bad_input_is_dead_lettered_with_a_clear_reason(line: bytes, reason: str) -> None:
    batch = parse_lines([orjson.dumps(TWEET), line], False)
    assert list(batch.tweets) == [5], "the good line in the same batch is kept"
    ((got, payload),) = batch.dead
    assert reason in got
    assert payload == line


def test_a_text_line_with_a_lone_surrogate_is_dead_lettered_not_raised() -> None:
    # A client that decoded JSON's "\ud800" sends a str no UTF-8 can hold.
    batch = parse_lines([orjson.dumps(TWEET).decode(), '{"id": 1, "text": "\ud800"}'], False)
    assert list(batch.tweets) == [5]
    ((reason, payload),) = batch.dead
    assert reason == "invalid UTF-8: invalid continuation byte at byte 19"
    assert payload == b'{"id": 1, "text": "\xed\xa0\x80"}'


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


def compliance(tweet_id: object, action: object = "delete", **more: object) -> bytes:
    return orjson.dumps({"id": tweet_id, "action": action, "created_at": "2021-05-01T10:00:00Z",
                         "reason": "deleted", **more})  # fmt: skip


def test_compliance_job_lines_are_deletes_and_bad_ones_dead_letters() -> None:
    lines = [
        compliance("13", redacted_at="2021-10-07T22:17:44.000Z"),
        compliance("14"),
        compliance("14"),
        compliance("15", action="scrub_geo"),
        compliance("x1"),
        compliance("16", redacted_at="yesterday"),
        compliance(2**63),
        compliance("17", action=3),
    ]
    batch = parse_lines(lines, False)
    assert set(batch.deletes) == {13, 14}
    assert batch.deletes[13] == {"tweet_id": 13, "user_id": None,
                                 "deleted_at": datetime(2021, 10, 7, 22, 17, 44)}  # fmt: skip
    assert batch.deletes[14]["deleted_at"] is None  # the worker uses the time it received it
    assert batch.notices == {"compliance_scrub_geo": 1}
    assert [reason for reason, _ in batch.dead] == [
        "wrong shape: compliance line 'id' must be a tweet id (digits), got 'x1'",
        "wrong shape: compliance line 'redacted_at' 'yesterday' is not an ISO-8601 time",
        "wrong shape: compliance line 'id' 9223372036854775808 is out of range: ids run from 0 "
        "to 2**63 - 1",
        "wrong shape: Expected `str`, got `int` - at `$.action`",
    ]


def test_a_compliance_batch_stores_nothing_but_deletes() -> None:
    tweet = orjson.dumps(v1_tweet(20, "not a delete", 3))
    batch = parse_lines([compliance("13"), tweet], False, deletes_only=True)
    assert (set(batch.deletes), batch.tweets, batch.users) == ({13}, {}, {})
    assert batch.dead == [("not a delete: a compliance batch applies deletes only", tweet)]


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


def test_v1_rows_carry_the_hashtags_mentions_and_references_of_their_json() -> None:
    for name in (V1_STREAM, V1_EXAMPLES):
        batch = parse_lines(lines_of(name), False)
        for message in json_lines(real_fixture(name)):
            if "retweeted_status" in message:
                continue
            record = batch.tweets[int(message["id_str"])]
            entities = message.get("extended_tweet", message)["entities"]
            tags = [h["text"].casefold() for h in entities["hashtags"]]
            assert record.hashtags == tuple(dict.fromkeys(tags))
            assert record.mentions == tuple(
                dict.fromkeys(int(m["id_str"]) for m in entities["user_mentions"])
            )
            reply_to = message["in_reply_to_status_id_str"]
            assert record.row["in_reply_to_id"] == (int(reply_to) if reply_to else None)
            assert record.row["author_id"] == int(message["user"]["id_str"])
            assert record.row["lang"] == message["lang"]
            user = batch.users[record.row["author_id"]]
            assert user["screen_name"] == message["user"]["screen_name"]
            assert user["followers_count"] == message["user"]["followers_count"]


def test_the_payload_is_the_tweets_json_object_decoded_when_asked() -> None:
    lines = lines_of(V1_EXAMPLES)
    batch = parse_lines(lines, True)
    by_id = {int(orjson.loads(line)["id_str"]): line for line in lines}
    embedded = 0
    for record in batch.tweets.values():
        if not record.embedded:
            assert record.source is record.row["raw"] is by_id[record.id]
            assert record.payload == orjson.loads(by_id[record.id])
            continue
        # An embedded tweet keeps the bytes of its object in the line it came in.
        embedded += 1
        assert any(record.row["raw"] in line for line in lines)
        assert record.payload == orjson.loads(record.row["raw"])
        assert int(record.payload["id_str"]) == record.id
    assert embedded == len(batch.tweets) - len(parse_lines(lines, False).tweets) > 0


def test_invalid_utf8_is_dead_lettered_even_in_a_field_the_parser_skips() -> None:
    line = orjson.dumps({**TWEET, "source": "web"}).replace(b'"web"', b'"w\xc3\x28b"')
    batch = parse_lines([line], False)
    assert not batch.tweets
    assert batch.dead[0][0].startswith("invalid UTF-8")


def _big(message: dict[str, object], value: int) -> bytes:
    """``message`` as JSON with its "BIG" value replaced by ``value`` (orjson stops at 64 bits)."""
    return orjson.dumps(message).replace(b'"BIG"', str(value).encode())


V2_TWEET = {"id": "7", "author_id": "9", "text": "hi", "created_at": "2021-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (orjson.dumps({**TWEET, "id_str": str(2**63)}), "v1 tweet 'id' 9223372036854775808"),
        (_big({**TWEET, "id_str": None, "id": "BIG"}, 2**64), "v1 tweet 'id' 18446744073709551616"),
        (orjson.dumps({**TWEET, "id_str": "-5"}), "v1 tweet 'id' -5"),
        (
            orjson.dumps({**TWEET, "user": {"id_str": str(2**63), "screen_name": "nine"}}),
            "v1 tweet 'user' 'id'",
        ),
        (
            orjson.dumps({**TWEET, "entities": {"user_mentions": [{"id": 2**63}]}}),
            "v1 mention 'id'",
        ),
        (
            _big({**TWEET, "in_reply_to_status_id": "BIG"}, 2**70),
            "v1 tweet 'in_reply_to_status_id'",
        ),
        (orjson.dumps({"delete": {"status": {"id": 2**63}}}), "v1 delete 'status' 'id'"),
        (orjson.dumps({"data": {**V2_TWEET, "id": str(2**63)}}), "v2 tweet 'id'"),
        (orjson.dumps({"data": {**V2_TWEET, "author_id": "-1"}}), "v2 tweet 'author_id' -1"),
    ],
)
def test_ids_that_do_not_fit_a_signed_64_bit_integer_are_dead_lettered(
    line: bytes, field: str
) -> None:
    batch = parse_lines([line], False)
    assert not batch.tweets and not batch.deletes and not batch.users
    ((reason, payload),) = batch.dead
    assert reason.startswith(f"wrong shape: {field}")
    assert "out of range: ids run from 0 to 2**63 - 1" in reason
    assert payload == line


def test_the_largest_signed_64_bit_id_is_kept() -> None:
    largest = 2**63 - 1
    v1 = orjson.dumps({**TWEET, "id": largest, "id_str": str(largest)})
    v2 = orjson.dumps({"data": {**V2_TWEET, "id": str(largest - 1)}})
    assert set(parse_lines([v1, v2], False).tweets) == {largest, largest - 1}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (orjson.dumps({**TWEET, "lang": 5}),
         "wrong shape: Expected `str | null`, got `int` - at `$.lang`"),
        (orjson.dumps({**TWEET, "retweeted_status": {**TWEET, "user": {"id": 3}}}),
         "wrong shape: Object missing required field `screen_name` - at `$.retweeted_status.user`"),
        (orjson.dumps({**TWEET, "retweeted_status": "5"}),
         "wrong shape: Expected `object`, got `str` - at `$.retweeted_status`"),
    ],
)  # fmt: skip
def test_a_field_of_the_wrong_type_is_named_with_its_path(line: bytes, reason: str) -> None:
    ((got, _),) = parse_lines([line], False).dead
    assert got == reason


def test_a_number_beyond_a_double_in_a_field_the_parser_skips_still_gives_a_payload() -> None:
    line = orjson.dumps({**TWEET, "score": "HUGE"}).replace(b'"HUGE"', b"1e400")
    (record,) = parse_lines([line], False).tweets.values()
    assert record.row["raw"] == line
    assert record.payload["score"] == float("inf")


def test_a_v2_retweet_mentions_everyone_its_original_mentions() -> None:
    """The retweet's own text is cut short, so are its entities; the included original has
    them all, as v1.1's retweeted_status does."""
    carol = {"start": 120, "end": 126, "username": "carol", "id": "33"}
    orig = {"start": 3, "end": 8, "username": "alice", "id": "11"}
    message = {
        "data": {
            "id": "900", "author_id": "22", "text": "RT @alice: a long text that is cut …",
            "created_at": "2025-01-15T12:00:00.000Z",
            "referenced_tweets": [{"type": "retweeted", "id": "800"}],
            "entities": {"mentions": [orig]},
        },
        "includes": {
            "users": [{"id": "11", "username": "alice"}, {"id": "22", "username": "bob"}],
            "tweets": [{
                "id": "800", "author_id": "11", "created_at": "2025-01-15T11:00:00.000Z",
                "text": "a long text that is cut " + "x" * 90 + " thanks @carol #py",
                "entities": {"mentions": [carol], "hashtags": [{"tag": "py"}]},
            }],
        },
    }  # fmt: skip
    batch = parse_lines([orjson.dumps(message)], capture=False)
    record = batch.tweets[900]
    assert set(record.mentions) == {11, 33}
    assert record.hashtags == ("py",)
