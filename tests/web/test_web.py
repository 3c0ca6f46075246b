"""The web face over HTTP (httpx through FastAPI's TestClient) against real PostgreSQL, Redis and
a real worker: status, feeds, marks, terms, follows, auth, templates, and no secret anywhere."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.errors import InvalidSchema

from pipeline.control import apikeys, redis_keys
from pipeline.feeds import enrich, hydrated
from pipeline.feeds.read import get_feed
from pipeline.store import deadletters
from pipeline.store.engine import transaction
from pipeline.web import fast
from pipeline.web.app import create_app
from tests.conftest import Pipeline
from tests.factories import line, v1_retweet, v1_tweet, v2_line
from tests.helpers import wait_until
from tests.scenario import T0, graph_and_stream, listen, send

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
TOKEN = "token-that-must-never-leak"
SECRET = "api-secret-that-must-never-leak"


def client_for(p: Pipeline, bind_host: str = "127.0.0.1", **overrides: Any) -> TestClient:
    rt = p.runtime()
    rt = replace(rt, settings=replace(rt.settings, **overrides))
    return TestClient(create_app(rt.settings, rt, bind_host=bind_host))


@pytest.fixture
def web(pipeline: Pipeline) -> Iterator[TestClient]:
    graph_and_stream(pipeline)
    with client_for(pipeline, api_token=TOKEN) as client:
        yield client


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_status_api_reports_rows_queues_workers_terms_and_dead_letters(
    web: TestClient, pipeline: Pipeline
) -> None:
    with transaction(pipeline.db.sessions) as session:
        deadletters.record(session, "test", "invalid JSON: test", b"{")
    assert web.post("/api/terms", json={"term": "python"}, headers=AUTH).status_code == 201
    facts = wait_until(lambda: (f := web.get("/api/status").json())["workers"] and f, 20,
                       "the worker's heartbeat")  # fmt: skip
    assert facts["rows"]["tweets"] == 6 and facts["rows"]["activities"] == 6
    assert set(facts["queues"]) == {"ingest", "fanout", "fanout_low", "control"}
    assert facts["workers"][0]["hostname"].startswith("test-postgresql@")
    assert [(t["term"], t["per_minute"]) for t in facts["terms"]] == [("python", 0)]
    assert len(facts["per_minute"]) == 60
    assert facts["dead_letters"]["count"] == 1
    assert facts["dead_letters"]["latest"][0]["reason"] == "invalid JSON: test"
    assert facts["flower_url"] == "http://127.0.0.1:5555"


def test_the_status_page_is_html_with_a_chart_and_refreshes_itself(web: TestClient) -> None:
    page = web.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta http-equiv="refresh"' in html
    assert "<svg" in html and "tweets per minute over the last hour" in html
    assert 'href="http://127.0.0.1:5555"' in html
    assert "http://" not in html.replace("http://127.0.0.1:5555", "").replace(
        "http://www.w3.org", ""), "no external assets"  # fmt: skip


def test_each_term_has_its_own_chart_of_the_last_hour(pipeline: Pipeline) -> None:
    with client_for(pipeline, api_token=TOKEN) as web:
        for term in ("python", 'rust <"b">'):
            assert web.post("/api/terms", json={"term": term}, headers=AUTH).status_code == 201
        python, rust = (t["id"] for t in web.get("/api/terms").json())
        listen(pipeline, [v2_line(200 + i, 2, f"tweet {i}", T0, terms=(python,) if i % 3 else
                                  (python, rust)) for i in range(9)])  # fmt: skip
        # A minute passes: the counts the replay kept for this minute become the last one's.
        minute = int(time.time() // 60)
        if pipeline.redis.exists(redis_keys.rate(minute)):  # else the minute has just passed
            pipeline.redis.rename(redis_keys.rate(minute), redis_keys.rate(minute - 1))
        terms = {t["term"]: t for t in web.get("/api/status").json()["terms"]}
        assert [len(t["last_hour"]) for t in terms.values()] == [60, 60]
        assert terms["python"]["last_hour"][-1] == terms["python"]["per_minute"] == 9
        assert terms['rust <"b">']["last_hour"][-1] == 3 and sum(terms["python"]["last_hour"]) == 9
        html = web.get("/").text
    assert 'aria-label="python: 9 tweets in the last hour, peak 9/min"' in html
    assert "rust &lt;&#34;b&#34;&gt;: 3 tweets in the last hour" in html


def test_a_flat_feed_pages_by_cursor_as_enriched_json(web: TestClient) -> None:
    first = web.get("/api/feeds/timeline/1", params={"limit": 2}).json()
    assert first["type"] == "flat"
    assert [a["foreign_id"] for a in first["activities"]] == ["tweet:105", "tweet:103"]
    assert first["activities"][0]["object_data"]["text"] == "streams are fun"
    assert first["activities"][0]["actor_data"]["screen_name"] == "user2"
    rest = web.get("/api/feeds/timeline/1", params={"before": first["next_before"]}).json()
    assert [a["foreign_id"] for a in rest["activities"]] == ["tweet:102", "tweet:101"]
    assert rest["next_before"] is None
    assert web.get("/api/feeds/timeline/1", params={"before": "999999"}).status_code == 404
    assert web.get("/api/feeds/timeline/no%20pe").status_code == 422


def test_a_cached_page_is_answered_as_the_api_route_answers_it(
    web: TestClient, pipeline: Pipeline
) -> None:
    """The cached hot path (``pipeline.web.fast``) sends exactly the route's bytes; a parameter
    it does not take plainly (here an unknown one) leaves the request to the FastAPI route."""
    for query in ("limit=2", "limit=1&before=0", "after=1"):
        cold = web.get(f"/api/feeds/timeline/1?{query}&via=route")
        if cold.status_code != 200:
            continue
        hot = web.get(f"/api/feeds/timeline/1?{query}")
        assert hot.status_code == 200 and hot.content == cold.content
        assert hot.headers["content-type"] == cold.headers["content-type"] == "application/json"
    first = web.get("/api/feeds/timeline/1", params={"limit": 2}).json()
    older = web.get("/api/feeds/timeline/1", params={"limit": 2, "before": first["next_before"]})
    assert (
        older.content
        == web.get(
            "/api/feeds/timeline/1", params={"limit": 2, "before": first["next_before"], "via": "x"}
        ).content
    )
    # The hot path itself answered: it holds the page, byte for byte the route's.
    state = web.app.state.web  # type: ignore[attr-defined]
    hot_body = asyncio.run(
        fast.cached_body(state, fast.Pages(state.rt.redis), "/api/feeds/timeline/1", b"limit=2")
    )
    assert hot_body == web.get("/api/feeds/timeline/1?limit=2&via=route").content
    with client_for(pipeline, read_cache_seconds=0) as plain:
        assert (
            plain.get("/api/feeds/timeline/1?limit=3").content
            == web.get("/api/feeds/timeline/1?limit=3").content
        )


def _hot(web: TestClient, query: bytes) -> bytes | None:
    state = web.app.state.web  # type: ignore[attr-defined]
    pages = fast.Pages(state.rt.redis)
    return asyncio.run(fast.cached_body(state, pages, "/api/feeds/timeline/1", query))


def test_the_page_script_leaves_to_the_route_what_the_cache_cannot_answer_whole(
    web: TestClient, pipeline: Pipeline
) -> None:
    """The Lua that joins a cached page answers 'slow' for a cached object gone from the cache and
    for a reference of a kind an app loads itself; the route then answers (and refills)."""
    route = web.get("/api/feeds/timeline/1?limit=2&via=route").content
    assert _hot(web, b"limit=2") == route
    (actor,) = {a["actor"] for a in orjson.loads(route)["activities"][:1]}
    assert pipeline.redis.delete(f"{hydrated.PREFIX}b:o:{actor}") == 1
    assert _hot(web, b"limit=2") is None
    assert web.get("/api/feeds/timeline/1?limit=2").content == route  # the route refilled it
    assert _hot(web, b"limit=2") == route
    send(pipeline, "tweetfeed.add_activity", actor="user:2", verb="watch", object="film:7",
         foreign_id="watch:1")  # fmt: skip
    enrich.register_enricher(
        "film", lambda session, keys: {k: {"title": f"film {k}"} for k in keys}
    )
    try:
        assert _hot(web, b"limit=1") is None
        (watched,) = web.get("/api/feeds/timeline/1?limit=1").json()["activities"]
        assert watched["object_data"] == {"title": "film 7"}
        assert _hot(web, b"limit=1") is None, "an app's own kind is never served from the cache"
    finally:
        del enrich._ENRICHERS["film"]
    # No loader: the reference enriches to null, and the cache answers the page.
    hot = _hot(web, b"limit=1")
    assert hot is not None and orjson.loads(hot)["activities"][0]["object_data"] is None
    assert hot == web.get("/api/feeds/timeline/1?limit=1&via=route").content


def test_notification_groups_carry_counts_and_marks_need_the_token(web: TestClient) -> None:
    feed = web.get("/api/feeds/notification/2").json()
    assert (feed["type"], feed["unseen"], feed["unread"]) == ("notification", 1, 1)
    (group,) = feed["groups"]
    assert (group["verb"], group["actor_count"], group["object"]) == ("retweet", 2, "tweet:101")
    assert web.post("/api/feeds/notification/2/seen").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert web.post("/api/feeds/notification/2/seen", headers=wrong).status_code == 401
    seen = web.post("/api/feeds/notification/2/seen", headers=AUTH).json()
    assert (seen["marked"], seen["unseen"], seen["unread"]) == (1, 0, 1)
    read = web.post("/api/feeds/notification/2/read", headers=AUTH,
                    json={"groups": [group["id"]]}).json()  # fmt: skip
    assert (read["marked"], read["unread"]) == (1, 0)


def test_an_aggregated_feed_groups_by_the_key_its_slug_is_given(
    web: TestClient, pipeline: Pipeline
) -> None:
    keys = (("notification", ("actor", "verb", "hour")), ("timeline_aggregated", ("actor", "day")))
    default = [(g["verb"], g["object"], g["actors"])
               for g in web.get("/api/feeds/timeline_aggregated/1").json()["groups"]]  # fmt: skip
    assert len(default) == 4, "verb + object + day"
    with client_for(pipeline, api_token=TOKEN, aggregation_keys=keys) as custom:
        groups = custom.get("/api/feeds/timeline_aggregated/1").json()["groups"]
        assert [(g["actors"], g["activity_count"], g["group"]) for g in groups] == [
            (["user:2"], 2, "actor=user:2 day=2023-11-14"),
            (["user:3"], 2, "actor=user:3 day=2023-11-14"),
        ]
        notes = custom.get("/api/feeds/notification/2").json()
        assert [(g["actors"], g["verb"]) for g in notes["groups"]] == [
            (["user:4"], "retweet"), (["user:3"], "retweet")]  # fmt: skip
        assert notes["unread"] == 2
        first = notes["groups"][0]["id"]
        marked = custom.post("/api/feeds/notification/2/read", headers=AUTH,
                             json={"groups": [first]}).json()  # fmt: skip
        assert (marked["marked"], marked["unread"]) == (1, 1)
    rt = pipeline.runtime()
    rt = replace(rt, settings=replace(rt.settings, aggregation_keys=keys))
    assert [g.actors for g in get_feed("timeline_aggregated:1", rt)[:]] == [["user:2"], ["user:3"]]


def test_without_a_token_only_a_loopback_server_accepts_writes(pipeline: Pipeline) -> None:
    with client_for(pipeline, bind_host="0.0.0.0") as public:
        refused = public.post("/api/terms", json={"term": "x"})
        assert refused.status_code == 403 and "TWEETFEED_API_TOKEN" in refused.text
        assert public.get("/api/terms").status_code == 200, "reads stay open"
    with client_for(pipeline, bind_host="127.0.0.1") as local:
        assert local.post("/api/terms", json={"term": "x"}).status_code == 201


def test_terms_and_follows_are_managed_over_the_api(web: TestClient, pipeline: Pipeline) -> None:
    assert web.post("/api/terms", json={"term": "  rust  "}, headers=AUTH).json()["term"] == "rust"
    assert [t["term"] for t in web.get("/api/terms").json()] == ["rust"]
    assert web.post("/api/terms", json={"term": "   "}, headers=AUTH).status_code == 422
    assert pipeline.redis.get("{tweetfeed}:terms:fingerprint") is not None, "listeners were told"
    assert web.delete("/api/terms", params={"term": "rust"}, headers=AUTH).status_code == 204
    assert web.delete("/api/terms", params={"term": "rust"}, headers=AUTH).status_code == 404
    queued = web.post("/api/follows", json={"feed": "timeline:8", "target": "user:3"},
                      headers=AUTH)  # fmt: skip
    assert queued.status_code == 202 and queued.json()["task"] == "tweetfeed.follow"
    pipeline.wait_settled()
    timeline = web.get("/api/feeds/timeline/8").json()
    assert [a["foreign_id"] for a in timeline["activities"]] == ["tweet:103", "tweet:102"]
    gone = web.delete("/api/follows", params={"feed": "timeline:8", "target": "user:3"},
                      headers=AUTH)  # fmt: skip
    assert gone.status_code == 202
    pipeline.wait_settled()
    assert web.get("/api/feeds/timeline/8").json()["activities"] == []
    bad = web.post("/api/follows", json={"feed": "timeline:8", "target": "nope"}, headers=AUTH)
    assert bad.status_code == 422


def test_a_nul_byte_or_a_huge_term_is_refused_briefly_not_a_server_error(web: TestClient) -> None:
    # PostgreSQL text cannot hold NUL; schemathesis found these as 500s now and then.
    assert web.post("/api/terms", json={"term": "a\u0000b"}, headers=AUTH).status_code == 422
    assert web.delete("/api/terms", params={"term": "\x00"}, headers=AUTH).status_code == 422
    huge = web.post("/api/terms", json={"term": "x" * 100_000}, headers=AUTH)
    assert huge.status_code == 422 and len(huge.content) < 2000, "the input is not echoed whole"
    assert huge.json()["detail"][0]["input"].endswith("… (100,000 long)")
    assert web.get("/api/terms").json() == []


def test_timelines_render_per_verb_templates_that_a_user_can_override(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    graph_and_stream(pipeline)
    with client_for(pipeline) as client:
        html = client.get("/feeds/timeline/1").text
        assert 'class="activity verb-retweet"' in html and "retweeted" in html
        assert "streams are fun" in html and "User 2" in html
        grouped = client.get("/feeds/notification/2").text
        assert "and 1 other retweeted" in grouped and "1 unseen, 1 unread" in grouped
    (tmp_path / "activity").mkdir()
    (tmp_path / "activity" / "tweet.html").write_text("<p class=mine>{{ activity.object }}</p>")
    with client_for(pipeline, template_dir=str(tmp_path)) as client:
        html = client.get("/feeds/user/2").text
        assert "<p class=mine>tweet:105</p>" in html, "the user's template wins"
        assert "<p class=mine>tweet:101</p>" in html


def test_a_retweet_whose_original_is_not_stored_shows_its_own_text(pipeline: Pipeline) -> None:
    """Without TWEETFEED_CAPTURE_EMBEDDED the original is not stored: the timeline shows the
    retweet's own tweet (``RT @author: …``) and who retweeted it, not a bare reference."""
    original = v1_tweet(1879011587732241247, "an original nobody stored", 9,
                        timestamp_ms=1_700_000_000_000)  # fmt: skip
    listen(pipeline, [line(v1_retweet(1879011587732241300, original, 8, 1_700_000_001_000))])
    with client_for(pipeline) as client:
        for path in ("/feeds/user/8", "/feeds/notification/9"):
            html = client.get(path).text
            assert "RT @user9: an original nobody stored" in html, path
            assert "User 8" in html and "retweeted" in html, path
            assert "tweet:1879011587732241247" not in html, path
        (activity,) = client.get("/api/feeds/user/8").json()["activities"]
        assert activity["object"] == "tweet:1879011587732241247"
        assert activity["object_data"] is None, "the original is not stored"
        own = activity["foreign_data"]
        assert (own["id"], own["author_id"]) == ("1879011587732241300", "8")
        assert own["text"] == "RT @user9: an original nobody stored"
        assert own["retweeted_id"] == "1879011587732241247"


def test_no_secret_appears_in_any_response_or_the_openapi_document(
    web: TestClient, pipeline: Pipeline
) -> None:
    with transaction(pipeline.db.sessions) as session:
        apikeys.add(session, "main", pipeline.runtime().settings, bearer_token=SECRET,
                    api_secret=SECRET)  # fmt: skip
    paths = ["/", "/api/status", "/openapi.json", "/api/terms", "/feeds/timeline/1",
             "/api/feeds/timeline/1"]  # fmt: skip
    bodies = [web.get(path).text for path in paths]
    for body in bodies:
        assert SECRET not in body and TOKEN not in body
    shown = repr(replace(pipeline.runtime().settings, api_token=TOKEN, flower_auth="u:" + SECRET))
    assert TOKEN not in shown and SECRET not in shown and "api_token='***'" in shown


def operation_of(
    result: Ok[schemathesis.APIOperation] | Err[InvalidSchema],
) -> schemathesis.APIOperation:
    """The operation, or the schema's own error about it when it cannot be built."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def test_no_request_the_openapi_document_allows_gets_a_server_error(web: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", web.app)
    operations = [operation_of(result) for result in schema.get_all_operations()]
    assert len(operations) >= 9, "every documented operation is exercised"
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def no_server_error(case: Any) -> None:
            response = case.call_and_validate(headers=AUTH, checks=[not_a_server_error])
            statuses.append(response.status_code)

        no_server_error()
    assert len(statuses) > 5 * len(operations) and {200, 422} <= set(statuses), statuses


def test_each_public_task_has_its_payload_schema_served(web: TestClient) -> None:
    names = web.get("/api/schemas").json()
    assert "tweetfeed.add_activity" in names and "tweetfeed.fanout_chunk" not in names
    for name in names:
        schema = web.get(f"/api/schemas/{name}").json()
        assert schema["$schema"].endswith("2020-12/schema") and schema["title"] == name
    assert web.get("/api/schemas/tweetfeed.fanout_chunk").status_code == 404
