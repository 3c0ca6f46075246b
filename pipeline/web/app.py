"""``tweetfeed web``: the status page, the feed API and HTML timelines (FastAPI on uvicorn)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis as redis_lib
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment

from pipeline.bus.client import Client
from pipeline.control import status
from pipeline.feeds.read import Source
from pipeline.settings import Settings, get_settings
from pipeline.store.engine import sessionmaker_for
from pipeline.web.render import environment

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Web:
    """What every request shares: settings, reads, Redis, templates, a task client."""

    settings: Settings
    source: Source
    bind_host: str
    templates: Environment
    broker: Any = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        """Sends the public feed tasks, as any other app would."""
        if self._client is None:
            self._client = Client(self.settings.celery_broker_url)
        return self._client


def web(request: Request) -> Web:
    return request.app.state.web  # type: ignore[no-any-return]


WebDep = Annotated[Web, Depends(web)]
_bearer = HTTPBearer(auto_error=False)


def writer(
    app: WebDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Writes need TWEETFEED_API_TOKEN as a bearer token; with no token configured, only a
    server bound to the loopback interface accepts them."""
    token = app.settings.api_token
    if token is None:
        if app.bind_host not in LOOPBACK:
            raise HTTPException(403, "writes are refused: set TWEETFEED_API_TOKEN")
        return
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})


Writer = Depends(writer)


def create_app(
    settings: Settings | None = None, source: Source | None = None, bind_host: str | None = None
) -> FastAPI:
    """The ASGI app. ``bind_host`` is the address the server listens on (for the write rule)."""
    from pipeline.web import admin_api, feeds_api

    settings = settings or get_settings()
    source = source or Source(
        sessionmaker_for(settings.database_url), redis_lib.Redis.from_url(settings.redis_url),
        settings,
    )  # fmt: skip
    app = FastAPI(
        title="tweetfeed",
        version="0.1.0",
        description="Status, feeds, filter terms and follows of a tweetfeed pipeline.",
    )
    templates = environment(settings.template_dir)
    broker = None
    if settings.celery_broker_url != settings.redis_url:
        broker = redis_lib.Redis.from_url(settings.celery_broker_url)
    app.state.web = Web(settings, source, bind_host or settings.web_host, templates, broker)
    app.include_router(feeds_api.router)
    app.include_router(admin_api.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def status_page(app_: WebDep) -> HTMLResponse:
        facts = _status(app_)
        return HTMLResponse(app_.templates.get_template("status.html").render(facts=facts))

    @app.get("/api/status", tags=["status"])
    def status_json(app_: WebDep) -> dict[str, Any]:
        """Listeners, terms with tweets per minute, the last hour per minute, queue depths,
        workers online, dead letters, row counts, Flower's address."""
        return _status(app_)

    return app


def _status(app: Web) -> dict[str, Any]:
    return status.gather(app.settings, app.source.redis, app.source.sessions, app.broker)
