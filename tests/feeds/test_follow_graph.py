"""Reading the follow graph: every follower of every target, sorted, on each dialect."""

from __future__ import annotations

from sqlalchemy import insert

from models import Follow
from pipeline.feeds import follows
from tests.conftest import Database


def test_followers_come_back_whole_and_sorted_for_many_targets(db: Database) -> None:
    pairs = [(f"timeline:{n}", f"user:{n % 7}") for n in range(3000)]
    with db.sessions.begin() as session:
        follows.add(session, pairs)
    with db.sessions() as session:
        graph = follows.followers(session, [f"user:{t}" for t in range(9)])
    expected: dict[str, list[str]] = {}
    for feed, target in pairs:
        expected.setdefault(target, []).append(feed)
    assert graph == {target: sorted(feeds) for target, feeds in expected.items()}


def test_a_feed_name_holding_the_separator_is_still_read_exactly(db: Database) -> None:
    # No name that the tasks accept holds a space, but a row written by hand may.
    odd = ["timeline:a", "timeline:b c", "timeline:d"]
    with db.sessions.begin() as session:
        session.execute(insert(Follow), [{"feed": f, "target": "user:1"} for f in odd])
    with db.sessions() as session:
        assert follows.followers(session, ["user:1", "user:2"]) == {"user:1": odd}
