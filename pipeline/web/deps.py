"""What every request of the web app depends on: the shared state, and the write rule.

Routers import their dependencies from here, never from ``app``, so no import cycle runs
between the app and its routers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment

from pipeline.bus.client import Client
from pipeline.runtime import Runtime
from pipeline.settings import Settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class Web:
    """What every request shares: settings, the runtime (SQL, Redis), templates, a task client."""

    settings: Settings
    rt: Runtime
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


async def web(request: Request) -> Web:
    # Async: FastAPI would run a plain function on its thread pool, for every request.
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
