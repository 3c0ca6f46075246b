"""Filter terms, API keys, the stream lock and the spool, on real databases and Redis."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, text

from models import ApiKey
from pipeline.control import apikeys, redis_keys, terms
from pipeline.settings import Settings
from pipeline.stream.batcher import Batch
from pipeline.stream.lock import StreamLock
from pipeline.stream.spool import SpoolingSink
from tests.conftest import Database, Pipeline
from tests.helpers import BIN, ROOT, clean_env, tweetfeed, wait_until


def test_swapping_one_term_for_another_changes_the_fingerprint(db: Database) -> None:
    with db.sessions.begin() as session:
        terms.add(session, "python")
        terms.add(session, "rust")
        before = terms.fingerprint(terms.enabled_terms(session))
        terms.remove(session, "rust")
        terms.add(session, "go")
        after = terms.fingerprint(terms.enabled_terms(session))
    assert len(terms.enabled_terms(db.sessions())) == 2
    assert before != after


def test_disabling_a_term_changes_the_fingerprint_and_enabling_restores_it(db: Database) -> None:
    with db.sessions.begin() as session:
        terms.add(session, "python")
        start = terms.fingerprint(terms.enabled_terms(session))
        terms.set_enabled(session, "python", False)
        assert terms.fingerprint(terms.enabled_terms(session)) != start
        terms.set_enabled(session, "python", True)
        assert terms.fingerprint(terms.enabled_terms(session)) == start


def test_publishing_happens_only_when_the_terms_changed(
    db: Database, redis_client: redis.Redis
) -> None:
    with db.sessions.begin() as session:
        terms.add(session, "python")
        assert terms.publish_if_changed(session, redis_client) is not None
        assert terms.publish_if_changed(session, redis_client) is None
        terms.add(session, "rust")
        assert terms.publish_if_changed(session, redis_client) is not None


def test_keys_are_listed_without_a_single_secret(db: Database, tmp_path: Path) -> None:
    env = clean_env(TWEETFEED_DATABASE_URL=db.url, TWEETFEED_VAR_DIR=str(tmp_path))
    secret = "AAAAbearer-secret-value"
    stdin = f"{secret}\n".encode()
    added = tweetfeed("keys", "add", "main", "--bearer-token", "-", stdin=stdin, env=env)
    assert added.returncode == 0, added.stderr
    listed = tweetfeed("keys", "list", env=env)
    assert b"main" in listed.stdout and b"bearer_token set" in listed.stdout
    assert secret.encode() not in listed.stdout + listed.stderr + added.stdout + added.stderr
    with db.sessions() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.name == "main"))
        assert row is not None and row.bearer_token is not None
        assert secret not in repr(row)
        stored = session.execute(text("SELECT * FROM api_keys")).all()
        assert secret not in str(stored), "the database holds no usable secret"
        assert row.bearer_token.startswith(apikeys.SEALED)
        assert apikeys.opened(row, Settings.from_env(env))["bearer_token"] == secret
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0, "the key file is the owner's"


def test_sealed_keys_open_only_under_their_secret_key(db: Database, tmp_path: Path) -> None:
    mine = Settings(var_dir=str(tmp_path), secret_key="a passphrase of ours")
    theirs = Settings(var_dir=str(tmp_path), secret_key="someone else's")
    with db.sessions.begin() as session:
        row = apikeys.add(session, "main", mine, bearer_token="tok", api_secret="shh")
        assert apikeys.opened(row, mine)["api_secret"] == "shh"
        with pytest.raises(ValueError, match="another SECRET_KEY"):
            apikeys.opened(row, theirs)
        # A value stored before encryption came in is read as it is.
        row.access_token = "plain-from-before"
        assert apikeys.opened(row, mine)["access_token"] == "plain-from-before"


def test_keys_without_a_bearer_token_are_refused(db: Database) -> None:
    with db.sessions() as session, pytest.raises(ValueError, match="bearer token"):
        apikeys.add(session, "oauth-only", api_key="k", api_secret="s")


def test_only_one_holder_of_a_stream_lock_and_a_standby_takes_over_after_expiry(
    redis_client: redis.Redis,
) -> None:
    first = StreamLock(redis_client, "main", ttl=0.3)
    second = StreamLock(redis_client, "main", ttl=0.3)
    assert first.acquire() and not second.acquire()
    assert first.renew() and not second.renew()
    wait_until(second.acquire, 5, "the first holder's lock to expire")
    assert not first.renew(), "the first holder must learn it lost the lock"
    second.release()
    assert redis_client.get(second.key) is None


def test_the_spool_keeps_batches_in_order_and_hands_them_on_first(tmp_path: Path) -> None:
    delivered: list[list[bytes]] = []
    broken = True

    def sink(batch: Batch) -> None:
        if broken:
            raise ConnectionError("broker down")
        delivered.append(batch.lines)

    spool = SpoolingSink(sink, tmp_path / "s.spool", 10_000)
    spool(Batch([b"one", b"\xff not utf-8"]))
    spool(Batch([b"three"]))
    assert spool.pending() and delivered == []
    broken = False
    spool(Batch([b"four"]))
    assert delivered == [[b"one", b"\xff not utf-8", b"three"], [b"four"]]
    assert not spool.pending()


def test_beat_publishes_a_term_change_on_the_control_channel(pipeline: Pipeline) -> None:
    subscriber = pipeline.redis.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(redis_keys.CONTROL_CHANNEL)
    pipeline.redis.delete(redis_keys.TERMS_FINGERPRINT)
    beat = subprocess.Popen(
        [str(BIN / "celery"), "-A", "workers", "beat", "--loglevel=WARNING",
         "-s", str(Path(pipeline.env["TWEETFEED_VAR_DIR"]) / "beat-schedule")],
        env={**pipeline.env, "TWEETFEED_POLL_INTERVAL": "0.5"}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with pipeline.db.sessions.begin() as session:
            terms.add(session, "python")

        def published() -> bytes | None:
            message = subscriber.get_message(timeout=0.2)
            return message["data"] if message else None

        first = wait_until(published, 20, "a control message for the new term")
        assert first.startswith(b"terms ")
        with pipeline.db.sessions.begin() as session:
            terms.remove(session, "python")
            terms.add(session, "rust")
        second = wait_until(published, 20, "a control message for the swapped term")
        assert second != first
    finally:
        beat.terminate()
        beat.wait(timeout=20)
