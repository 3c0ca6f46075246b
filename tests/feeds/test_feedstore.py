"""One contract for every feed backend: Redis sorted sets and SQL ``feed_items`` alike.

The SQL backend runs on each database; the Redis backend beside each of them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot
from redis.exceptions import ResponseError

from pipeline.feeds.ids import CLUSTER_BUCKETS, cluster_key, cluster_slot
from pipeline.feeds.storage import packed
from pipeline.feeds.storage.base import FeedStore, Item
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.redis_cluster import ClusterFeedStore
from pipeline.feeds.storage.sql import TRIM_MIN, SqlFeedStore
from pipeline.store.redis_client import is_cluster
from tests import cluster
from tests.conftest import Database, feed_key

MAX = 5


def max_length(feed: str) -> int:
    return MAX if feed.startswith("small:") else 1000


@pytest.fixture(params=["redis", "sql", "cluster"])
def store(request: pytest.FixtureRequest, db: Database, redis_client: Any) -> Iterator[FeedStore]:
    if request.param == "redis":
        yield RedisFeedStore(redis_client, max_length)
        return
    if request.param == "cluster":
        yield ClusterFeedStore(request.getfixturevalue("cluster_client"), max_length)
        return
    with db.sessions() as session:
        yield SqlFeedStore(session, max_length)
        session.rollback()


def ids(items: list[Item]) -> list[int]:
    return [i.activity_id for i in items]


def test_items_come_newest_first_and_equal_scores_order_by_activity_id(store: FeedStore) -> None:
    store.add([("user:1", Item(100, 9)), ("user:1", Item(100, 10)), ("user:1", Item(50, 11))])
    store.add([("user:1", Item(200, 2))])
    assert ids(store.page("user:1", 10)) == [2, 10, 9, 11]
    assert store.page("user:1", 1)[0] == Item(200, 2)


def test_adding_an_item_again_changes_nothing(store: FeedStore) -> None:
    entries = [("user:1", Item(100, 1)), ("user:2", Item(100, 1))]
    store.add(entries)
    store.add(entries)
    assert store.count("user:1") == store.count("user:2") == 1


def test_a_feed_never_shows_more_than_its_max_length(store: FeedStore) -> None:
    store.add([("small:1", Item(t, t)) for t in range(1, 3 * TRIM_MIN)])
    newest = list(range(3 * TRIM_MIN - 1, 3 * TRIM_MIN - 1 - MAX, -1))
    assert ids(store.page("small:1", 100)) == newest
    assert store.count("small:1") == MAX
    assert store.oldest("small:1") == Item(newest[-1], newest[-1])
    assert ids(store.page("small:1", 100, before=Item(newest[-2], newest[-2]))) == newest[-1:]


def test_offset_pages_follow_one_another(store: FeedStore) -> None:
    store.add([("user:1", Item(t, t)) for t in range(1, 11)])
    assert ids(store.page("user:1", 3, offset=3)) == [7, 6, 5]
    assert ids(store.page("user:1", 3, offset=9)) == [1]
    assert store.page("user:1", 3, offset=10) == []


def test_cursor_pages_are_exact_across_equal_scores(store: FeedStore) -> None:
    store.add([("user:1", Item(100 if n < 7 else n * 100, n)) for n in range(1, 11)])
    everything = store.page("user:1", 100)
    assert ids(everything) == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    cursor = Item(100, 5)
    assert ids(store.page("user:1", 3, before=cursor)) == [4, 3, 2]
    assert ids(store.page("user:1", 3, before=cursor, offset=2)) == [2, 1]
    assert ids(store.page("user:1", 3, after=cursor)) == [8, 7, 6]
    assert ids(store.page("user:1", 10, after=cursor)) == [10, 9, 8, 7, 6]


def test_a_cursor_that_left_the_feed_still_pages_from_its_place(store: FeedStore) -> None:
    store.add([("user:1", Item(100, n)) for n in (1, 2, 4, 5)])
    gone = Item(100, 3)
    assert ids(store.page("user:1", 5, before=gone)) == [2, 1]
    assert ids(store.page("user:1", 5, after=gone)) == [5, 4]


def test_removed_items_leave_only_their_own_feed(store: FeedStore) -> None:
    store.add([(f, Item(t, t)) for f in ("user:1", "timeline:2") for t in (1, 2, 3)])
    store.remove([("user:1", 2), ("user:1", 99), ("timeline:2", 3)])
    assert ids(store.page("user:1", 10)) == [3, 1]
    assert ids(store.page("timeline:2", 10)) == [2, 1]
    assert store.score("user:1", 3) == 3
    assert store.score("user:1", 2) is None


def test_a_feed_exists_only_while_it_holds_items(store: FeedStore) -> None:
    assert not store.exists("user:1")
    assert store.oldest("user:1") is None
    assert store.page("user:1", 10) == []
    store.add([("user:1", Item(1, 1))])
    assert store.exists("user:1")
    store.remove([("user:1", 1)])
    assert not store.exists("user:1")


def test_replace_makes_a_feed_hold_exactly_the_given_items(store: FeedStore) -> None:
    store.add([("small:1", Item(t, t)) for t in (1, 2)])
    store.replace("small:1", [Item(t, t) for t in range(10, 20)])
    assert ids(store.page("small:1", 100)) == [19, 18, 17, 16, 15]
    store.replace("small:1", [])
    assert not store.exists("small:1")


def test_one_write_lands_items_bound_for_many_feeds_and_for_few(store: FeedStore) -> None:
    """The Redis store writes an item bound for many feeds by calls of its own and gathers the
    rest into shared calls; every item must land where it was sent, capped feeds trimmed."""
    wide = [(f"timeline:{n}", Item(50, 5)) for n in range(40)]
    narrow = [("user:1", Item(10 + n, n)) for n in range(1, 4)] + [("small:1", Item(60, 6))]
    capped = [("small:1", Item(t, 100 + t)) for t in range(1, 8)]
    store.add(wide + narrow + capped + [("timeline:3", Item(70, 7))])
    assert all(ids(store.page(f"timeline:{n}", 10)) == [5] for n in range(40) if n != 3)
    assert ids(store.page("timeline:3", 10)) == [7, 5]
    assert ids(store.page("user:1", 10)) == [3, 2, 1]
    assert ids(store.page("small:1", 100)) == [6, 107, 106, 105, 104]


def test_scores_in_milliseconds_stay_exact(store: FeedStore) -> None:
    big = 2**53 - 1
    store.add([("user:1", Item(big, 1)), ("user:1", Item(big - 1, 2))])
    assert store.page("user:1", 10) == [Item(big, 1), Item(big - 1, 2)]
    assert store.score("user:1", 1) == big


def test_a_redis_that_forgot_the_write_script_is_taught_it_again(feeds_redis: Any) -> None:
    """Writes send the script by its hash; a restarted or flushed server answers NOSCRIPT to
    every call of the batch, and the batch is sent again once the script is loaded (on a
    cluster, on each master that refused)."""
    kind = ClusterFeedStore if is_cluster(feeds_redis) else RedisFeedStore
    store = kind(feeds_redis, max_length)
    store.add([("user:1", Item(1, 1))])
    feeds_redis.script_flush()
    store.add([(f"user:{n}", Item(2, 2)) for n in range(1, 2500)])  # one trip a server
    assert ids(store.page("user:1", 10)) == [2, 1]
    assert feeds_redis.zcard(feed_key(feeds_redis, "user:2499")) == 1
    with pytest.raises(Exception, match="WRONGTYPE"):
        feeds_redis.set(feed_key(feeds_redis, "user:7"), "not a feed")
        store.add([("user:7", Item(3, 3))])
    assert ids(store.page("user:1", 10)) == [2, 1], "the connection answers in step after it"


def test_on_a_cluster_a_write_follows_a_slot_that_moved(cluster_client: Any) -> None:
    """A client whose map of the slots is stale is answered MOVED: it reads the map again and
    sends those calls again, and the items land on the master that holds the slot now."""
    store = ClusterFeedStore(cluster_client, max_length)
    feeds = [f"user:{n}" for n in range(50)]
    store.add([(feed, Item(1, 1)) for feed in feeds])
    key = cluster_key("user:0")
    slot = cluster_client.keyslot(key)
    now = cluster_client.nodes_manager.get_node_from_slot(slot)
    there = next(n for n in cluster_client.get_primaries() if n.name != now.name)
    cluster.move_slot(cluster_client, slot, there)
    assert cluster_client.nodes_manager.get_node_from_slot(slot).name == now.name, "stale map"
    store.add([(feed, Item(2, 2)) for feed in feeds])
    assert all(ids(store.page(feed, 10)) == [2, 1] for feed in feeds)
    assert there.redis_connection.zcard(key) == 2
    assert now.redis_connection.execute_command("CLUSTER COUNTKEYSINSLOT", slot) == 0


def test_an_activity_removed_while_its_write_is_on_the_way_stays_out(feeds_redis: Any) -> None:
    """However a write and a removal of its activity interleave, the activity is in no feed at
    the end. One server: the write script reads the removal record. A cluster: the record is
    read before the write and again after it, and a removal records before it takes out."""
    kind = ClusterFeedStore if is_cluster(feeds_redis) else RedisFeedStore
    store, remover = (kind(feeds_redis, max_length) for _ in range(2))
    feeds = [f"timeline:{n}" for n in range(30)]
    rounds = 150
    start = threading.Barrier(2)

    def write() -> None:
        for n in range(1, rounds + 1):
            start.wait()
            store.write_one(feeds, Item(n, n), time.time())

    def remove() -> None:
        for n in range(1, rounds + 1):
            start.wait()
            time.sleep(random.random() / 2000)
            remover.remove([(feed, n) for feed in feeds], [n])

    threads = [threading.Thread(target=write), threading.Thread(target=remove)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    left = {feed: ids(store.page(feed, rounds)) for feed in feeds}
    assert left == {feed: [] for feed in feeds}


def test_packed_commands_answer_in_order_and_raise_the_first_error(redis_client: Any) -> None:
    keys = [f"k:{n}" for n in range(3000)]
    redis_client.mset(dict.fromkeys(keys, 1))
    replies = packed.commands(redis_client, [("MULTI",), ("INCR", "epoch"), ("DEL", *keys),
                                             ("EXEC",)])  # fmt: skip
    assert replies[-1] == [1, 3000] and redis_client.dbsize() == 1
    redis_client.set("text", "x")
    with pytest.raises(ResponseError, match="not an integer"):
        packed.commands(redis_client, [("INCR", "text"), ("INCR", "epoch")])
    assert redis_client.get("epoch") == b"2", "every command of the trip ran"
    assert redis_client.ping(), "the connection answers in step after it"


def test_a_cluster_feed_key_names_one_of_the_buckets_and_its_slot_is_read_off_the_tag() -> None:
    feeds = [f"timeline:{n}" for n in range(20_000)] + ["user:x-y_z", "notification:7"]
    keys = [cluster_key(feed) for feed in feeds]
    assert all(key.endswith(":" + feed) for key, feed in zip(keys, feeds, strict=True))
    assert [cluster_slot(k) for k in keys] == [key_slot(k.encode()) for k in keys]
    assert len({cluster_slot(k) for k in keys}) == CLUSTER_BUCKETS, "every bucket in use"
