"""The synthetic stream, checked from the outside: only its bytes, read with the stdlib json."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from pipeline.fakes.synth import generate, write

SAMPLE = 2_000


@cache
def sample(fmt: str, seed: int = 0) -> tuple[bytes, ...]:
    """The first SAMPLE lines of a stream, generated once per test run."""
    return tuple(generate(SAMPLE, fmt, seed))


@cache
def fresh(fmt: str) -> list[dict[str, Any]]:
    """Parsed lines of the sample, leaving out re-deliveries (lines seen before)."""
    seen: set[bytes] = set()
    parsed = []
    for line in sample(fmt):
        if line not in seen:
            seen.add(line)
            parsed.append(json.loads(line))
    return parsed


def v1_tweets() -> list[dict[str, Any]]:
    """First deliveries of v1 tweets (no deletes)."""
    return [obj for obj in fresh("v1") if "delete" not in obj]


def v2_tweets() -> list[dict[str, Any]]:
    """First deliveries of v2 tweets (no deletes)."""
    return [obj for obj in fresh("v2") if "delete" not in obj["data"]]


def v1_kinds() -> Counter[str]:
    """How many v1 lines of each kind the sample holds."""
    kinds: Counter[str] = Counter()
    seen: set[bytes] = set()
    for line in sample("v1"):
        if line in seen:
            kinds["duplicate"] += 1
            continue
        seen.add(line)
        obj = json.loads(line)
        if "delete" in obj:
            kinds["delete"] += 1
        elif "retweeted_status" in obj:
            kinds["retweet"] += 1
        elif obj["is_quote_status"]:
            kinds["quote"] += 1
        elif obj["in_reply_to_status_id"] is not None:
            kinds["reply"] += 1
        elif obj["truncated"]:
            kinds["extended"] += 1
        else:
            kinds["plain"] += 1
    return kinds


def has_astral(text: str) -> bool:
    """Whether text holds a character that takes 4 bytes in UTF-8 (most emoji)."""
    return any(ord(char) > 0xFFFF for char in text)


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_every_line_parses_as_one_json_object(fmt: str) -> None:
    lines = sample(fmt)
    assert len(lines) == SAMPLE
    for line in lines:
        assert isinstance(line, bytes)
        assert not line.endswith((b"\n", b"\r"))
        assert isinstance(json.loads(line), dict)


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_same_seed_gives_identical_bytes(fmt: str) -> None:
    assert list(generate(500, fmt, seed=7)) == list(generate(500, fmt, seed=7))


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_different_seed_gives_different_bytes(fmt: str) -> None:
    assert list(generate(200, fmt, seed=1)) != list(generate(200, fmt, seed=2))


def test_a_shorter_stream_is_a_prefix_of_a_longer_one() -> None:
    assert list(generate(300, "v1")) == list(sample("v1")[:300])


def test_v1_and_v2_with_the_same_seed_describe_the_same_tweets() -> None:
    v1_ids = [obj["id_str"] for obj in v1_tweets()]
    v2_ids = [obj["data"]["id"] for obj in v2_tweets()]
    assert v1_ids == v2_ids


def test_v1_sample_holds_every_kind_of_line() -> None:
    kinds = v1_kinds()
    # Expected: 1,100 plain, 300 replies, 300 retweets, 140 quotes, 80 long, 40 + 40 others.
    assert kinds["plain"] > 900
    assert kinds["reply"] > 200
    assert kinds["retweet"] > 200
    assert kinds["quote"] > 80
    assert kinds["extended"] > 40
    assert kinds["delete"] > 15
    assert kinds["duplicate"] > 15


def test_v1_sample_holds_emoji_hashtags_mentions_and_links() -> None:
    tweets = v1_tweets()
    assert sum(has_astral(t["text"]) for t in tweets) > 200
    assert sum(bool(t["entities"]["hashtags"]) for t in tweets) > 500
    assert sum(bool(t["entities"]["user_mentions"]) for t in tweets) > 500
    assert sum(bool(t["entities"]["urls"]) for t in tweets) > 50
    tags = {h["text"] for t in tweets for h in t["entities"]["hashtags"]}
    assert {"python", "data", "日本"} <= tags


def test_user_names_include_emoji_and_non_latin_script() -> None:
    names = {t["user"]["name"] for t in v1_tweets()}
    assert any(has_astral(name) for name in names)
    assert any(any("\u3040" <= c <= "\u9fff" for c in name) for name in names)  # kana, kanji
    assert any(any("\u0400" <= c <= "\u04ff" for c in name) for name in names)  # Cyrillic


def test_v2_sample_holds_every_kind_of_line() -> None:
    kinds: Counter[str] = Counter()
    for obj in fresh("v2"):
        data = obj["data"]
        if "delete" in data:
            kinds["delete"] += 1
            continue
        kinds.update(ref["type"] for ref in data.get("referenced_tweets", []))
        kinds["note_tweet"] += "note_tweet" in data
    kinds["duplicate"] = SAMPLE - len(fresh("v2"))
    assert kinds["retweeted"] > 200
    assert kinds["quoted"] > 80
    assert kinds["replied_to"] > 200
    assert kinds["note_tweet"] > 15
    assert kinds["delete"] > 15
    assert kinds["duplicate"] > 15


def test_v1_and_v2_shapes_carry_the_expected_keys() -> None:
    v1 = v1_tweets()[0]
    for key in ("created_at", "id", "id_str", "text", "truncated", "source", "user", "entities"):
        assert key in v1
    for key in ("lang", "timestamp_ms", "is_quote_status", "quote_count", "filter_level"):
        assert key in v1
    assert set(v1["entities"]) == {"hashtags", "user_mentions", "urls", "symbols"}
    v2 = v2_tweets()[0]
    assert set(v2) == {"data", "includes", "matching_rules"}
    for key in ("id", "text", "author_id", "created_at", "lang", "conversation_id"):
        assert isinstance(v2["data"][key], str)
    assert v2["includes"]["users"][0]["id"] == v2["data"]["author_id"]


def test_ids_are_19_digit_snowflakes_matching_their_timestamps() -> None:
    for tweet in v1_tweets():
        assert len(tweet["id_str"]) == 19
        assert str(tweet["id"]) == tweet["id_str"]
        assert (tweet["id"] >> 22) + 1_288_834_974_657 == int(tweet["timestamp_ms"])


def test_timestamps_start_at_a_fixed_epoch_not_the_wall_clock() -> None:
    first = v1_tweets()[0]
    assert first["created_at"].endswith("+0000 2026")
    created = datetime.strptime(first["created_at"], "%a %b %d %H:%M:%S %z %Y")
    assert created == datetime(2026, 1, 1, tzinfo=UTC)
    assert v2_tweets()[0]["data"]["created_at"].startswith("2026-01-01T00:00:00.")


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_ids_strictly_increase_among_fresh_tweet_lines(fmt: str) -> None:
    tweets = v1_tweets() if fmt == "v1" else [t["data"] for t in v2_tweets()]
    ids = [int(t["id"]) for t in tweets]
    assert all(a < b for a, b in pairwise(ids))


def test_every_embedded_original_is_older_than_its_tweet() -> None:
    def check(tweet: dict[str, Any]) -> None:
        for key in ("retweeted_status", "quoted_status"):
            if key in tweet:
                assert tweet[key]["id"] < tweet["id"]
                check(tweet[key])

    for tweet in v1_tweets():
        check(tweet)
    for obj in v2_tweets():
        for included in obj.get("includes", {}).get("tweets", []):
            assert int(included["id"]) < int(obj["data"]["id"])


def test_most_embedded_originals_appeared_earlier_and_some_predate_the_stream() -> None:
    seen: set[int] = set()
    earlier = older = 0
    for tweet in v1_tweets():
        for key in ("retweeted_status", "quoted_status"):
            if key in tweet:
                if tweet[key]["id"] in seen:
                    earlier += 1
                else:
                    older += 1
        seen.add(tweet["id"])
    assert earlier > 2 * older > 0


def test_replies_point_at_an_earlier_tweet_and_its_author() -> None:
    authors: dict[int, dict[str, Any]] = {}
    replies = 0
    for tweet in v1_tweets():
        parent = tweet["in_reply_to_status_id"]
        if parent is not None:
            replies += 1
            assert parent in authors
            assert tweet["in_reply_to_status_id_str"] == str(parent)
            assert tweet["in_reply_to_user_id"] == authors[parent]["id"]
            assert tweet["in_reply_to_screen_name"] == authors[parent]["screen_name"]
        authors[tweet["id"]] = tweet["user"]
    assert replies > 0


def test_deletes_name_an_earlier_tweet_and_its_author() -> None:
    authors: dict[int, int] = {}
    for obj in fresh("v1"):
        if "delete" in obj:
            status = obj["delete"]["status"]
            assert authors[status["id"]] == status["user_id"]
            assert status["id_str"] == str(status["id"])
            assert status["user_id_str"] == str(status["user_id"])
            assert obj["delete"]["timestamp_ms"].isdigit()
        else:
            authors[obj["id"]] = obj["user"]["id"]


def test_v2_deletes_use_the_compliance_shape() -> None:
    deletes = [obj["data"]["delete"] for obj in fresh("v2") if "delete" in obj["data"]]
    assert deletes
    for event in deletes:
        assert set(event["tweet"]) == {"id", "author_id"}
        assert event["event_at"].endswith("Z")


def test_duplicates_are_byte_identical_re_deliveries_of_tweets() -> None:
    counts = Counter(sample("v1"))
    duplicated = [line for line, n in counts.items() if n > 1]
    assert duplicated
    assert all(b'"delete"' not in line[:10] for line in duplicated)


def test_extended_v1_tweets_truncate_text_and_carry_the_full_text() -> None:
    extended = [t for t in v1_tweets() if t["truncated"]]
    assert extended
    for tweet in extended:
        full = tweet["extended_tweet"]["full_text"]
        assert len(full) > 140
        assert tweet["text"] == full[:139] + "…"
        assert tweet["extended_tweet"]["display_text_range"] == [0, len(full)]


def test_retweet_text_is_rt_prefix_and_the_clipped_original() -> None:
    for tweet in v1_tweets():
        original = tweet.get("retweeted_status")
        if original is not None:
            prefix = f"RT @{original['user']['screen_name']}: "
            assert tweet["text"] == prefix + original["text"]
            assert len(original["text"]) <= 140
            assert tweet["lang"] == original["lang"]


def test_quotes_embed_the_quoted_tweet() -> None:
    quotes = [t for t in v1_tweets() if t["is_quote_status"]]
    assert quotes
    for tweet in quotes:
        assert tweet["quoted_status_id"] == tweet["quoted_status"]["id"]
        assert tweet["quoted_status_id_str"] == str(tweet["quoted_status_id"])


def test_v1_entity_indices_point_at_their_text() -> None:
    def check(text: str, entities: dict[str, Any]) -> None:
        for tag in entities["hashtags"]:
            start, end = tag["indices"]
            assert text[start:end] == "#" + tag["text"]
        for mention in entities["user_mentions"]:
            start, end = mention["indices"]
            assert text[start:end] == "@" + mention["screen_name"]
        for url in entities["urls"]:
            start, end = url["indices"]
            assert text[start:end] == url["url"]

    for tweet in v1_tweets():
        check(tweet["text"], tweet["entities"])
        if "extended_tweet" in tweet:
            check(tweet["extended_tweet"]["full_text"], tweet["extended_tweet"]["entities"])


def test_v2_entity_offsets_point_at_their_text() -> None:
    def check(text: str, entities: dict[str, Any]) -> None:
        for tag in entities.get("hashtags", []):
            assert text[tag["start"] : tag["end"]] == "#" + tag["tag"]
        for mention in entities.get("mentions", []):
            assert text[mention["start"] : mention["end"]] == "@" + mention["username"]
        for url in entities.get("urls", []):
            assert text[url["start"] : url["end"]] == url["url"]

    for obj in v2_tweets():
        for tweet in [obj["data"], *obj["includes"].get("tweets", [])]:
            check(tweet["text"], tweet.get("entities", {}))
            if "note_tweet" in tweet:
                check(tweet["note_tweet"]["text"], tweet["note_tweet"].get("entities", {}))


def test_v2_long_tweets_carry_a_note_tweet_and_truncated_text() -> None:
    notes = [t["data"] for t in v2_tweets() if "note_tweet" in t["data"]]
    assert notes
    for data in notes:
        full = data["note_tweet"]["text"]
        assert len(full) > 280
        assert len(data["text"]) <= 280
        assert full.startswith(data["text"].removesuffix("…"))


def test_v2_includes_hold_the_author_and_the_referenced_tweets_and_their_authors() -> None:
    for obj in v2_tweets():
        data, includes = obj["data"], obj["includes"]
        user_ids = [user["id"] for user in includes["users"]]
        assert user_ids[0] == data["author_id"]
        assert len(user_ids) == len(set(user_ids))
        references = {ref["id"] for ref in data.get("referenced_tweets", [])}
        included = {tweet["id"]: tweet for tweet in includes.get("tweets", [])}
        assert set(included) == references
        assert all(tweet["author_id"] in user_ids for tweet in included.values())
        if any(ref["type"] == "replied_to" for ref in data.get("referenced_tweets", [])):
            assert data["in_reply_to_user_id"] in user_ids


def test_v2_retweet_text_is_rt_prefix_and_the_clipped_original() -> None:
    for obj in v2_tweets():
        data = obj["data"]
        if data.get("referenced_tweets", [{}])[0].get("type") == "retweeted":
            original = obj["includes"]["tweets"][0]
            author = next(u for u in obj["includes"]["users"] if u["id"] == original["author_id"])
            assert data["text"].startswith(f"RT @{author['username']}: ")


def test_matching_rules_are_one_or_two_of_three_fixed_rules() -> None:
    rules: set[tuple[str, str]] = set()
    for obj in v2_tweets():
        matched = obj["matching_rules"]
        assert 1 <= len(matched) <= 2
        for rule in matched:
            assert len(rule["id"]) == 19 and rule["id"].isdigit()
            rules.add((rule["id"], rule["tag"]))
    assert len(rules) == 3


@pytest.mark.parametrize(("fmt", "separator"), [("v1", b"\r\n"), ("v2", b"\n")])
def test_write_ends_every_line_with_the_formats_separator(fmt: str, separator: bytes) -> None:
    out = io.BytesIO()
    assert write(out, 300, fmt, seed=3) == 300
    data = out.getvalue()
    assert data.endswith(separator)
    assert data.count(b"\n") == 300
    assert data.count(b"\r\n") == (300 if fmt == "v1" else 0)
    lines = data[: -len(separator)].split(separator)
    assert lines == list(generate(300, fmt, seed=3))


def test_write_to_a_plain_path(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    assert write(str(path), 50, "v2") == 50
    assert path.read_bytes() == b"".join(line + b"\n" for line in generate(50, "v2"))


def test_gz_output_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "stream.json.gz"
    assert write(path, 1_500, "v1", seed=5) == 1_500
    with gzip.open(path, "rb") as f:
        data = f.read()
    assert data == b"".join(line + b"\r\n" for line in generate(1_500, "v1", seed=5))


def test_gz_output_is_reproducible(tmp_path: Path) -> None:
    # Same file name in two folders, since the gzip header records the name.
    first, second = tmp_path / "a" / "s.gz", tmp_path / "b" / "s.gz"
    for path in (first, second):
        path.parent.mkdir()
        write(path, 100)
    assert first.read_bytes() == second.read_bytes()


def test_zero_count_writes_nothing() -> None:
    out = io.BytesIO()
    assert write(out, 0) == 0
    assert out.getvalue() == b""
    assert list(generate(0)) == []


def test_unknown_format_raises_value_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(10, "v3")
    with pytest.raises(ValueError):
        write(io.BytesIO(), 10, "json")
    with pytest.raises(ValueError):
        write(tmp_path / "never.jsonl", 10, "v3")
    assert not (tmp_path / "never.jsonl").exists()


def test_negative_count_raises_value_error() -> None:
    with pytest.raises(ValueError):
        generate(-1)
    with pytest.raises(ValueError):
        write(io.BytesIO(), -5)
