"""The hot path of the feed API, ahead of FastAPI: ``GET /api/feeds/{slug}/{key}`` of a flat feed
whose page the hydrated cache holds whole is answered from one Redis round trip, without
FastAPI's routing and parameter machinery (most of a cached page's cost).

It answers only requests whose every parameter is plainly valid, and only with exactly the
bytes the FastAPI route would send; anything else (a page that needs SQL, an aggregated feed, a
parameter FastAPI would refuse or coerce) goes on to the app unchanged.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI

from pipeline.feeds import hydrated, ids
from pipeline.feeds.hydrated_scripts import PAGE_SCRIPT
from pipeline.feeds.pages import ready
from pipeline.feeds.read import FlatFeed
from pipeline.store import redis_client
from pipeline.web.deps import Web
from pipeline.web.feeds_api import (
    CURSOR_DIGITS,
    DEFAULT_LIMIT,
    KEY_LENGTH,
    MAX_LIMIT,
    SLUG,
    flat_json,
)
from pipeline.web.redis_link import RedisLink

# The route's own formats, keys narrowed to ASCII (a key FastAPI's \w admits besides goes on).
PATH = re.compile(rf"/api/feeds/({SLUG})/([A-Za-z0-9_-]{{1,{KEY_LENGTH}}})")
LIMIT = re.compile(r"[1-9][0-9]{0,2}")
CURSOR = re.compile(rf"[0-9]{{1,{CURSOR_DIGITS}}}")


def _params(query: bytes) -> dict[str, str] | None:
    """limit, before and after, if each is given at most once and plainly valid."""
    try:
        pairs = parse_qsl(query.decode("ascii"), strict_parsing=True) if query else []
    except (UnicodeDecodeError, ValueError):
        return None
    found = dict(pairs)
    if len(found) != len(pairs) or not found.keys() <= {"limit", "before", "after"}:
        return None
    if "limit" in found and not (
        LIMIT.fullmatch(found["limit"]) and int(found["limit"]) <= MAX_LIMIT
    ):
        return None
    for name in ("before", "after"):
        if name in found and not CURSOR.fullmatch(found[name]):
            return None
    return found


class Pages:
    """:data:`PAGE_SCRIPT` on a pipelined asyncio connection of this process
    (:class:`RedisLink`), so the event loop serves other requests while Redis answers."""

    SHA = hashlib.sha1(PAGE_SCRIPT.encode()).hexdigest()

    def __init__(self, sync: Any) -> None:
        """On the same server and database as the runtime's client ``sync``."""
        self.redis = RedisLink(sync)

    async def script(self, keys: list[Any], args: list[Any]) -> Any:
        return await self.redis.evalsha(self.SHA, PAGE_SCRIPT, keys, args)


async def cached_body(web: Web, pages: Pages, path: str, query: bytes) -> bytes | None:
    """The response body for a cached page of a flat feed, or None to let the app answer."""
    match = PATH.fullmatch(path)
    params = _params(query) if match else None
    if match is None or params is None or hydrated.for_reads(web.rt) is None:
        return None
    name = f"{match[1]}:{match[2]}"
    if ids.feed_type(name) is not ids.FeedType.FLAT:
        return None
    limit = int(params.get("limit", DEFAULT_LIMIT))
    before, after = (int(params[k]) if k in params else None for k in ("before", "after"))
    mark = web.rt.settings.active_days is not None
    keys, args = hydrated.page_call(name, limit, 0, before, after, mark)
    found = hydrated.reply(await pages.script(keys=keys, args=args))
    page = ready(found, web.rt.settings.enrich_fields) if found is not None else None
    return None if page is None else flat_json(FlatFeed(name, web.rt), page, limit)


class CachedFeedsApp(FastAPI):
    """The FastAPI app, answering :func:`cached_body` hits before any of its middleware or
    routing (most of a cached page's cost); every other request goes through it unchanged."""

    _pages: Pages | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await super().__call__(scope, self._closing(receive), send)
            return
        web: Web = self.state.web
        # The page script reads a feed and the cache in one call: one server, not a cluster.
        fast = not redis_client.is_cluster(web.rt.redis)
        if scope["type"] == "http" and scope["method"] == "GET" and fast:
            if self._pages is None:
                self._pages = Pages(web.rt.redis)
            body = await cached_body(web, self._pages, scope["path"], scope["query_string"])
            if body is not None:
                headers = [(b"content-length", b"%d" % len(body)),
                           (b"content-type", b"application/json")]  # fmt: skip
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await super().__call__(scope, receive, send)

    def _closing(self, receive: Any) -> Any:
        """``receive`` of the lifespan, closing the page connection when the server stops."""

        async def receive_closing() -> Any:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self._pages is not None:
                await self._pages.redis.close()
            return message

        return receive_closing
