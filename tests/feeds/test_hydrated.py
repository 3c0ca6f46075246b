"""The hydrated cache on real Redis and each SQL database, through the real ingest service: a
cached page costs no SQL and is byte for byte the uncached one; deletes and newer profiles show
at once; a value read before a commit is never cached after it; a lost feed is rebuilt."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from pipeline.feeds import ids
from pipeline.feeds.hydrated import HydratedCache
from pipeline.feeds.read import FlatFeed
from pipeline.feeds.storage import copies
from pipeline.ingest import parked
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.service import ingest
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from tests.conftest import Database, feed_key
from tests.factories import line, v1_delete, v1_entities, v1_retweet, v1_tweet
from tests.helpers import Died, DiesAfterCommit, statements

T0 = 1_700_000_000_000
FEED = "hashtag:py"


class NoSends:
    def send(self, name: str, kwargs: dict[str, Any], queue: str | None = None) -> str:
        pytest.fail("nothing may be sent")


def runtime(db: Database, redis: Any, **overrides: Any) -> Runtime:
    return Runtime(db.sessions, redis, replace(Settings(), **overrides), sender=NoSends())


def stored(rt: Runtime, *lines: bytes) -> None:
    assert ingest(rt, IngestRequest.parse({"lines": [x.decode() for x in lines], "source": "t"}))


def tagged(tweet_id: int, user: int, ms: int, **extra: Any) -> bytes:
    text = f"tweet {tweet_id} #py"
    return line(v1_tweet(tweet_id, text, user, timestamp_ms=ms,
                         entities=v1_entities(tags=("py",)), **extra))  # fmt: skip


def page(rt: Runtime, limit: int = 25, **cursor: int) -> bytes:
    return FlatFeed(FEED, rt).read_page(limit, **cursor).json()


def test_a_cached_page_reads_no_sql_and_is_the_uncached_page(
    db: Database, feeds_redis: Any
) -> None:
    rt, plain = runtime(db, feeds_redis), runtime(db, feeds_redis, read_cache_seconds=0)
    stored(rt, *(tagged(100 + n, 7 + n % 3, T0 + n * 1000) for n in range(8)))
    first = page(rt)
    with statements(db.engine) as seen:
        again = page(rt)
        older = page(rt, 3, before=FlatFeed(FEED, rt)[2].id)
        newer = page(rt, 2, after=FlatFeed(FEED, rt)[5].id)
    assert seen == [], "a page the cache holds reads no SQL"
    assert first == again == page(plain)
    assert older == page(plain, 3, before=FlatFeed(FEED, plain)[2].id)
    assert newer == page(plain, 2, after=FlatFeed(FEED, plain)[5].id)
    assert [a.object for a in FlatFeed(FEED, rt)[:2]] == ["tweet:107", "tweet:106"]
    assert FlatFeed(FEED, rt)[0].actor_data["screen_name"] == "user8"


def test_a_deleted_tweet_never_shows_even_while_its_feed_item_lingers(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    original = v1_tweet(101, "first #py", 7, timestamp_ms=T0, entities=v1_entities(tags=("py",)))
    retweet = v1_retweet(102, original, 8, T0 + 1000)
    stored(rt, line(original), line(retweet))
    before = FlatFeed("user:8", rt)[:]
    assert before[0].object_data["text"] == "first #py", "the retweet shows its original"
    gone = FlatFeed(FEED, rt)[-1]
    assert (gone.verb, gone.object) == ("tweet", "tweet:101")
    stored(rt, v1_delete(101))
    # As if the feed write were not undone yet: the item is back in Redis.
    feeds_redis.zadd(feed_key(feeds_redis, FEED), {ids.member(gone.id): gone.score})
    assert [a.verb for a in FlatFeed(FEED, rt)[:]] == ["retweet"]
    assert b'"foreign_id":"tweet:101"' not in page(rt)
    (retweeted,) = FlatFeed("user:8", rt)[:]
    assert retweeted.object == "tweet:101" and retweeted.object_data is None


def test_a_newer_profile_shows_at_once(db: Database, feeds_redis: Any) -> None:
    rt = runtime(db, feeds_redis)
    stored(rt, tagged(101, 7, T0, name="Old Name"))
    assert FlatFeed(FEED, rt)[0].actor_data["name"] == "Old Name"
    stored(rt, tagged(102, 7, T0 + 1000, name="New Name"))
    assert [a.actor_data["name"] for a in FlatFeed(FEED, rt)[:]] == ["New Name", "New Name"]
    assert page(rt).count(b'"New Name"') == 2


def test_a_value_read_before_a_commit_is_never_cached_after_it(feeds_redis: Any) -> None:
    cache = HydratedCache(feeds_redis, 60)
    seen = cache.lookup([]).epochs["user"]
    cache.forget("pre", ["user"], ["o:user:7"])
    cache.fill([("o:user:7", "user", seen, b'"stale"')])
    assert cache.objects(["user:7"]) == {"user:7": None}, "held while the transaction is open"
    cache.forget("post", ["user"], ["o:user:7"])
    cache.fill([("o:user:7", "user", seen, b'"stale"')])
    assert cache.objects(["user:7"]) == {"user:7": None}, "read before the commit"
    fresh = cache.lookup([]).epochs["user"]
    cache.fill([("o:user:7", "user", fresh, b'"new"')])
    assert cache.objects(["user:7"]) == {"user:7": b'"new"'}
    assert not list(feeds_redis.scan_iter("{tweetfeed}:hyd:h:*")), "every hold released"


def test_a_feed_redis_lost_is_rebuilt_on_read_and_served_cached(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    stored(rt, *(tagged(100 + n, 7, T0 + n * 1000) for n in range(3)))
    first = page(rt)
    feeds_redis.delete(feed_key(feeds_redis, FEED))
    assert page(rt) == first
    assert feeds_redis.zcard(feed_key(feeds_redis, FEED)) == 3
    feeds_redis.flushdb()
    assert page(rt) == first, "a cold cache and a lost feed"


def test_a_feed_redis_lost_and_writes_made_again_is_rebuilt_whole(
    db: Database, feeds_redis: Any
) -> None:
    """Redis loses everything mid-ingest; the next batches write the feed's key again, holding
    only them. A read must still see the whole feed, as SQL has it."""
    rt, sql = runtime(db, feeds_redis), runtime(db, feeds_redis, feed_backend="sql")
    stored(rt, *(tagged(100 + n, 7, T0 + n * 1000) for n in range(3)))
    assert page(rt) == page(sql)
    feeds_redis.flushdb()
    stored(rt, *(tagged(200 + n, 7, T0 + 10_000 + n * 1000) for n in range(2)))
    assert feeds_redis.zcard(feed_key(feeds_redis, FEED)) == 2, "the writes made the key again"
    assert page(rt) == page(sql)
    assert feeds_redis.zcard(feed_key(feeds_redis, FEED)) == 5


def test_a_write_that_lands_while_a_first_read_copies_the_feed_stays_in_it(
    db: Database, feeds_redis: Any
) -> None:
    """A feed's first read in a Redis's life copies it from SQL; a tweet that commits and is
    written to Redis after that read's SQL query must not be dropped by the copy, nor a tweet
    deleted meanwhile put back."""
    rt, sql = runtime(db, feeds_redis), runtime(db, feeds_redis, feed_backend="sql")
    stored(rt, *(tagged(100 + n, 7, T0 + n * 1000) for n in range(3)))
    feeds_redis.flushdb()
    with rt.sessions() as session:
        before = copies.sql(rt, session).all_items(FEED)  # the first read's SQL query
    stored(rt, tagged(200, 7, T0 + 10_000))  # commits, and reaches Redis, meanwhile
    stored(rt, v1_delete(101))  # and so does a delete
    cache = copies.cache(rt)
    assert cache is not None
    cache.fill(FEED, before)  # the first read's copy lands after it
    assert cache.whole(FEED)
    assert feeds_redis.zcard(feed_key(feeds_redis, FEED)) == 3
    assert page(rt) == page(sql)


def test_the_sql_backend_reads_the_same_page(db: Database, feeds_redis: Any) -> None:
    rt = runtime(db, feeds_redis)
    stored(rt, *(tagged(100 + n, 7, T0 + n * 1000) for n in range(3)))
    assert page(runtime(db, feeds_redis, feed_backend="sql")) == page(rt)


def test_a_reference_to_nothing_stored_is_cached_until_the_object_arrives(
    db: Database, feeds_redis: Any
) -> None:
    rt, plain = runtime(db, feeds_redis), runtime(db, feeds_redis, read_cache_seconds=0)
    original = v1_tweet(300, "the original", 9, timestamp_ms=T0)
    stored(rt, line(v1_retweet(301, original, 8, T0 + 1000)))

    def retweets(runtime_: Runtime) -> bytes:
        return FlatFeed("user:8", runtime_).read_page(25).json()

    first = retweets(rt)
    assert b'"object_data":null' in first, "the original is not stored"
    assert first == retweets(plain)
    with statements(db.engine) as seen:
        assert retweets(rt) == first
    assert seen == [], "the missing original is cached as missing: no SQL"
    (shown,) = FlatFeed("user:8", rt)[:]
    assert shown.object_data is None
    assert shown.foreign_data["text"] == "RT @user9: the original", "the retweet's own tweet"
    stored(rt, line(original))
    after = retweets(rt)
    assert after == retweets(plain) and after != first, "storing the original shows it at once"
    (shown,) = FlatFeed("user:8", rt)[:]
    assert shown.object_data["text"] == "the original"
    assert shown.foreign_data["id"] == "301", "the retweet's own tweet is still there"


def test_a_batch_whose_worker_died_after_its_commit_refreshes_the_cache_when_it_runs_again(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    original = v1_tweet(300, "the original", 9, timestamp_ms=T0)
    stored(rt, line(v1_retweet(301, original, 8, T0 + 1000)))
    assert b'"object_data":null' in FlatFeed("user:8", rt).read_page(25).json(), "cached as null"
    request = IngestRequest.parse({"batch": parked.park(feeds_redis, [line(original)]),
                                   "source": "t"})  # fmt: skip
    dying = DiesAfterCommit(db.sessions, feeds_redis, Settings(), sender=NoSends(), die_at=1)
    with pytest.raises(Died):
        ingest(dying, request, attempt="first")
    ingest(rt, request, attempt="again")  # the task delivered again: the original is stored
    (shown,) = FlatFeed("user:8", rt)[:]
    assert shown.object_data is not None and shown.object_data["text"] == "the original"
    plain = runtime(db, feeds_redis, read_cache_seconds=0)
    assert (
        FlatFeed("user:8", rt).read_page(25).json()
        == FlatFeed("user:8", plain).read_page(25).json()
    )


def test_only_a_retweet_has_its_own_tweet_as_foreign_data(db: Database, feeds_redis: Any) -> None:
    rt = runtime(db, feeds_redis)
    original = v1_tweet(300, "the original #py", 9, timestamp_ms=T0,
                        entities=v1_entities(tags=("py",)))  # fmt: skip
    stored(rt, line(original), line(v1_retweet(301, original, 8, T0 + 1000)))
    retweet, tweet = FlatFeed(FEED, rt)[:]
    assert (retweet.verb, retweet.foreign_data["id"]) == ("retweet", "301")
    assert (tweet.verb, tweet.foreign_data) == ("tweet", None), "a tweet is its own object"
    assert page(rt).count(b'"foreign_data":null') == 1


def test_an_activity_cached_in_the_older_form_is_read_again(db: Database, feeds_redis: Any) -> None:
    """A blob cached before ``foreign_data`` names three references; it is read from SQL again
    and cached in the new form, not served without the retweet's own tweet."""
    rt, plain = runtime(db, feeds_redis), runtime(db, feeds_redis, read_cache_seconds=0)
    original = v1_tweet(300, "the original", 9, timestamp_ms=T0)
    stored(rt, line(v1_retweet(301, original, 8, T0 + 1000)))
    first = FlatFeed("user:8", rt).read_page(25).json()
    (key,) = list(feeds_redis.scan_iter("{tweetfeed}:hyd:b:a:*"))
    refs, _, body = feeds_redis.get(key).partition(b"\n")
    assert refs == b"user:8\ttweet:300\t\ttweet:301"
    feeds_redis.set(key, b"user:8\ttweet:300\t\n" + body)
    again = FlatFeed("user:8", rt).read_page(25).json()
    assert again == first == FlatFeed("user:8", plain).read_page(25).json()
    assert feeds_redis.get(key).partition(b"\n")[0] == refs, "cached anew"
