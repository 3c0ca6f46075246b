"""One open stream connection of the fake X API: it plays the script, then writes generated
tweets and keep-alives on schedule, carrying out queued commands (faults included) as they come.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import select
import socket
import time
from typing import TYPE_CHECKING, Any, cast

import orjson

from pipeline.fakes.xapi.factory import TweetLine
from pipeline.fakes.xapi.protocol import (
    CRLF,
    LAST_CHUNK,
    OPERATIONAL_DISCONNECT,
    frame,
    stream_line,
)
from pipeline.fakes.xapi.script import SECONDS_STEPS, Command, http_error_arguments

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from pipeline.fakes.xapi.server import FakeXApi

__all__ = ["POLL_SECONDS", "Connection", "peer_closed", "shut"]

log = logging.getLogger(__name__)

# How often an idle stream thread looks for a vanished client, a stop or a queued command.
POLL_SECONDS = 0.05


def peer_closed(sock: socket.socket) -> bool:
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


def shut(sock: socket.socket) -> None:
    """Shut a socket down both ways, ignoring one that is already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Connection:
    """One open stream connection: plays the script, then generates tweets and keep-alives."""

    def __init__(self, api: FakeXApi, handler: BaseHTTPRequestHandler, token: str) -> None:
        self.api = api
        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.token = token
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
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
            command = self._next_command(min(max(wait, 0.0), POLL_SECONDS))
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

    def _next_command(self, timeout: float) -> Command | None:
        """The next queued command, waiting at most ``timeout`` seconds."""
        try:
            return self.commands.get(timeout=timeout) if timeout > 0 else self.commands.get_nowait()
        except queue.Empty:
            return None

    def _should_end(self) -> bool:
        """Whether the fake is stopping, or the client has gone."""
        return self.api._stopping.is_set() or self.evicted or peer_closed(self.sock)

    def _step_command(self, step: dict[str, Any]) -> Command:
        """Turn a script step into the command that performs it, generating tweets now."""
        ((kind, value),) = step.items()
        if kind == "tweets":
            tweets = self.api._build_tweets(value)
            if value and not tweets:
                log.warning("script step %r sent nothing: there are no rules", step)
            return Command("tweets", tweets=tweets)
        if kind in ("keepalive", "truncated"):
            return Command(kind, count=value)
        if kind in SECONDS_STEPS:
            return Command(kind, seconds=float(value))
        if kind == "http_error":
            status, count = cast(tuple[int, int], http_error_arguments(value))
            return Command(kind, status=status, count=count)
        return Command(kind if value else "noop")

    def _apply(self, command: Command) -> bool:
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
        return self._write(frame(payload))

    def _send_tweet(self, tweet: TweetLine) -> bool:
        """Write one tweet line as its own chunk, counting it in sent_ids once written."""
        # A write to a socket the client has already closed still succeeds once, so look first:
        # otherwise sent_ids would count a tweet that nobody can read.
        if self._should_end():
            return self._abandon()
        return self.api._record_sent(tweet, self._write_chunk)

    def _send_keepalive(self) -> bool:
        """Write a keep-alive: a bare CRLF."""
        return self._write_chunk(CRLF)

    def _send_truncated(self) -> bool:
        """Write the first half of a tweet's JSON and a CRLF: one line that is not JSON."""
        (tweet,) = self.api._build_tweets(1, need_rules=False)
        text = tweet.message.decode()
        return self._write_chunk(stream_line(text[: len(text) // 2].encode()))

    def _stall(self, seconds: float) -> bool:
        """Send nothing for ``seconds``, keeping the socket open unless the client goes away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._should_end():
                return self._abandon()
            self.api._stopping.wait(min(left, POLL_SECONDS))
        self.next_keepalive = time.monotonic() + self.api.keepalive_interval
        return True

    def _disconnect_operationally(self) -> bool:
        """Send the operational-disconnect error line, then end the chunked response properly."""
        if not self._write_chunk(stream_line(orjson.dumps(OPERATIONAL_DISCONNECT))):
            return False
        # Released before the last chunk: the client reconnects as soon as it reads it, and must
        # not meet its own old connection as a 429.
        self.api._release(self)
        self._write(LAST_CHUNK)
        return False

    def _drop(self) -> bool:
        """Announce a whole tweet chunk, write half of it and close the socket under it."""
        (tweet,) = self.api._build_tweets(1, need_rules=False)
        line = stream_line(tweet.message)
        self.api._release(self)
        self._write(b"%x\r\n" % len(line) + line[: len(line) // 2])
        return self._abandon()

    def _abandon(self) -> bool:
        """End the connection without finishing the response; always False."""
        self.api._release(self)
        self.handler.close_connection = True
        shut(self.sock)
        return False
