"""The storage half of ingest, on PostgreSQL, MariaDB and SQLite (no Celery involved)."""

from __future__ import annotations

import threading

import orjson
import pytest
from sqlalchemy import func, select

from models import DeadLetter, Tweet, TweetHashtag, TweetMention, TwitterUser
from pipeline.ingest import raw
from pipeline.ingest.parse import parse_lines
from pipeline.ingest.parse.records import ParsedBatch
from pipeline.ingest.tweets import IngestResult, enforce_deletions, store_batch
from tests.conftest import Database
from tests.factories import line, v1_delete, v1_tweet
from tests.helpers import expected_ids, json_lines, real_fixture

FIXTURES = [
    "v1_stream_python-twitter_lines.jsonl",
    "v1_original_format_tweet_parser_examples.jsonl",
    "v2_stream_twarc-csv_streaming_output.jsonl",
    "v2_stream_twarc-csv_streaming_output_with_error.jsonl",
    "v2_search_pages_twarc-csv_2sets.jsonl",
]


def ingest(db: Database, lines: list[bytes], capture: bool = False) -> list[int]:
    batch = parse_lines(lines, capture)
    with db.sessions.begin() as session:
        result = store_batch(session, batch, "test")
    with db.sessions.begin() as session:
        removed = set(enforce_deletions(session, result.recheck_ids))
    return [i for i in result.new_ids if i not in removed]


def stored_ids(db: Database) -> set[int]:
    with db.sessions() as session:
        return set(session.scalars(select(Tweet.id)))


def count(db: Database, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def fixture_lines(name: str) -> list[bytes]:
    return [x for x in real_fixture(name).read_bytes().split(b"\n") if x]


@pytest.mark.parametrize("capture", [False, True])
@pytest.mark.parametrize("name", FIXTURES)
def test_exactly_the_unique_ids_of_a_real_capture_are_stored(
    db: Database, name: str, capture: bool
) -> None:
    new = ingest(db, fixture_lines(name), capture)
    assert stored_ids(db) == expected_ids(real_fixture(name), capture)
    assert sorted(new) == sorted(stored_ids(db))


def test_running_the_same_batch_twice_adds_no_rows(db: Database) -> None:
    lines = fixture_lines(FIXTURES[0]) + fixture_lines(FIXTURES[3])
    first = ingest(db, lines, capture=True)
    tables = (Tweet, TwitterUser, TweetHashtag, TweetMention, DeadLetter)
    before = {m.__name__: count(db, m) for m in tables}
    second = ingest(db, lines, capture=True)
    assert first and second == []
    assert {m.__name__: count(db, m) for m in tables} == before


def test_text_with_four_byte_emoji_round_trips_byte_for_byte(db: Database) -> None:
    name = FIXTURES[0]
    ingest(db, fixture_lines(name))
    wanted = {
        int(m["id_str"]): m.get("extended_tweet", {}).get("full_text") or m["text"]
        for m in json_lines(real_fixture(name))
    }
    with db.sessions() as session:
        got = dict(session.execute(select(Tweet.id, Tweet.text)).all())
    emoji = [i for i, text in wanted.items() if any(ord(ch) > 0xFFFF for ch in text)]
    assert emoji
    for tweet_id in emoji:
        assert got[tweet_id].encode("utf-8") == wanted[tweet_id].encode("utf-8")


def test_the_raw_payload_is_kept_exactly_and_retrievable_by_id(db: Database) -> None:
    lines = fixture_lines(FIXTURES[2])
    ingest(db, lines)
    first_id = int(orjson.loads(lines[0])["data"]["id"])
    with db.sessions() as session:
        stored = session.scalar(select(Tweet.raw).where(Tweet.id == first_id))
    assert stored is not None and raw.decode(stored) == lines[0]


def test_a_delete_removes_a_stored_tweet_and_its_hashtags_and_mentions(db: Database) -> None:
    entities = {"hashtags": [{"text": "Py"}], "user_mentions": [{"id": 3, "id_str": "3"}]}
    ingest(db, [line(v1_tweet(100, entities=entities)), line(v1_tweet(101))])
    assert count(db, TweetHashtag) == 1 and count(db, TweetMention) == 1
    ingest(db, [v1_delete(100)])
    assert stored_ids(db) == {101}
    assert count(db, TweetHashtag) == 0 and count(db, TweetMention) == 0


def test_a_delete_that_arrives_before_its_tweet_still_wins(db: Database) -> None:
    ingest(db, [v1_delete(200)])
    assert ingest(db, [line(v1_tweet(200)), line(v1_tweet(201))]) == [201]
    assert stored_ids(db) == {201}


def test_a_delete_in_the_same_batch_as_its_tweet_wins_whatever_the_order(db: Database) -> None:
    ingest(db, [line(v1_tweet(300)), v1_delete(300), v1_delete(301), line(v1_tweet(301))])
    assert stored_ids(db) == set()


def test_a_delete_racing_its_tweet_in_another_transaction_still_wins(db: Database) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time, so these transactions cannot overlap")
    tweet, delete = parse_lines([line(v1_tweet(400))], False), parse_lines([v1_delete(400)], False)
    deleted: list[IngestResult] = []

    def delete_side() -> None:
        with db.sessions.begin() as session:
            deleted.append(store_batch(session, delete, "b"))

    with db.sessions() as inserting:
        inserting.begin()
        inserted = store_batch(inserting, tweet, "a")
        # PostgreSQL lets the delete commit without seeing the uncommitted tweet; InnoDB makes
        # it wait for the tweet's row lock. Either way the checks after commit must settle it.
        other = threading.Thread(target=delete_side)
        other.start()
        other.join(timeout=1)
        inserting.commit()
    other.join(timeout=30)
    assert inserted.new_ids == [400] and deleted
    for result in (deleted[0], inserted):
        with db.sessions.begin() as session:
            enforce_deletions(session, result.recheck_ids)
    assert stored_ids(db) == set()


def test_a_newer_profile_replaces_an_older_one_and_not_the_reverse(db: Database) -> None:
    newer = v1_tweet(500, user_id=9, name="New", timestamp_ms=1600000000000)
    older = v1_tweet(501, user_id=9, name="Old", timestamp_ms=1500000000000)
    ingest(db, [line(newer)])
    ingest(db, [line(older)])
    with db.sessions() as session:
        assert session.scalar(select(TwitterUser.name).where(TwitterUser.id == 9)) == "New"
    ingest(db, [line(v1_tweet(502, user_id=9, name="Newest", timestamp_ms=1700000000000))])
    with db.sessions() as session:
        assert session.scalar(select(TwitterUser.name).where(TwitterUser.id == 9)) == "Newest"


def test_bad_records_are_dead_lettered_once_and_good_ones_in_the_batch_are_stored(
    db: Database,
) -> None:
    lines = [
        line(v1_tweet(600)),
        b'{"id": 601, "text": ',
        b"\xff\xfe[]",
        b"[1]",
        line(v1_tweet(602)),
    ]
    ingest(db, lines)
    ingest(db, lines)
    assert stored_ids(db) == {600, 602}
    with db.sessions() as session:
        letters = session.execute(select(DeadLetter.reason, DeadLetter.payload)).all()
    assert sorted((r.split(":")[0], p) for r, p in letters) == sorted(
        [("invalid JSON", lines[1]), ("invalid UTF-8", lines[2]), ("wrong shape", lines[3])]
    )


def test_hashtags_are_stored_once_per_tweet_whatever_their_case(db: Database) -> None:
    tags = [{"text": t} for t in ("Python", "python", "café", "CAFÉ", "日本")]
    ingest(db, [line(v1_tweet(700, entities={"hashtags": tags, "user_mentions": []}))])
    with db.sessions() as session:
        got = set(session.scalars(select(TweetHashtag.tag)))
    assert got == {"python", "café", "日本"}


def test_an_empty_batch_stores_nothing(db: Database) -> None:
    with db.sessions.begin() as session:
        result = store_batch(session, ParsedBatch(), "test")
    assert result.new_ids == [] and count(db, Tweet) == 0
