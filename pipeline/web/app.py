"""``tweetfeed web``: the status page, the feed API and HTML timelines (FastAPI on uvicorn)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from pipeline.bus import depths
from pipeline.control import status
from pipeline.runtime import Runtime
from pipeline.settings import Settings, get_settings
from pipeline.web import admin_api, feeds_api, schemas_api
from pipeline.web.deps import Web, WebDep
from pipeline.web.fast import CachedFeedsApp
from pipeline.web.render import environment


def create_app(
    settings: Settings | None = None, rt: Runtime | None = None, bind_host: str | None = None
) -> FastAPI:
    """The ASGI app. ``bind_host`` is the address the server listens on (for the write rule)."""
    settings = settings or get_settings()
    rt = rt or Runtime.from_settings(settings)
    app = CachedFeedsApp(
        title="tweetfeed",
        version="0.1.0",
        description="Status, feeds, filter terms and follows of a tweetfeed pipeline.",
    )
    templates = environment(settings.template_dir)
    broker = depths.broker_of(settings.celery_broker_url, settings.redis_url, rt.redis)
    app.state.web = Web(settings, rt, bind_host or settings.web_host, templates, broker)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.include_router(feeds_api.router)
    app.include_router(admin_api.router)
    app.include_router(schemas_api.router)

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


# A 422 quotes what it refused up to this many characters, not a 100 kB body back.
ECHO_LIMIT = 200


def _clip(value: Any) -> Any:
    if isinstance(value, str | bytes) and len(value) > ECHO_LIMIT:
        return f"{value[:ECHO_LIMIT]!s}… ({len(value):,} long)"
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        clipped = [_clip(v) for v in value[:ECHO_LIMIT]]
        return clipped + ([f"… ({len(value):,} items)"] if len(value) > ECHO_LIMIT else [])
    return value


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, with long inputs cut short."""
    assert isinstance(exc, RequestValidationError)
    errors = [{**e, "input": _clip(e.get("input"))} if "input" in e else e for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(errors)})


def app_from_env() -> FastAPI:
    """The app as each ``tweetfeed web`` worker process builds it: from the environment."""
    settings = get_settings()
    return create_app(settings, bind_host=settings.web_host)


def _status(app: Web) -> dict[str, Any]:
    return status.gather(app.settings, app.rt.redis, app.rt.sessions, app.broker)
