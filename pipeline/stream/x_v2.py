"""The ``x-v2`` source: tweepy's StreamingClient, pointed at a configurable base URL.

tweepy hard-codes ``https://api.twitter.com``. A transport adapter on its requests session
rewrites that prefix, which covers the stream and the rules endpoints alike without touching
tweepy's own code. tweepy's retry loop is cut after every failed attempt (``disconnect`` in the
error hooks), so that our supervisor applies the API's backoff and attempt limits.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any, Protocol

import requests
import tweepy
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)
REAL_BASE = "https://api.twitter.com"
FILTER_PARAMS = {
    "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id,"
    "entities.mentions.username,in_reply_to_user_id",
    "tweet_fields": "author_id,created_at,lang,entities,referenced_tweets,conversation_id,"
    "in_reply_to_user_id,note_tweet,public_metrics",
    "user_fields": "username,name,description,location,public_metrics,verified,"
    "profile_image_url,created_at",
}


class StreamEvents(Protocol):
    """What the supervisor hears from a stream; none of these may raise."""

    def connected(self) -> None: ...
    def data(self, line: bytes) -> None: ...
    def keep_alive(self) -> None: ...
    def http_error(self, status: int, body: str) -> None: ...
    def network_error(self, error: str) -> None: ...
    def closed(self) -> None: ...


class BaseUrlAdapter(HTTPAdapter):
    """Sends requests meant for the real API to ``base_url``; remembers the last response."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.response: requests.Response | None = None

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if request.url and request.url.startswith(REAL_BASE):
            request.url = self.base_url + request.url[len(REAL_BASE) :]
        response = super().send(request, **kwargs)
        self.response = response
        return response


class XStream(tweepy.StreamingClient):  # type: ignore[misc]
    """A StreamingClient whose hooks report to ``events`` and never raise."""

    def __init__(self, bearer_token: str, base_url: str, events: StreamEvents) -> None:
        super().__init__(bearer_token, wait_on_rate_limit=False)
        self.events = events
        self.adapter = BaseUrlAdapter(base_url)
        self.session.mount(REAL_BASE, self.adapter)
        self._closing = threading.Lock()

    def __repr__(self) -> str:
        return f"XStream(base_url={self.adapter.base_url!r}, token=***)"

    def on_connect(self) -> None:
        self.events.connected()

    def on_data(self, raw_data: bytes) -> None:
        # An exception here would end tweepy's stream for good.
        try:
            self.events.data(raw_data)
        except Exception:
            log.exception("the batcher refused a line; it is kept in the spool")

    def on_keep_alive(self) -> None:
        self.events.keep_alive()

    def on_request_error(self, status_code: int) -> None:
        response = self.adapter.response
        body = response.text[:500] if response is not None else ""
        self.events.http_error(status_code, body)
        self.disconnect()

    def on_connection_error(self) -> None:
        self.events.network_error("connection error or read timeout")
        self.disconnect()

    def on_closed(self, response: requests.Response) -> None:
        self.events.closed()
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        self.events.network_error(f"{type(exception).__name__}: {exception}")

    def force_close(self) -> None:
        """End the connection now, even if no byte is coming (``disconnect`` alone would wait
        for the next line or tweepy's 21 s read timeout)."""
        self.disconnect()
        response = self.adapter.response
        connection = getattr(getattr(response, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def stream(self) -> None:
        """Connect and read until disconnected; the caller decides whether to come back."""
        self.filter(threaded=False, **FILTER_PARAMS)
