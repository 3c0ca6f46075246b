"""Enrichment of references an activity's ``extra`` holds (TWEETFEED_ENRICH_FIELDS, stream-django's
``Enrich(fields=[...])``) and the template prefix of ``render_activity``, through a real worker,
Redis, PostgreSQL and the web app: the cached hot path, the route, SQL reads and groups agree."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from pipeline.feeds import enrich
from pipeline.feeds.read import FlatFeed, NotificationFeed, get_feed
from pipeline.web import fast
from tests.conftest import Pipeline
from tests.scenario import graph_and_stream, send
from tests.web.test_web import client_for

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
FIELDS = ("parent_tweet", "photo", "count")
LIKE = {"actor": "user:3", "verb": "like", "object": "tweet:105", "foreign_id": "like:1",
        "to": ["notification:2"],
        "extra": {"note": "not a field", "parent_tweet": "tweet:101", "count": 3,
                  "photo": "photo:9", "gone": "tweet:1"}}  # fmt: skip


@pytest.fixture
def liked(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    graph_and_stream(pipeline)
    send(pipeline, "tweetfeed.add_activity", **LIKE)
    photos = lambda session, keys: {k: {"photo": k} for k in keys}  # noqa: E731
    monkeypatch.setitem(enrich._ENRICHERS, "photo", photos)
    return pipeline


def newest(client: TestClient, feed: str, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/api/feeds/{feed}", params={"limit": 1, **params}).json()
    return found["activities"][0]


def hot(client: TestClient, path: str) -> bytes | None:
    state = client.app.state.web  # type: ignore[attr-defined]
    return asyncio.run(fast.cached_body(state, fast.Pages(state.rt.redis), path, b"limit=1"))


def test_the_listed_extra_fields_are_enriched_everywhere_a_feed_is_read(liked: Pipeline) -> None:
    with client_for(liked) as plain:
        assert newest(plain, "user/3")["extra_data"] == {}, "no field is enriched by default"
    with client_for(liked, enrich_fields=FIELDS) as client:
        route = client.get("/api/feeds/user/3?limit=1&via=route").content
        (like,) = orjson.loads(route)["activities"]
        assert like["extra"] == LIKE["extra"]
        assert list(like["extra_data"]) == ["parent_tweet", "photo"], "count holds no reference"
        assert like["extra_data"]["parent_tweet"]["text"] == "hello #Python"
        assert like["extra_data"]["photo"] == {"photo": "9"}
        assert client.get("/api/feeds/user/3?limit=1").content == route
        assert hot(client, "/api/feeds/user/3") is None, "an app's own kind is loaded each time"
    with client_for(liked, enrich_fields=("parent_tweet",)) as client:
        route = client.get("/api/feeds/user/3?limit=1&via=route").content
        assert orjson.loads(route)["activities"][0]["extra_data"]["parent_tweet"]["id"] == "101"
        assert hot(client, "/api/feeds/user/3") == route, "served from the cache, byte for byte"
    rt = liked.runtime()
    rt = replace(rt, settings=replace(rt.settings, enrich_fields=FIELDS))
    timeline = get_feed("user:3", rt)
    assert isinstance(timeline, FlatFeed)
    assert timeline[0].extra_data["parent_tweet"]["text"] == "hello #Python"
    sql = replace(rt, settings=replace(rt.settings, feed_backend="sql", read_cache_seconds=0))
    from_sql = get_feed("user:3", sql)
    assert isinstance(from_sql, FlatFeed)
    assert from_sql[0].as_json() == timeline[0].as_json()
    notes = get_feed("notification:2", rt)
    assert isinstance(notes, NotificationFeed)
    assert notes[:][0].activities[0].extra_data["photo"] == {"photo": "9"}


def test_a_template_prefix_picks_prefixed_templates_and_falls_back(
    liked: Pipeline, tmp_path: Path
) -> None:
    (tmp_path / "activity").mkdir()
    (tmp_path / "activity" / "homepage_like.html").write_text(
        "<p class=home>{{ activity.actor }} liked a reply to "
        "{{ activity.extra_data.parent_tweet.text }}</p>"
    )
    with client_for(liked, template_dir=str(tmp_path), enrich_fields=FIELDS) as client:
        html = client.get("/feeds/user/3", params={"prefix": "homepage"}).text
        assert "<p class=home>user:3 liked a reply to hello #Python</p>" in html
        assert 'class="activity verb-retweet"' in html, "no homepage_retweet.html: retweet.html"
        assert "class=home" not in client.get("/feeds/user/3").text
        assert client.get("/feeds/user/3", params={"prefix": "../x"}).status_code == 422
