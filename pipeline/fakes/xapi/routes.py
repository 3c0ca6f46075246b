"""The fake X API's HTTP side: the loopback server, and the handler that routes the stream, the
rules endpoint and the ``/_fake/`` control endpoints (for a fake run as its own process).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson

from pipeline.fakes.xapi.connection import Connection
from pipeline.fakes.xapi.protocol import (
    CONTROL_PREFIX,
    HOST,
    NOT_FOUND,
    RULES_PATH,
    STREAM_PATH,
    TOO_MANY_CONNECTIONS,
    UNAUTHORIZED,
    invalid_request,
    problem,
)
from pipeline.fakes.xapi.rules import parse_rules_request

if TYPE_CHECKING:
    from pipeline.fakes.xapi.server import FakeXApi

__all__ = ["Server"]

log = logging.getLogger(__name__)


class Server(ThreadingHTTPServer):
    """The HTTP server, with a reference back to the fake that owns it."""

    daemon_threads = True

    def __init__(self, api: FakeXApi, port: int) -> None:
        self.api = api
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a handler's failure; a client hanging up mid-answer is routine, not a traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log.debug("connection from %s failed: %s", client_address, error)
        else:
            log.exception("fake X API request from %s failed", client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes the API's endpoints; the stream endpoint holds its thread for the connection."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-x-api/1"

    @property
    def api(self) -> FakeXApi:
        """The fake that owns this server."""
        return cast(Server, self.server).api

    def setup(self) -> None:
        super().setup()
        self.api._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.api._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Serve the stream, the rules list or the control state."""
        path, query = self._target()
        if path == STREAM_PATH:
            self._serve_stream()
        elif path == RULES_PATH:
            self._with_auth(lambda: self._send_json(200, self.api._get_rules(_ids(query))))
        elif path == CONTROL_PREFIX + "state":
            self._send_json(200, _state(self.api))
        else:
            self._send_json(404, NOT_FOUND)

    def do_POST(self) -> None:
        """Change the rules, or run a control command."""
        raw = self._read_body()
        path, query = self._target()
        if path == RULES_PATH:
            self._with_auth(lambda: self._post_rules(raw, _flag(query, "dry_run")))
        elif path.startswith(CONTROL_PREFIX):
            self._post_control(path.removeprefix(CONTROL_PREFIX), raw)
        else:
            self._send_json(404, NOT_FOUND)

    def _target(self) -> tuple[str, dict[str, list[str]]]:
        """The request path and its query parameters."""
        parts = urlsplit(self.path)
        return parts.path.rstrip("/") or "/", parse_qs(parts.query)

    def _token(self) -> str | None:
        """The bearer token of the request, if it has one."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def _read_body(self) -> bytes:
        """The request body, read whole so the connection stays usable for the next request."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _with_auth(self, respond: Callable[[], None]) -> None:
        """Call ``respond`` if the bearer token is accepted, else answer 401."""
        if self.api._authorized(self._token()):
            respond()
        else:
            self._send_json(401, UNAUTHORIZED)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer with a JSON body of known length."""
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _serve_stream(self) -> None:
        """Admit (or refuse) a stream connection and, if admitted, stream until it ends."""
        outcome = self.api._admit(self, self._token())
        if isinstance(outcome, Connection):
            outcome.serve()
            return
        status, body = outcome
        headers = {}
        if status == 429 and body is not TOO_MANY_CONNECTIONS:
            reset = int(time.time()) + 60
            headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        self._send_json(status, body, headers)

    def _post_rules(self, raw: bytes, dry_run: bool) -> None:
        """Add or delete rules from a ``{"add": [...]}`` or ``{"delete": {...}}`` body."""
        try:
            request = parse_rules_request(raw)
        except ValueError as exc:
            self._send_json(400, invalid_request(str(exc)))
            return
        if "add" in request:
            self._send_json(200, self.api._add_rules(request["add"], dry_run))
        else:
            delete = request["delete"]
            body = self.api._delete_rules(delete.get("ids", []), delete.get("values", []), dry_run)
            self._send_json(200, body)

    def _post_control(self, action: str, raw: bytes) -> None:
        """Run a control command sent over HTTP."""
        try:
            body = orjson.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            self._send_json(200, _control(self.api, action, body))
        except KeyError as exc:
            self._send_json(400, problem(400, f"unknown action or missing field: {exc}"))
        except (ValueError, RuntimeError) as exc:
            self._send_json(400, problem(400, str(exc)))


def _ids(query: dict[str, list[str]]) -> list[str] | None:
    """The ``ids`` query parameter split on commas, or None when absent."""
    if "ids" not in query:
        return None
    return [i for value in query["ids"] for i in value.split(",") if i]


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """A boolean query parameter; requests renders Python's True as ``True``."""
    return any(value.lower() == "true" for value in query.get(name, []))


# Control over HTTP, for when the fake runs as its own process


def _state(api: FakeXApi) -> dict[str, Any]:
    """A snapshot of what tests usually assert on."""
    return {
        "rules": api.rules(),
        "open_connections": api.open_connections(),
        "connection_attempts": api.connection_attempts,
        "sent_ids": api.sent_ids(),
    }


def _control(api: FakeXApi, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run one ``POST /_fake/<action>`` command; raises KeyError/ValueError on bad input."""
    simple = {
        "operational_disconnect": api.operational_disconnect,
        "truncated": api.send_truncated,
        "drop": api.drop,
    }
    if action == "tweets":
        return {"ids": api.send_tweets(int(body.get("n", 1)))}
    if action == "stall":
        api.stall(float(body["seconds"]))
    elif action == "fail_next":
        api.fail_next(int(body["status"]), int(body.get("count", 1)))
    elif action == "rate":
        api.set_rate(float(body["tweets_per_second"]))
    else:
        simple[action]()  # KeyError for an unknown action
    return {"ok": True}
