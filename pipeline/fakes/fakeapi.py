"""A fake X API v2 filtered stream on loopback that speaks the real wire protocol.

Integration tests point the real tweepy ``StreamingClient`` at it: the stream is a chunked
HTTP/1.1 response of CRLF-terminated JSON objects with bare-CRLF keep-alives, and the rules
endpoints answer with the shapes tweepy parses (``data``, ``meta``, ``errors``). Tweets are
generated to match the current rules, and the faults a real stream shows (operational
disconnects, stalls, truncated lines, dropped sockets, HTTP errors, too many connections) can be
triggered from Python, from a script played to each new connection, or over HTTP under
``/_fake/`` when the fake runs as its own process (``tweetfeed fake-api``).

Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import queue
import random
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["FakeXApi", "main"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 8787
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
CONTROL_PREFIX = "/_fake/"

_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
# How often an idle stream thread looks for a vanished client, a stop or a queued command.
_POLL_SECONDS = 0.05
_STOP_WAIT_SECONDS = 5.0
# requests' iter_lines(chunk_size=512), which tweepy uses, yields a spurious empty line (a fake
# keep-alive) when a read boundary falls between the CR and the LF of a line: a chunk payload
# whose length is 1 modulo 512 does exactly that, so such lines get one more byte of whitespace.
_ITER_LINES_CHUNK = 512
_TWEPOCH_MS = 1_288_834_974_657  # the snowflake epoch, so tweet ids decode to their created_at
_RULE_ID_BASE = 1_950_000_000_000_000_000  # any 19-digit number will do; rule ids count up

_UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
_TOO_MANY_CONNECTIONS = {
    "title": "ConnectionException",
    "detail": "This stream is currently at the maximum allowed connection limit.",
    "connection_issue": "TooManyConnections",
    "type": "https://api.twitter.com/2/problems/streaming-connection",
}
_OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "OperationalDisconnect",
            "detail": "This stream has been disconnected for operational reasons.",
            "type": "https://api.twitter.com/2/problems/operational-disconnect",
        }
    ]
}
_NOT_FOUND = {
    "title": "Not Found Error",
    "detail": "The requested resource could not be found.",
    "type": "https://api.twitter.com/2/problems/resource-not-found",
    "status": 404,
}

_OPENERS = (
    "Just read a long thread about",
    "Hot take:",
    "Can't stop thinking about",
    "Morning notes on",
    "New post up about",
    "Anyone else excited about",
    "Live from the meetup, all talk is",
    "Quick question about",
)
_CLOSERS = ("today", "again", "right now", "this week", "lately", "for the first time", "", "")
_HASHTAGS = ("news", "dev", "data", "opensource", "weekend", "tbt")
_USERS = (
    ("Ana Lima", "ana_lima"),
    ("José Álvarez", "jose_alvarez"),
    ("山田 太郎", "yamada"),
    ("Lukas Müller", "lukas"),
    ("Zoë Park", "zoe_park"),
    ("Data Bot", "databot"),
    ("Sam O'Neil", "samoneil"),
    ("Priya Sharma", "priya"),
)
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")

# Script steps, each a one-key dict, and the type of the value each key takes.
_COUNT_STEPS = frozenset({"tweets", "keepalive", "truncated"})
_SECONDS_STEPS = frozenset({"stall", "sleep"})
_FLAG_STEPS = frozenset({"operational_disconnect", "drop"})
_STEPS = _COUNT_STEPS | _SECONDS_STEPS | _FLAG_STEPS | {"http_error"}


def _iso_ms(epoch_ms: int) -> str:
    """Render epoch milliseconds the way the X API does: ``2026-01-01T00:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _now_iso() -> str:
    """The current time in the X API's ``meta.sent`` format."""
    return _iso_ms(int(time.time() * 1000))


def _problem(status: int, detail: str | None = None) -> dict[str, Any]:
    """A generic RFC 7807 problem body for an HTTP status."""
    phrase = HTTPStatus(status).phrase
    return {"title": phrase, "detail": detail or phrase, "type": "about:blank", "status": status}


def _invalid_request(message: str) -> dict[str, Any]:
    """The X API's 400 body for a request it cannot make sense of."""
    return {
        "errors": [{"parameters": {}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _chunk(payload: bytes) -> bytes:
    """Frame ``payload`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def _line(message: bytes) -> bytes:
    """Terminate a stream message with CRLF, padding it off requests' empty-line quirk."""
    if (len(message) + len(_CRLF)) % _ITER_LINES_CHUNK == 1:
        message += b" "  # trailing whitespace is still the same JSON
    return message + _CRLF


def check_script(script: Iterable[Any]) -> list[dict[str, Any]]:
    """Validate script steps up front, so a typo fails at start-up and not mid-stream."""
    steps = list(script)
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            raise ValueError(f"script step {index} must be a one-key object, got {step!r}")
        ((kind, value),) = step.items()
        if kind not in _STEPS:
            raise ValueError(f"script step {index}: unknown step {kind!r}")
        _check_step_value(index, kind, value)
    return steps


def _check_step_value(index: int, kind: str, value: Any) -> None:
    """Reject a script step value of the wrong type or range."""
    if kind in _COUNT_STEPS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif kind in _SECONDS_STEPS:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    elif kind in _FLAG_STEPS:
        ok = isinstance(value, bool)
    else:
        ok = _http_error_arguments(value) is not None
    if not ok:
        raise ValueError(f"script step {index}: bad value {value!r} for {kind!r}")


def _http_error_arguments(value: Any) -> tuple[int, int] | None:
    """Read ``503`` or ``{"status": 503, "count": 2}`` as (status, count), or None if neither."""
    if isinstance(value, dict):
        status, count = value.get("status"), value.get("count", 1)
    else:
        status, count = value, 1
    if not (isinstance(status, int) and isinstance(count, int)):
        return None
    if not 400 <= status <= 599 or count < 1:
        return None
    return status, count


@dataclass(frozen=True, slots=True)
class _Tweet:
    """One generated tweet, already rendered: its id and its JSON line without the CRLF."""

    id: int
    message: bytes


@dataclass(frozen=True, slots=True)
class _Command:
    """Something a stream connection must do next, queued from the control API or a script."""

    kind: str
    tweets: tuple[_Tweet, ...] = ()
    seconds: float = 0.0
    count: int = 0
    status: int = 0


@dataclass(slots=True)
class _Rule:
    """One filtered-stream rule; its value is matched as a plain case-insensitive keyword."""

    id: str
    value: str
    tag: str | None

    def as_api(self) -> dict[str, str]:
        """The rule as the API returns it: no ``tag`` key when it has none."""
        body = {"id": self.id, "value": self.value}
        if self.tag is not None:
            body["tag"] = self.tag
        return body


@dataclass(slots=True)
class _Failures:
    """HTTP errors owed to the next stream connection attempts."""

    status: int = 0
    remaining: int = 0

    def take(self) -> int | None:
        """The status for this attempt, or None when no failure is owed."""
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.status


@dataclass(slots=True)
class _TweetFactory:
    """Builds tweets that match the current rules, with realistic ids and authors."""

    rng: random.Random
    users: list[dict[str, Any]] = field(default_factory=list)
    last_id: int = 0

    @classmethod
    def seeded(cls, seed: int) -> _TweetFactory:
        """A factory whose text and author choices all come from ``seed``."""
        rng = random.Random(seed)
        return cls(rng=rng, users=[_make_user(rng, name, handle) for name, handle in _USERS])

    def next_id(self, now_ms: int) -> int:
        """A snowflake id for ``now_ms``, strictly above every id handed out before."""
        self.last_id = max(self.last_id + 1, (now_ms - _TWEPOCH_MS) << 22)
        return self.last_id

    def build(self, rules: list[_Rule]) -> _Tweet:
        """A tweet whose text contains one rule's value (or more), naming every rule it matches."""
        now_ms = int(time.time() * 1000)
        tweet_id = self.next_id(now_ms)
        text = self._text(rules)
        user = self.rng.choice(self.users)
        data: dict[str, Any] = {
            "id": str(tweet_id),
            "text": text,
            "author_id": user["id"],
            "created_at": _iso_ms(now_ms),
            "lang": "en",
            "conversation_id": str(tweet_id),
            "edit_history_tweet_ids": [str(tweet_id)],
        }
        hashtags = [
            {"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _HASHTAG.finditer(text)
        ]
        if hashtags:
            data["entities"] = {"hashtags": hashtags}
        matching = [
            {"id": rule.id, "tag": rule.tag} for rule in rules if rule.value.lower() in text.lower()
        ]
        body = {"data": data, "includes": {"users": [user]}, "matching_rules": matching}
        return _Tweet(tweet_id, orjson.dumps(body))

    def _text(self, rules: list[_Rule]) -> str:
        """Filler text around one chosen rule value, sometimes a second value and a hashtag."""
        chosen = [self.rng.choice(rules)] if rules else []
        if len(rules) > 1 and self.rng.random() < 0.25:
            chosen.append(self.rng.choice([r for r in rules if r is not chosen[0]]))
        keywords = [rule.value for rule in chosen]
        words = [self.rng.choice(_OPENERS), " and ".join(keywords), self.rng.choice(_CLOSERS)]
        if self.rng.random() < 0.5:
            words.append("#" + self.rng.choice(_HASHTAGS))
        return " ".join(word for word in words if word)


def _make_user(rng: random.Random, name: str, handle: str) -> dict[str, Any]:
    """A user object as the API expands it under ``includes.users``."""
    created_ms = rng.randrange(1_172_707_200_000, 1_751_241_600_000)  # 2007-03 .. 2025-06
    return {
        "id": str(rng.randrange(10**17, 10**19)),
        "username": handle,
        "name": name,
        "created_at": _iso_ms(created_ms),
        "public_metrics": {
            "followers_count": rng.randrange(0, 50_000),
            "following_count": rng.randrange(0, 5_000),
            "tweet_count": rng.randrange(1, 100_000),
            "listed_count": rng.randrange(0, 500),
        },
    }


class _Server(ThreadingHTTPServer):
    """The HTTP server, with a reference back to the fake that owns it."""

    daemon_threads = True

    def __init__(self, api: FakeXApi, port: int) -> None:
        self.api = api
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a handler's failure; a client hanging up mid-answer is routine, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("connection from %s failed: %s", client_address, error)
        else:
            log.exception("fake X API request from %s failed", client_address)


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
        self._rules: dict[str, _Rule] = {}
        self._next_rule_id = _RULE_ID_BASE + random.Random(seed).randrange(10**15)
        self._factory = _TweetFactory.seeded(seed)
        self._failures = _Failures()
        self._streams: set[_Stream] = set()
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Life cycle

    def start(self) -> FakeXApi:
        """Serve in a background thread; returns self, with ``port`` set if it was 0."""
        if self._server is not None:
            raise RuntimeError("the fake X API is already running")
        self._stopping.clear()
        self._server = _Server(self, self.port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
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
            _shut(sock)
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
            return [{"id": r.id, "value": r.value, "tag": r.tag} for r in self._rules.values()]

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
            if not self._rules:
                raise RuntimeError("no rules: the filtered stream only delivers matching tweets")
            tweets = tuple(self._factory.build(list(self._rules.values())) for _ in range(n))
            self._broadcast(_Command("tweets", tweets=tweets))
        return [tweet.id for tweet in tweets]

    def operational_disconnect(self) -> None:
        """Send the operational-disconnect error to every open stream, then end it properly."""
        self._queue(_Command("operational_disconnect"))

    def stall(self, seconds: float) -> None:
        """Make every open stream send nothing at all, keep-alives included, for ``seconds``."""
        if seconds < 0:
            raise ValueError("a stall cannot last negative seconds")
        self._queue(_Command("stall", seconds=seconds))

    def send_truncated(self) -> None:
        """Send the first half of a tweet's JSON and a CRLF (an invalid line) to every stream."""
        self._queue(_Command("truncated", count=1))

    def drop(self) -> None:
        """Close every open stream's socket in the middle of a chunk."""
        self._queue(_Command("drop"))

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` stream connection attempts with ``status``."""
        if _http_error_arguments({"status": status, "count": count}) is None:
            raise ValueError(f"need a 4xx/5xx status and a positive count, got {status}, {count}")
        with self._lock:
            self._failures = _Failures(status, count)

    def set_rate(self, tweets_per_second: float) -> None:
        """Change the generated-tweet rate of every stream; 0 sends only pushed tweets."""
        if tweets_per_second < 0:
            raise ValueError("tweets_per_second must not be negative")
        with self._lock:
            self._rate = tweets_per_second
        self._queue(_Command("rate"))

    def _queue(self, command: _Command) -> None:
        """Hand ``command`` to every open stream."""
        with self._lock:
            self._broadcast(command)

    def _broadcast(self, command: _Command) -> None:
        """Queue ``command`` on each open stream; the caller holds the lock."""
        for stream in self._streams:
            stream.commands.put(command)

    # Used by the connection threads

    def _build_tweets(self, n: int, *, need_rules: bool = True) -> tuple[_Tweet, ...]:
        """``n`` tweets for the current rules; none when there are no rules and they need some."""
        with self._lock:
            rules = list(self._rules.values())
            if need_rules and not rules:
                return ()
            return tuple(self._factory.build(rules) for _ in range(n))

    def _tweet_interval(self) -> float:
        """Seconds between generated tweets, infinite at rate 0."""
        with self._lock:
            return 1.0 / self._rate if self._rate > 0 else math.inf

    def _admit(self, handler: _Handler, token: str | None) -> tuple[int, dict[str, Any]] | _Stream:
        """Decide a stream connection attempt: an error (status, body) or a registered stream."""
        with self._lock:
            self.connection_attempts += 1
            status = self._failures.take()
            if status is not None:
                return status, _problem(status)
            if not self._authorized(token):
                return 401, _UNAUTHORIZED
            if self._token_busy(token):
                return 429, _TOO_MANY_CONNECTIONS
            stream = _Stream(self, handler, cast(str, token))
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
            if not _peer_closed(stream.sock):
                return True
            stream.evicted = True
            self._streams.discard(stream)
            self._released.notify_all()
        return False

    def _release(self, stream: _Stream) -> None:
        """Forget a stream connection, so its token may connect again."""
        with self._released:
            self._streams.discard(stream)
            self._released.notify_all()

    def _record_sent(self, tweet: _Tweet, write: Callable[[bytes], bool]) -> bool:
        """Write a tweet's line with ``write`` and, only if that worked, count its id."""
        with self._sent_lock:
            if not write(_line(tweet.message)):
                return False
            self._sent_ids.append(tweet.id)
            return True

    def _track(self, sock: socket.socket, add: bool) -> None:
        """Remember (or forget) an accepted socket, so stop() can close idle ones too."""
        with self._lock:
            if not add:
                self._sockets.discard(sock)
            elif self._stopping.is_set():
                _shut(sock)  # accepted just as stop() took its list of sockets to close
            else:
                self._sockets.add(sock)

    # Rules

    def _get_rules(self, ids: list[str] | None) -> dict[str, Any]:
        """The body of GET /2/tweets/search/stream/rules."""
        with self._lock:
            rules = [r for r in self._rules.values() if ids is None or r.id in ids]
        body: dict[str, Any] = {}
        if rules:
            body["data"] = [r.as_api() for r in rules]
        body["meta"] = {"sent": _now_iso(), "result_count": len(rules)}
        return body

    def _add_rules(self, items: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        """Create rules whose value is new; a repeated value is a DuplicateRule, as on X."""
        created: list[_Rule] = []
        errors: list[dict[str, Any]] = []
        with self._lock:
            known = {r.value: r for r in self._rules.values()}
            for item in items:
                if item["value"] in known:
                    errors.append(_duplicate(known[item["value"]]))
                    continue
                rule = _Rule(str(self._next_rule_id), item["value"], item.get("tag"))
                self._next_rule_id += 1
                known[rule.value] = rule
                created.append(rule)
            if not dry_run:
                self._rules.update((r.id, r) for r in created)
        return _add_response(created, errors)

    def _delete_rules(self, ids: list[str], values: list[str], dry_run: bool) -> dict[str, Any]:
        """Delete rules by id or value; ones that do not exist are counted as not deleted."""
        with self._lock:
            by_value = {r.value: r.id for r in self._rules.values()}
            wanted = [*ids, *(by_value.get(v, v) for v in values)]
            found = [i for i in dict.fromkeys(wanted) if i in self._rules]
            if not dry_run:
                for rule_id in found:
                    del self._rules[rule_id]
        missing = [i for i in dict.fromkeys(wanted) if i not in found]
        body: dict[str, Any] = {
            "meta": {
                "sent": _now_iso(),
                "summary": {"deleted": len(found), "not_deleted": len(missing)},
            }
        }
        if missing:
            body["errors"] = [_rule_not_found(i) for i in missing]
        return body

    # Control over HTTP, for when the fake runs as its own process

    def _state(self) -> dict[str, Any]:
        """A snapshot of what tests usually assert on."""
        return {
            "rules": self.rules(),
            "open_connections": self.open_connections(),
            "connection_attempts": self.connection_attempts,
            "sent_ids": self.sent_ids(),
        }

    def _control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run one ``POST /_fake/<action>`` command; raises KeyError/ValueError on bad input."""
        simple = {
            "operational_disconnect": self.operational_disconnect,
            "truncated": self.send_truncated,
            "drop": self.drop,
        }
        if action == "tweets":
            return {"ids": self.send_tweets(int(body.get("n", 1)))}
        if action == "stall":
            self.stall(float(body["seconds"]))
        elif action == "fail_next":
            self.fail_next(int(body["status"]), int(body.get("count", 1)))
        elif action == "rate":
            self.set_rate(float(body["tweets_per_second"]))
        else:
            simple[action]()  # KeyError for an unknown action
        return {"ok": True}


def _duplicate(existing: _Rule) -> dict[str, Any]:
    """The error the X API gives for a rule value that already exists."""
    return {
        "value": existing.value,
        "id": existing.id,
        "title": "DuplicateRule",
        "type": "https://api.twitter.com/2/problems/duplicate-rules",
    }


def _rule_not_found(rule_id: str) -> dict[str, Any]:
    """The error for deleting a rule that does not exist."""
    return {
        "value": rule_id,
        "title": "RuleNotFound",
        "detail": "Rule does not exist",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _add_response(created: list[_Rule], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a rules ``add`` request."""
    body: dict[str, Any] = {}
    if created:
        body["data"] = [r.as_api() for r in created]
    summary = {
        "created": len(created),
        "not_created": len(errors),
        "valid": len(created),
        "invalid": len(errors),
    }
    body["meta"] = {"sent": _now_iso(), "summary": summary}
    if errors:
        body["errors"] = errors
    return body


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the client has closed (or reset) its end, without consuming anything it sent."""
    try:
        # poll, not select: select fails on descriptors above 1024, common in long test runs.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        if not poller.poll(0):
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _shut(sock: socket.socket) -> None:
    """Shut a socket down both ways, ignoring one that is already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Stream:
    """One open stream connection: plays the script, then generates tweets and keep-alives."""

    def __init__(self, api: FakeXApi, handler: _Handler, token: str) -> None:
        self.api = api
        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.token = token
        self.commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self.evicted = False  # released by a reconnect that found this client gone
        self.next_keepalive = math.inf

    def serve(self) -> None:
        """Send the response headers, the script, then generated traffic until the end."""
        try:
            if not self._start():
                return
            for step in self.api._script:
                if not self._apply(self._step_command(step)):
                    return
            self._pump(math.inf, generate=True)
        finally:
            self.api._release(self)

    def _start(self) -> bool:
        """Send the 200 status line and headers of a chunked JSON stream."""
        handler = self.handler
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.flush()
        except OSError:
            return self._abandon()
        self.next_keepalive = time.monotonic() + self.api.keepalive_interval
        return True

    def _pump(self, until: float, *, generate: bool) -> bool:
        """Keep-alives on schedule (and generated tweets) until ``until``, applying commands.

        Returns False once the connection has ended.
        """
        interval = self.api._tweet_interval() if generate else math.inf
        next_tweet = time.monotonic() + interval
        while (now := time.monotonic()) < until:
            if self._should_end():
                return self._abandon()
            wait = min(until, self.next_keepalive, next_tweet) - now
            command = self._next_command(min(max(wait, 0.0), _POLL_SECONDS))
            if command is not None and command.kind == "rate":
                interval = self.api._tweet_interval() if generate else math.inf
                next_tweet = time.monotonic() + interval
                continue
            if command is not None:
                if not self._apply(command):
                    return False
                continue
            now = time.monotonic()
            if now >= next_tweet:
                if not self._send_generated():
                    return False
                # Keep to the schedule, but after a stall start afresh rather than in a burst.
                next_tweet += interval
                if next_tweet < now:
                    next_tweet = now + interval
            if now >= self.next_keepalive and not self._send_scheduled_keepalive(now):
                return False
        return True

    def _send_generated(self) -> bool:
        """Send one generated tweet, if there are rules for it to match."""
        tweets = self.api._build_tweets(1)
        return self._send_tweet(tweets[0]) if tweets else True

    def _send_scheduled_keepalive(self, now: float) -> bool:
        """Send the keep-alive that is due and schedule the next one."""
        self.next_keepalive += self.api.keepalive_interval
        if self.next_keepalive <= now:
            self.next_keepalive = now + self.api.keepalive_interval
        return self._send_keepalive()

    def _next_command(self, timeout: float) -> _Command | None:
        """The next queued command, waiting at most ``timeout`` seconds."""
        try:
            return self.commands.get(timeout=timeout) if timeout > 0 else self.commands.get_nowait()
        except queue.Empty:
            return None

    def _should_end(self) -> bool:
        """Whether the fake is stopping, or the client has gone."""
        return self.api._stopping.is_set() or self.evicted or _peer_closed(self.sock)

    def _step_command(self, step: dict[str, Any]) -> _Command:
        """Turn a script step into the command that performs it, generating tweets now."""
        ((kind, value),) = step.items()
        if kind == "tweets":
            tweets = self.api._build_tweets(value)
            if value and not tweets:
                log.warning("script step %r sent nothing: there are no rules", step)
            return _Command("tweets", tweets=tweets)
        if kind in ("keepalive", "truncated"):
            return _Command(kind, count=value)
        if kind in _SECONDS_STEPS:
            return _Command(kind, seconds=float(value))
        if kind == "http_error":
            status, count = cast(tuple[int, int], _http_error_arguments(value))
            return _Command(kind, status=status, count=count)
        return _Command(kind if value else "noop")

    def _apply(self, command: _Command) -> bool:
        """Carry out one command; False once the connection has ended."""
        kind = command.kind
        if kind == "tweets":
            return all(self._send_tweet(tweet) for tweet in command.tweets)
        if kind == "keepalive":
            return all(self._send_keepalive() for _ in range(command.count))
        if kind == "truncated":
            return all(self._send_truncated() for _ in range(command.count))
        if kind == "stall":
            return self._stall(command.seconds)
        if kind == "sleep":
            return self._pump(time.monotonic() + command.seconds, generate=False)
        if kind == "operational_disconnect":
            return self._disconnect_operationally()
        if kind == "drop":
            return self._drop()
        if kind == "http_error":
            self.api.fail_next(command.status, command.count)
        return True

    # Writing

    def _write(self, data: bytes) -> bool:
        """Write and flush ``data``; False (and the connection abandoned) if the socket failed."""
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
        except OSError:
            return self._abandon()
        return True

    def _write_chunk(self, payload: bytes) -> bool:
        """Write one HTTP chunk."""
        return self._write(_chunk(payload))

    def _send_tweet(self, tweet: _Tweet) -> bool:
        """Write one tweet line as its own chunk, counting it in sent_ids once written."""
        # A write to a socket the client has already closed still succeeds once, so look first:
        # otherwise sent_ids would count a tweet that nobody can read.
        if self._should_end():
            return self._abandon()
        return self.api._record_sent(tweet, self._write_chunk)

    def _send_keepalive(self) -> bool:
        """Write a keep-alive: a bare CRLF."""
        return self._write_chunk(_CRLF)

    def _send_truncated(self) -> bool:
        """Write the first half of a tweet's JSON and a CRLF: one line that is not JSON."""
        (tweet,) = self.api._build_tweets(1, need_rules=False)
        text = tweet.message.decode()
        return self._write_chunk(_line(text[: len(text) // 2].encode()))

    def _stall(self, seconds: float) -> bool:
        """Send nothing for ``seconds``, keeping the socket open unless the client goes away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._should_end():
                return self._abandon()
            self.api._stopping.wait(min(left, _POLL_SECONDS))
        self.next_keepalive = time.monotonic() + self.api.keepalive_interval
        return True

    def _disconnect_operationally(self) -> bool:
        """Send the operational-disconnect error line, then end the chunked response properly."""
        if not self._write_chunk(_line(orjson.dumps(_OPERATIONAL_DISCONNECT))):
            return False
        # Released before the last chunk: the client reconnects as soon as it reads it, and must
        # not meet its own old connection as a 429.
        self.api._release(self)
        self._write(_LAST_CHUNK)
        return False

    def _drop(self) -> bool:
        """Announce a whole tweet chunk, write half of it and close the socket under it."""
        (tweet,) = self.api._build_tweets(1, need_rules=False)
        line = _line(tweet.message)
        self.api._release(self)
        self._write(b"%x\r\n" % len(line) + line[: len(line) // 2])
        return self._abandon()

    def _abandon(self) -> bool:
        """End the connection without finishing the response; always False."""
        self.api._release(self)
        self.handler.close_connection = True
        _shut(self.sock)
        return False


class _Handler(BaseHTTPRequestHandler):
    """Routes the API's endpoints; the stream endpoint holds its thread for the connection."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-x-api/1"

    @property
    def api(self) -> FakeXApi:
        """The fake that owns this server."""
        return cast(_Server, self.server).api

    def setup(self) -> None:
        super().setup()
        self.api._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.api._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Serve the stream, the rules list or the control state."""
        path, query = self._target()
        if path == STREAM_PATH:
            self._serve_stream()
        elif path == RULES_PATH:
            self._with_auth(lambda: self._send_json(200, self.api._get_rules(_ids(query))))
        elif path == CONTROL_PREFIX + "state":
            self._send_json(200, self.api._state())
        else:
            self._send_json(404, _NOT_FOUND)

    def do_POST(self) -> None:
        """Change the rules, or run a control command."""
        raw = self._read_body()
        path, query = self._target()
        if path == RULES_PATH:
            self._with_auth(lambda: self._post_rules(raw, _flag(query, "dry_run")))
        elif path.startswith(CONTROL_PREFIX):
            self._post_control(path.removeprefix(CONTROL_PREFIX), raw)
        else:
            self._send_json(404, _NOT_FOUND)

    def _target(self) -> tuple[str, dict[str, list[str]]]:
        """The request path and its query parameters."""
        parts = urlsplit(self.path)
        return parts.path.rstrip("/") or "/", parse_qs(parts.query)

    def _token(self) -> str | None:
        """The bearer token of the request, if it has one."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def _read_body(self) -> bytes:
        """The request body, read whole so the connection stays usable for the next request."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _with_auth(self, respond: Callable[[], None]) -> None:
        """Call ``respond`` if the bearer token is accepted, else answer 401."""
        if self.api._authorized(self._token()):
            respond()
        else:
            self._send_json(401, _UNAUTHORIZED)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer with a JSON body of known length."""
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _serve_stream(self) -> None:
        """Admit (or refuse) a stream connection and, if admitted, stream until it ends."""
        outcome = self.api._admit(self, self._token())
        if isinstance(outcome, _Stream):
            outcome.serve()
            return
        status, body = outcome
        headers = {}
        if status == 429 and body is not _TOO_MANY_CONNECTIONS:
            reset = int(time.time()) + 60
            headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        self._send_json(status, body, headers)

    def _post_rules(self, raw: bytes, dry_run: bool) -> None:
        """Add or delete rules from a ``{"add": [...]}`` or ``{"delete": {...}}`` body."""
        try:
            request = _parse_rules_request(raw)
        except ValueError as exc:
            self._send_json(400, _invalid_request(str(exc)))
            return
        if "add" in request:
            self._send_json(200, self.api._add_rules(request["add"], dry_run))
        else:
            delete = request["delete"]
            body = self.api._delete_rules(delete.get("ids", []), delete.get("values", []), dry_run)
            self._send_json(200, body)

    def _post_control(self, action: str, raw: bytes) -> None:
        """Run a control command sent over HTTP."""
        try:
            body = orjson.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            self._send_json(200, self.api._control(action, body))
        except KeyError as exc:
            self._send_json(400, _problem(400, f"unknown action or missing field: {exc}"))
        except (ValueError, RuntimeError) as exc:
            self._send_json(400, _problem(400, str(exc)))


def _ids(query: dict[str, list[str]]) -> list[str] | None:
    """The ``ids`` query parameter split on commas, or None when absent."""
    if "ids" not in query:
        return None
    return [i for value in query["ids"] for i in value.split(",") if i]


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """A boolean query parameter; requests renders Python's True as ``True``."""
    return any(value.lower() == "true" for value in query.get(name, []))


def _parse_rules_request(raw: bytes) -> dict[str, Any]:
    """Check a rules POST body; raises ValueError with the reason when it is malformed."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or len(body.keys() & {"add", "delete"}) != 1:
        raise ValueError("the body must hold exactly one of 'add' or 'delete'")
    if "add" in body:
        _check_add(body["add"])
    else:
        _check_delete(body["delete"])
    return body


def _check_add(items: Any) -> None:
    """Each rule to add needs a non-empty string value and, optionally, a string tag."""
    if not isinstance(items, list):
        raise ValueError("'add' must be a list of rules")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ValueError(f"each rule needs a string 'value': {item!r}")
        if not item["value"].strip():
            raise ValueError("a rule's 'value' must not be empty")
        if not isinstance(item.get("tag", ""), str | None):
            raise ValueError(f"a rule's 'tag' must be a string: {item!r}")


def _check_delete(delete: Any) -> None:
    """A delete names rules by ``ids`` or ``values``, lists of strings."""
    if not isinstance(delete, dict) or not delete.keys() & {"ids", "values"}:
        raise ValueError("'delete' must hold 'ids' or 'values'")
    for key in ("ids", "values"):
        names = delete.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"'delete.{key}' must be a list of strings")


# Command line


def build_parser() -> argparse.ArgumentParser:
    """The ``tweetfeed fake-api`` options."""
    parser = argparse.ArgumentParser(
        prog="tweetfeed fake-api", description="Serve a fake X API v2 filtered stream."
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--host", default=HOST, help=f"only {HOST} is accepted")
    parser.add_argument("--keepalive-interval", type=float, default=20.0, metavar="SECONDS")
    parser.add_argument("--tweets-per-second", type=float, default=5.0, metavar="RATE")
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN",
        help="accepted bearer token (repeatable); any token when none is given",
    )
    parser.add_argument("--script", type=Path, metavar="PATH", help="JSON list of script steps")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def load_script(path: Path) -> list[dict[str, Any]]:
    """Read and validate a script file: a JSON list of one-key step objects."""
    steps = orjson.loads(path.read_bytes())
    if not isinstance(steps, list):
        raise ValueError(f"{path}: a script is a JSON list of steps")
    return check_script(steps)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake until SIGINT or SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.host != HOST:
        print(f"fake-api: refusing --host {args.host}: the fake only binds {HOST}", file=sys.stderr)
        return 2
    try:
        script = load_script(args.script) if args.script else None
        api = FakeXApi(
            args.port,
            keepalive_interval=args.keepalive_interval,
            tweets_per_second=args.tweets_per_second,
            tokens=args.tokens,
            script=script,
            seed=args.seed,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"fake-api: {exc}", file=sys.stderr)
        return 2
    print(f"fake X API listening on {api.base_url}", flush=True)
    try:
        _wait_for_signal()
    finally:
        api.stop()
    return 0


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (or Ctrl-C) arrives."""
    done = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        done.wait()  # signals only reach the main thread; a caller elsewhere runs forever
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    raise SystemExit(main())
