"""The status page and a timeline in headless Chromium, as a person would see them, served by a
real ``tweetfeed web`` process over a real worker, PostgreSQL and Redis."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.control import processes
from pipeline.store.engine import transaction
from tests.conftest import CI, Pipeline
from tests.helpers import BIN, ROOT, free_port, served
from tests.scenario import graph_and_stream

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "var" / "screenshots"
# Without these Chromium reaches for Google's hosts at start, which a closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]  # fmt: skip

if CHROMIUM is None:
    if CI:
        pytest.fail("chromium is not installed (CI is set; .ci/run installs it)", pytrace=False)
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def server(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    graph_and_stream(pipeline)
    with transaction(pipeline.db.sessions) as session:
        processes.register(session, "main", "idle")
    port = free_port()
    env = {**pipeline.env, "TWEETFEED_WEB_PORT": str(port)}
    argv = [str(BIN / "tweetfeed"), "web"]
    with served(argv, env, f"http://127.0.0.1:{port}", tmp_path / "web.log") as url:
        yield url


def test_a_person_sees_the_status_page_and_a_timeline(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS,
                                             env={**os.environ, "HOME": str(tmp_path)})  # fmt: skip
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        page.goto(server + "/")
        assert page.title() == "tweetfeed status"
        assert page.locator("h1").inner_text() == "tweetfeed status"
        assert page.locator("svg.chart").is_visible()
        listener = page.locator("#listeners").inner_text()
        assert "main" in listener and "idle: no terms" in listener
        rows = page.locator("#rows").inner_text()
        assert "tweets\t6" in rows and "activities\t6" in rows
        assert page.locator("#queues").inner_text().count("\n") == 4, "a header and four queues"
        assert page.get_by_role("link", name="Flower").first.get_attribute("href") == (
            "http://127.0.0.1:5555")  # fmt: skip
        page.screenshot(path=str(SCREENSHOTS / "status.png"), full_page=True)

        page.goto(server + "/feeds/timeline/1")
        articles = page.locator("article.activity")
        assert articles.count() == 4
        first = articles.nth(0).inner_text()
        assert "User 2" in first and "streams are fun" in first
        assert "retweeted" in articles.nth(1).inner_text()
        page.screenshot(path=str(SCREENSHOTS / "timeline.png"), full_page=True)
        browser.close()
    assert (SCREENSHOTS / "status.png").stat().st_size > 10_000
