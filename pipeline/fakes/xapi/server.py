"""The fake X API object: starting and stopping the loopback server, the state tests read, the
faults they trigger, and the bookkeeping (admission, tokens, sent ids) shared by connections.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from pipeline.fakes.xapi.connection import POLL_SECONDS, Connection, peer_closed, shut
from pipeline.fakes.xapi.factory import TweetFactory, TweetLine
from pipeline.fakes.xapi.protocol import (
    HOST,
    TOO_MANY_CONNECTIONS,
    UNAUTHORIZED,
    problem,
    stream_line,
)
from pipeline.fakes.xapi.routes import Server
from pipeline.fakes.xapi.rules import RuleBook
from pipeline.fakes.xapi.script import Command, Failures, check_script, http_error_arguments

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

__all__ = ["FakeXApi"]

_STOP_WAIT_SECONDS = 5.0


class FakeXApi:
    """A fake X API v2 filtered-stream server on 127.0.0.1, for tests and local runs."""

    def __init__(
        self,
        port: int = 0,
        *,
        keepalive_interval: float = 20.0,
        tweets_per_second: float = 5.0,
        tokens: Iterable[str] | None = None,
        script: list[dict[str, Any]] | None = None,
        seed: int = 0,
    ) -> None:
        if keepalive_interval <= 0:
            raise ValueError("keepalive_interval must be positive")
        if tweets_per_second < 0:
            raise ValueError("tweets_per_second must not be negative")
        self.port = port
        self.keepalive_interval = keepalive_interval
        self.connection_attempts = 0
        self._rate = tweets_per_second
        self._tokens = None if tokens is None else frozenset(tokens)
        self._script = check_script(script or [])
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        # Held across each tweet's write and its entry in sent_ids, so that a reader never sees
        # a tweet the client has already received missing from sent_ids.
        self._sent_lock = threading.Lock()
        self._sent_ids: list[int] = []
        self._rules = RuleBook(seed)
        self._factory = TweetFactory.seeded(seed)
        self._failures = Failures()
        self._streams: set[Connection] = set()
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # Life cycle

    def start(self) -> FakeXApi:
        """Serve in a background thread; returns self, with ``port`` set if it was 0."""
        if self._server is not None:
            raise RuntimeError("the fake X API is already running")
        self._stopping.clear()
        self._server = Server(self, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name=f"fake-x-api:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection, streams included."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            shut(sock)
        server.server_close()
        thread.join(_STOP_WAIT_SECONDS)
        with self._released:
            self._released.wait_for(lambda: not self._streams, _STOP_WAIT_SECONDS)
        self._server = self._thread = None

    def __enter__(self) -> FakeXApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The root URL to use instead of ``https://api.twitter.com``."""
        return f"http://{HOST}:{self.port}"

    # State

    def rules(self) -> list[dict[str, Any]]:
        """The current rules as ``{"id", "value", "tag"}`` (``tag`` None when unset)."""
        with self._lock:
            return [{"id": r.id, "value": r.value, "tag": r.tag} for r in self._rules.all()]

    def open_connections(self) -> int:
        """How many stream connections are open right now."""
        with self._lock:
            return len(self._streams)

    def sent_ids(self) -> list[int]:
        """The id of every tweet whose whole line was written and flushed, in write order."""
        with self._sent_lock:
            return list(self._sent_ids)

    # Control

    def send_tweets(self, n: int) -> list[int]:
        """Push ``n`` tweets matching the current rules to every open stream; returns their ids.

        Ids are handed out even when no stream is open; only written ones reach ``sent_ids``.
        """
        with self._lock:
            rules = self._rules.all()
            if not rules:
                raise RuntimeError("no rules: the filtered stream only delivers matching tweets")
            tweets = tuple(self._factory.build(rules) for _ in range(n))
            self._broadcast(Command("tweets", tweets=tweets))
        return [tweet.id for tweet in tweets]

    def operational_disconnect(self) -> None:
        """Send the operational-disconnect error to every open stream, then end it properly."""
        self._queue(Command("operational_disconnect"))

    def stall(self, seconds: float) -> None:
        """Make every open stream send nothing at all, keep-alives included, for ``seconds``."""
        if seconds < 0:
            raise ValueError("a stall cannot last negative seconds")
        self._queue(Command("stall", seconds=seconds))

    def send_truncated(self) -> None:
        """Send the first half of a tweet's JSON and a CRLF (an invalid line) to every stream."""
        self._queue(Command("truncated", count=1))

    def drop(self) -> None:
        """Close every open stream's socket in the middle of a chunk."""
        self._queue(Command("drop"))

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` stream connection attempts with ``status``."""
        if http_error_arguments({"status": status, "count": count}) is None:
            raise ValueError(f"need a 4xx/5xx status and a positive count, got {status}, {count}")
        with self._lock:
            self._failures = Failures(status, count)

    def set_rate(self, tweets_per_second: float) -> None:
        """Change the generated-tweet rate of every stream; 0 sends only pushed tweets."""
        if tweets_per_second < 0:
            raise ValueError("tweets_per_second must not be negative")
        with self._lock:
            self._rate = tweets_per_second
        self._queue(Command("rate"))

    def _queue(self, command: Command) -> None:
        """Hand ``command`` to every open stream."""
        with self._lock:
            self._broadcast(command)

    def _broadcast(self, command: Command) -> None:
        """Queue ``command`` on each open stream; the caller holds the lock."""
        for stream in self._streams:
            stream.commands.put(command)

    # Used by the connection threads

    def _build_tweets(self, n: int, *, need_rules: bool = True) -> tuple[TweetLine, ...]:
        """``n`` tweets for the current rules; none when there are no rules and they need some."""
        with self._lock:
            rules = self._rules.all()
            if need_rules and not rules:
                return ()
            return tuple(self._factory.build(rules) for _ in range(n))

    def _tweet_interval(self) -> float:
        """Seconds between generated tweets, infinite at rate 0."""
        with self._lock:
            return 1.0 / self._rate if self._rate > 0 else math.inf

    def _admit(
        self, handler: BaseHTTPRequestHandler, token: str | None
    ) -> tuple[int, dict[str, Any]] | Connection:
        """Decide a stream connection attempt: an error (status, body) or a registered stream."""
        with self._lock:
            self.connection_attempts += 1
            status = self._failures.take()
            if status is not None:
                return status, problem(status)
            if not self._authorized(token):
                return 401, UNAUTHORIZED
            if self._token_busy(token):
                return 429, TOO_MANY_CONNECTIONS
            stream = Connection(self, handler, cast(str, token))
            self._streams.add(stream)
            return stream

    def _authorized(self, token: str | None) -> bool:
        """Whether ``token`` may use the API."""
        if not token:
            return False
        return self._tokens is None or token in self._tokens

    def _token_busy(self, token: str | None) -> bool:
        """Whether a live stream already uses ``token``; the caller holds the lock.

        A client that closed its socket a moment ago would otherwise get a 429 on its immediate
        reconnect, before its old connection's thread noticed, so dead ones are released here.
        """
        for stream in list(self._streams):
            if stream.token != token:
                continue
            if not peer_closed(stream.sock):
                return True
            stream.evicted = True
            self._streams.discard(stream)
            self._released.notify_all()
        return False

    def _release(self, stream: Connection) -> None:
        """Forget a stream connection, so its token may connect again."""
        with self._released:
            self._streams.discard(stream)
            self._released.notify_all()

    def _record_sent(self, tweet: TweetLine, write: Callable[[bytes], bool]) -> bool:
        """Write a tweet's line with ``write`` and, only if that worked, count its id."""
        with self._sent_lock:
            if not write(stream_line(tweet.message)):
                return False
            self._sent_ids.append(tweet.id)
            return True

    def _track(self, sock: socket.socket, add: bool) -> None:
        """Remember (or forget) an accepted socket, so stop() can close idle ones too."""
        with self._lock:
            if not add:
                self._sockets.discard(sock)
            elif self._stopping.is_set():
                shut(sock)  # accepted just as stop() took its list of sockets to close
            else:
                self._sockets.add(sock)

    # Rules, for the rules endpoint

    def _get_rules(self, ids: list[str] | None) -> dict[str, Any]:
        """The body of GET /2/tweets/search/stream/rules."""
        with self._lock:
            return self._rules.listing(ids)

    def _add_rules(self, items: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        """The body of a rules ``add`` request, having added the rules unless ``dry_run``."""
        with self._lock:
            return self._rules.add(items, dry_run)

    def _delete_rules(self, ids: list[str], values: list[str], dry_run: bool) -> dict[str, Any]:
        """The body of a rules ``delete`` request, having deleted them unless ``dry_run``."""
        with self._lock:
            return self._rules.delete(ids, values, dry_run)
