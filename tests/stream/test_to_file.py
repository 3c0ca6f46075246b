"""``tweetfeed listen --to-file``: raw JSON lines appended, embedded tweets split or stripped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest.parse import parse_lines
from tests.helpers import clean_env, expected_ids, json_lines, real_fixture, tweetfeed

V1_EXAMPLES = "v1_original_format_tweet_parser_examples.jsonl"
V2_STREAM = "v2_stream_twarc-csv_streaming_output.jsonl"


def no_whole_embedded_tweets(written: list[dict[str, Any]]) -> bool:
    """Retweets keep only a marked stub of their original; nothing else stays embedded."""
    return not any(
        "quoted_status" in m
        or ("retweeted_status" in m and not m["retweeted_status"].get("tweetfeed_stub"))
        or any(not t.get("tweetfeed_stub") for t in m.get("includes", {}).get("tweets", []))
        for m in written
    )


def to_file(tmp_path: Path, source: str, capture: bool) -> list[dict[str, Any]]:
    out = tmp_path / "out.jsonl"
    env = clean_env(
        TWEETFEED_CAPTURE_EMBEDDED=str(capture).lower(), TWEETFEED_VAR_DIR=str(tmp_path)
    )
    result = tweetfeed("listen", "--from-file", source, "--to-file", str(out), env=env)
    assert result.returncode == 0, result.stderr.decode()
    return list(json_lines(out))


@pytest.mark.parametrize("name", [V1_EXAMPLES, V2_STREAM])
def test_with_capture_off_embedded_tweets_are_stripped(tmp_path: Path, name: str) -> None:
    written = to_file(tmp_path, str(real_fixture(name)), capture=False)
    assert no_whole_embedded_tweets(written)
    top_level = expected_ids(real_fixture(name), capture=False)
    assert expected_ids(tmp_path / "out.jsonl", capture=True) == top_level


@pytest.mark.parametrize("name", [V1_EXAMPLES, V2_STREAM])
def test_with_capture_on_embedded_tweets_go_onto_their_own_lines(tmp_path: Path, name: str) -> None:
    written = to_file(tmp_path, str(real_fixture(name)), capture=True)
    assert no_whole_embedded_tweets(written)
    everything = expected_ids(real_fixture(name), capture=True)
    assert expected_ids(tmp_path / "out.jsonl", capture=False) == everything
    assert len(written) > len(list(json_lines(real_fixture(name))))


def test_a_split_file_replays_to_the_same_rows_and_links(tmp_path: Path) -> None:
    source = real_fixture(V1_EXAMPLES)
    to_file(tmp_path, str(source), capture=True)
    direct = parse_lines([x for x in source.read_bytes().split(b"\n") if x], True)
    split = parse_lines((tmp_path / "out.jsonl").read_bytes().split(b"\n")[:-1], False)
    links = ("retweeted_id", "quoted_id", "in_reply_to_id", "text", "author_id")
    assert {i: [r.row[k] for k in links] for i, r in direct.tweets.items()} == {
        i: [r.row[k] for k in links] for i, r in split.tweets.items()
    }


def test_the_file_is_appended_to_not_replaced(tmp_path: Path) -> None:
    first = to_file(tmp_path, str(real_fixture(V2_STREAM)), capture=False)
    second = to_file(tmp_path, str(real_fixture(V2_STREAM)), capture=False)
    assert len(second) == 2 * len(first)
    assert json.dumps(second[: len(first)]) == json.dumps(first)
