"""Feed reads over HTTP: enriched JSON, HTML timelines, and notification marks."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from pipeline.feeds import ids
from pipeline.feeds.pages import Page
from pipeline.feeds.read import (
    AggregatedFeed,
    CursorError,
    Feed,
    FlatFeed,
    NotificationFeed,
    get_feed,
)
from pipeline.web.deps import WebDep, Writer

router = APIRouter(tags=["feeds"])
# What the routes accept; ``pipeline.web.fast`` answers only requests within these too.
SLUG = r"[a-z][a-z0-9_]{0,31}"
KEY_LENGTH = 150
MAX_LIMIT = 100
DEFAULT_LIMIT = 25
CURSOR_DIGITS = 18  # an activity id: a positive 64-bit integer has at most 19 digits
Slug = Annotated[str, Path(pattern=f"^{SLUG}$", description="feed type")]
Key = Annotated[
    str, Path(pattern=rf"^[\w-]{{1,{KEY_LENGTH}}}$", description="feed key, e.g. a user id")
]
Cursor = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9_-]{1,64}$",
          description="an activity id (flat feeds) or a group id (aggregated feeds)"),
]  # fmt: skip
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Prefix = Annotated[
    str | None,
    Query(pattern=r"^[a-z][a-z0-9_]{0,31}$",
          description="render with activity/<prefix>_<verb>.html where there is one"),
]  # fmt: skip


class MarkRequest(BaseModel):
    """Which groups to mark; leave ``groups`` out to mark them all."""

    groups: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=500)


def _feed(app: Any, slug: str, key: str) -> Feed:
    try:
        return get_feed(f"{slug}:{key}", app.rt)
    except ids.FeedError as exc:
        raise HTTPException(400, str(exc)) from None


def _activity_cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > CURSOR_DIGITS:
        raise HTTPException(400, f"{value!r} is not an activity id")
    return int(value)


def flat_page(feed: FlatFeed, limit: int, before: str | None, after: str | None) -> Page:
    try:
        return feed.read_page(limit, before=_activity_cursor(before), after=_activity_cursor(after))
    except CursorError as exc:
        raise HTTPException(404, str(exc)) from None


def flat_json(feed: FlatFeed, page: Page, limit: int) -> bytes:
    """The page as the API's JSON, built as bytes: the activities come ready from the cache."""
    last = str(page.last_id) if len(page) == limit else None
    return b"".join((
        b'{"feed":', orjson.dumps(feed.feed), b',"type":"flat","activities":', page.json(),
        b',"next_before":', orjson.dumps(last), b"}",
    ))  # fmt: skip


def groups(feed: AggregatedFeed, limit: int, before: str | None, after: str | None
) -> tuple[list[Any], dict[str, Any]]:  # fmt: skip
    """One page of an aggregated feed: the groups, and the page as JSON, with the cursor of
    the next (older) page when there is one."""
    counts: dict[str, int] = {}
    try:
        if isinstance(feed, NotificationFeed):
            items, counts = feed.page_with_counts(limit, before=before, after=after)
        else:
            items = feed.page(limit, before=before, after=after)
    except CursorError as exc:
        raise HTTPException(404, str(exc)) from None
    kind = ids.feed_type(feed.feed).value
    last = str(items[-1].id) if len(items) == limit else None
    body = {"groups": [i.as_json() for i in items], **counts}
    return items, {"feed": feed.feed, "type": kind, **body, "next_before": last}


@router.get("/api/feeds/{slug}/{key}", response_class=Response,
            responses={200: {"content": {"application/json": {}}}})  # fmt: skip
async def read_feed(
    app: WebDep, slug: Slug, key: Key, limit: Limit = DEFAULT_LIMIT, before: Cursor = None,
    after: Cursor = None,
) -> Response:  # fmt: skip
    """Newest first, enriched with the tweets and users it references. Aggregated and
    notification feeds return groups; notification feeds add ``unseen`` and ``unread``."""
    feed = _feed(app, slug, key)
    if isinstance(feed, FlatFeed):
        # A page the cache holds whole is one Redis round trip, answered on the event loop;
        # anything that needs SQL goes to the thread pool.
        cursors = _activity_cursor(before), _activity_cursor(after)
        page = feed.cached_page(limit, before=cursors[0], after=cursors[1])
        if page is None:
            page = await run_in_threadpool(flat_page, feed, limit, before, after)
        body = flat_json(feed, page, limit)
    else:
        body = await run_in_threadpool(lambda: orjson.dumps(groups(feed, limit, before, after)[1]))
    return Response(body, media_type="application/json")


def _mark(app: Any, key: str, kind: str, body: MarkRequest | None) -> dict[str, Any]:
    feed = _feed(app, "notification", key)
    assert isinstance(feed, NotificationFeed)
    groups = body.groups if body else None
    marked = feed.mark_seen(groups) if kind == "seen" else feed.mark_read(groups)
    return {"feed": feed.feed, "marked": marked, **feed.counts()}


@router.post("/api/feeds/notification/{key}/seen", dependencies=[Writer])
def mark_seen(app: WebDep, key: Key, body: MarkRequest | None = None) -> dict[str, Any]:
    """Mark every group (or the listed ones) seen."""
    return _mark(app, key, "seen", body)


@router.post("/api/feeds/notification/{key}/read", dependencies=[Writer])
def mark_read(app: WebDep, key: Key, body: MarkRequest | None = None) -> dict[str, Any]:
    """Mark every group (or the listed ones) read, and so seen."""
    return _mark(app, key, "read", body)


@router.get("/feeds/{slug}/{key}", response_class=HTMLResponse)
def timeline_page(
    app: WebDep,
    slug: Slug,
    key: Key,
    limit: Limit = DEFAULT_LIMIT,
    before: Cursor = None,
    prefix: Prefix = None,
) -> HTMLResponse:
    """The feed as an HTML page, each activity rendered by its verb's template (by
    ``<prefix>_<verb>.html`` first, given a ``prefix``)."""
    feed = _feed(app, slug, key)
    items: list[Any]
    if isinstance(feed, FlatFeed):
        page = flat_page(feed, limit, before, None)
        items, last = page.enriched(), page.last_id if len(page) == limit else None
        body: dict[str, Any] = {"next_before": None if last is None else str(last)}
    else:
        items, body = groups(feed, limit, before, None)
    html = app.templates.get_template("timeline.html").render(
        feed=feed.feed, kind=ids.feed_type(feed.feed).value, items=items, prefix=prefix,
        next_before=body["next_before"],
        counts={k: body[k] for k in ("unseen", "unread") if k in body},
    )  # fmt: skip
    return HTMLResponse(html)
