"""Ids that no BIGINT column can hold are dead-lettered by the parser, never sent to a database."""

from __future__ import annotations

from sqlalchemy import select

from models import DeadLetter, Tweet, TweetMention, TwitterUser
from pipeline.ingest.parse import parse_lines
from pipeline.ingest.tweets import store_batch
from tests.conftest import Database
from tests.factories import line, v1_delete, v1_entities, v1_tweet


def test_ids_out_of_the_signed_64_bit_range_are_dead_letters_and_the_rest_is_stored(
    db: Database,
) -> None:
    too_big = line(v1_tweet(2**63 - 1, id_str=str(2**63)))
    negative_author = line(v1_tweet(801, user_id=-4))
    big_mention = line(v1_tweet(802, entities=v1_entities(mentions=(2**64 - 1,))))
    largest = 2**63 - 1
    lines = [too_big, negative_author, big_mention, line(v1_tweet(largest)), v1_delete(803)]
    with db.sessions.begin() as session:
        store_batch(session, parse_lines(lines, False), "test")
    with db.sessions() as session:
        assert set(session.scalars(select(Tweet.id))) == {largest}
        assert set(session.scalars(select(TwitterUser.id))) == {7}
        assert not session.scalars(select(TweetMention.user_id)).all()
        letters = session.execute(select(DeadLetter.reason, DeadLetter.payload)).all()
    assert sorted(payload for _, payload in letters) == sorted(lines[:3])
    for reason, _ in letters:
        assert reason.startswith("wrong shape: ") and "out of range" in reason
