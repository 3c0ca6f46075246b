"""The live listener: one X API v2 stream per key, kept connected, its rules kept equal to
the enabled filter terms, and never silently stopped.

Threads: the main thread owns connecting (tweepy blocks there while streaming); a heartbeat
thread renews the key's lock, flushes counters, writes the ``stream_processes`` row and watches
for stalls; a control thread hears filter-term changes that beat publishes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
import tweepy
from sqlalchemy.orm import Session, sessionmaker

from pipeline.control import processes, redis_keys, terms
from pipeline.control.counters import StreamCounters
from pipeline.settings import Settings
from pipeline.store.engine import transaction
from pipeline.stream import rules
from pipeline.stream.backoff import Backoff
from pipeline.stream.batcher import Batcher
from pipeline.stream.lock import StreamLock
from pipeline.stream.x_v2 import XStream

log = logging.getLogger("tweetfeed.listener")
FATAL_STATUSES = {401, 403}
STALE_AFTER_HEARTBEATS = 6


class LiveListener:
    """Streams with one set of API keys until ``stop()``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        keys_name: str,
        bearer_token: str,
        batcher: Batcher,
        sessions: sessionmaker[Session],
        redis: Any,
    ) -> None:
        self.settings = settings
        self.keys_name = keys_name
        self.batcher = batcher
        self.sessions = sessions
        self.redis = redis
        self.stream = XStream(bearer_token, settings.x_api_base_url, self)
        # Rules calls get their own client: requests sessions are not for sharing across threads.
        self.rules_client = XStream(bearer_token, settings.x_api_base_url, self)
        self.backoff = Backoff(settings.backoff_scale)
        self.lock = StreamLock(redis, bearer_token, ttl=settings.heartbeat_seconds * 1.5)
        self.counters = StreamCounters(keys_name)
        self.state = "starting"
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.last_byte = time.monotonic()
        self.end_reason: str | None = None
        self.closing_reason: str | None = None
        self.synced: str | None = None
        self.fatal: str | None = None
        self._rules_lock = threading.Lock()
        self._row_id: int | None = None
        self.has_lock = False

    def __repr__(self) -> str:
        return f"LiveListener(keys={self.keys_name!r}, state={self.state!r})"

    # -- what the stream reports (tweepy's thread) ------------------------------------------
    def connected(self) -> None:
        self.backoff.connected()
        self.last_byte = time.monotonic()
        self._set_state("connected", "stream open")

    def data(self, line: bytes) -> None:
        self.last_byte = time.monotonic()
        self.counters.tweet(line)
        self.batcher.add(line)

    def keep_alive(self) -> None:
        self.last_byte = time.monotonic()
        self.counters.keep_alives += 1

    def http_error(self, status: int, body: str) -> None:
        wait = self.backoff.http_error(status)
        self._ended(f"HTTP {status}: {body.strip()[:200]}", wait)
        if status in FATAL_STATUSES and not self.settings.prevent_exit:
            self.fatal = f"HTTP {status}: the API refused these keys"

    def network_error(self, error: str) -> None:
        if self.closing_reason is None:
            self._ended(error, self.backoff.network_error())

    def closed(self) -> None:
        if self.closing_reason is None:
            self._ended("the server closed the stream", self.backoff.network_error())

    def _ended(self, reason: str, wait: float) -> None:
        self.end_reason = reason
        self.counters.last_error = reason
        log.info("stream ended: %s; next attempt in %.2f s", reason, wait)

    # -- the main loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Stream until stopped; return the process exit status."""
        with transaction(self.sessions) as session:
            self._row_id = processes.register(session, self.keys_name, self.state)
        threads = [
            threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self._control_loop, name="control", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while not self.stopping.is_set() and self.fatal is None:
                try:
                    self._step()
                except Exception as exc:
                    if not self.settings.prevent_exit:
                        raise
                    wait = self.backoff.network_error()
                    log.exception("listener error; PREVENT_EXIT restarts in %.2f s", wait)
                    self.counters.last_error = f"{type(exc).__name__}: {exc}"
                    self.stopping.wait(wait)
        finally:
            self._set_state("stopped", self.fatal or "shutting down")
            self.stopping.set()
            self.lock.release()
            self.has_lock = False
            self.batcher.close()
            self._beat()
        if self.fatal:
            log.error("%s", self.fatal)
            return 1
        return 0

    def _step(self) -> None:
        if not self._hold_lock():
            holder = self.lock.holder() or "another listener"
            self._set_state("standby", f"{holder} streams with this bearer token")
            self.stopping.wait(self.settings.heartbeat_seconds / 2)
            return
        enabled = self._load_terms()
        try:
            self._sync_rules(enabled)
        except tweepy.errors.HTTPException as exc:
            self.http_error(exc.response.status_code, f"rules endpoint: {exc}")
            self._wait(self.backoff.wait)
            return
        except requests.RequestException as exc:
            self._ended(f"rules endpoint: {exc}", self.backoff.network_error())
            self._wait(self.backoff.wait)
            return
        if not enabled:
            self._set_state("idle", "no enabled filter terms; waiting for some")
            self._wait(self.settings.poll_interval)
            return
        delay = self.backoff.delay_before_attempt()
        if delay > 0:
            self._set_state("reconnecting", f"waiting {delay:.2f} s after: {self.end_reason}")
            if self._wait(delay):
                return
        self.backoff.attempt()
        if self.end_reason is not None:
            self.counters.reconnects += 1
        self.end_reason = self.closing_reason = None
        self._set_state("connecting", f"{len(enabled)} rules")
        self.last_byte = time.monotonic()
        self.stream.stream()
        self.end_reason = self.end_reason or self.closing_reason or "disconnected"

    def _wait(self, seconds: float) -> bool:
        """Sleep until woken (terms changed) or stopped; True if woken or stopping."""
        woken = self.wake.wait(seconds)
        self.wake.clear()
        return woken or self.stopping.is_set()

    def _hold_lock(self) -> bool:
        self.has_lock = self.lock.renew() or self.lock.acquire()
        return self.has_lock

    def _load_terms(self) -> list[terms.Term]:
        with transaction(self.sessions) as session:
            return terms.enabled_terms(session)

    def _sync_rules(self, enabled: list[terms.Term]) -> None:
        with self._rules_lock:
            wanted = terms.fingerprint(enabled)
            if wanted == self.synced:
                return
            added, deleted = rules.sync(self.rules_client, enabled)
            self.synced = wanted
            log.info(
                "rules synced: %d added, %d deleted, %d in force", added, deleted, len(enabled)
            )

    def _close_stream(self, reason: str) -> None:
        self.closing_reason = reason
        self.counters.last_error = (
            reason if reason.startswith("stall") else self.counters.last_error
        )
        log.info("closing the stream: %s", reason)
        self.stream.force_close()

    def _set_state(self, state: str, reason: str) -> None:
        if state != self.state:
            log.info("state %s -> %s: %s", self.state, state, reason)
            self.state = state

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self._close_stream("shutting down")

    # -- terms changed -------------------------------------------------------------------------
    def terms_changed(self) -> None:
        """Apply a filter-term change: rules in place while streaming, else wake the loop."""
        enabled = self._load_terms()
        if terms.fingerprint(enabled) == self.synced:
            return
        if self.state in {"connected", "connecting"}:
            if enabled:
                self._sync_rules(enabled)
                return
            self._close_stream("no enabled filter terms")
        self.wake.set()

    def _control_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(redis_keys.CONTROL_CHANNEL)
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["data"].startswith(b"terms "):
                        self.terms_changed()
            except Exception:
                log.exception("control channel failed; listening again")
                self.stopping.wait(1.0)

    # -- heartbeat -----------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        beat, poll = self.settings.heartbeat_seconds, self.settings.poll_interval
        next_beat, next_poll = time.monotonic() + beat, time.monotonic() + poll
        while not self.stopping.wait(max(0.0, min(next_beat, next_poll) - time.monotonic())):
            now = time.monotonic()
            try:
                if now >= next_beat:
                    next_beat = now + beat
                    self._beat()
                if now >= next_poll:
                    # The listener's own look at the terms table, every POLL_INTERVAL: beat's
                    # control message comes sooner, but it can be missed (Redis away), or no
                    # beat may run at all.
                    next_poll = now + poll
                    self.terms_changed()
            except Exception:
                log.exception("heartbeat failed")

    def _beat(self) -> None:
        # Renew first, whatever the state: a backoff wait must not let the lock lapse. A lock
        # that is simply gone (Redis restarted without its data) is taken again: closing the
        # stream would lose what X already wrote to it, and no one else holds the token.
        if self.has_lock and not (self.lock.renew() or self.lock.acquire()):
            self.has_lock = False
            if self.state in {"connected", "connecting"}:
                self._close_stream("lost the stream lock")
        if self.state in {"connected", "connecting"}:
            silent = time.monotonic() - self.last_byte
            if silent > 3 * self.settings.stream_keepalive_seconds:
                self.backoff.network_error()
                self.end_reason = f"stall: no byte for {silent:.1f} s"
                self.counters.last_error = self.end_reason
                self._close_stream(self.end_reason)
        self.counters.flush(self.redis, self.state)
        with transaction(self.sessions) as session:
            if self._row_id is not None:
                counts = self.counters
                processes.heartbeat(
                    session, self._row_id, self.state, counts.tweets_received, counts.last_error
                )
            processes.expire_stale(
                session, self.settings.heartbeat_seconds * STALE_AFTER_HEARTBEATS
            )
