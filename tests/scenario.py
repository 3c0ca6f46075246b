"""The feeds scenario several test folders share: a small follow graph and a replayed stream
through ``tweetfeed listen`` and a real Celery worker."""

from __future__ import annotations

from typing import Any

from pipeline.bus.client import Client
from tests.conftest import Pipeline
from tests.factories import line, v1_entities, v1_retweet, v1_tweet, v2_line
from tests.helpers import tweetfeed

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC; every tweet below is on that day
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def stream() -> list[bytes]:
    """Bob tweets #Python, Carol mentions Alice, Carol and Dave retweet Bob, Bob's v2 tweet
    matches filter term 9, Alice replies to Carol."""
    t101 = v1_tweet(101, "hello #Python", BOB, timestamp_ms=T0 + 1000,
                    entities=v1_entities(("Python",)))  # fmt: skip
    t102 = v1_tweet(102, "hi @user1", CAROL, timestamp_ms=T0 + 2000,
                    entities=v1_entities(mentions=(ALICE,)))  # fmt: skip
    t106 = v1_tweet(106, "@user3 indeed", ALICE, timestamp_ms=T0 + 6000,
                    in_reply_to_status_id_str="102",
                    entities=v1_entities(mentions=(CAROL,)))  # fmt: skip
    return [
        line(t101),
        line(t102),
        line(v1_retweet(103, t101, CAROL, T0 + 3000)),
        line(v1_retweet(104, t101, DAVE, T0 + 4000)),
        v2_line(105, BOB, "streams are fun", T0 + 5000, terms=(9,)),
        line(t106),
    ]


def listen(p: Pipeline, lines: list[bytes]) -> None:
    result = tweetfeed("listen", "--from-file", "-", env=p.env, stdin=b"\n".join(lines))
    assert result.returncode == 0, result.stderr.decode()
    p.wait_settled()


def send(p: Pipeline, name: str, **payload: Any) -> None:
    with Client(p.redis_url) as client:
        client.send(name, **payload)
    p.wait_settled()


def follow_many(p: Pipeline, pairs: list[tuple[str, str]], **extra: Any) -> None:
    follows = [{"feed": f, "target": t} for f, t in pairs]
    send(p, "tweetfeed.follow_many", follows=follows, **extra)


def graph_and_stream(p: Pipeline) -> None:
    follow_many(p, [
        ("timeline:1", "user:2"), ("timeline:1", "user:3"),
        ("timeline_aggregated:1", "user:2"), ("timeline_aggregated:1", "user:3"),
        ("timeline:4", "hashtag:python"),
    ])  # fmt: skip
    listen(p, stream())
