"""The fake X API's wire protocol: addresses, chunked framing of CRLF-terminated stream lines,
and the error bodies the real API answers with.
"""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

from pipeline.fakes.clock import v2_time

__all__ = [
    "CONTROL_PREFIX",
    "CRLF",
    "DEFAULT_PORT",
    "HOST",
    "LAST_CHUNK",
    "NOT_FOUND",
    "OPERATIONAL_DISCONNECT",
    "RULES_PATH",
    "STREAM_PATH",
    "TOO_MANY_CONNECTIONS",
    "UNAUTHORIZED",
    "frame",
    "invalid_request",
    "now_iso",
    "problem",
    "stream_line",
]

HOST = "127.0.0.1"
DEFAULT_PORT = 8787
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
CONTROL_PREFIX = "/_fake/"

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
# requests' iter_lines(chunk_size=512), which tweepy uses, yields a spurious empty line (a fake
# keep-alive) when a read boundary falls between the CR and the LF of a line: a chunk payload
# whose length is 1 modulo 512 does exactly that, so such lines get one more byte of whitespace.
_ITER_LINES_CHUNK = 512

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
TOO_MANY_CONNECTIONS = {
    "title": "ConnectionException",
    "detail": "This stream is currently at the maximum allowed connection limit.",
    "connection_issue": "TooManyConnections",
    "type": "https://api.twitter.com/2/problems/streaming-connection",
}
OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "OperationalDisconnect",
            "detail": "This stream has been disconnected for operational reasons.",
            "type": "https://api.twitter.com/2/problems/operational-disconnect",
        }
    ]
}
NOT_FOUND = {
    "title": "Not Found Error",
    "detail": "The requested resource could not be found.",
    "type": "https://api.twitter.com/2/problems/resource-not-found",
    "status": 404,
}


def now_iso() -> str:
    """The current time in the X API's ``meta.sent`` format."""
    return v2_time(int(time.time() * 1000))


def problem(status: int, detail: str | None = None) -> dict[str, Any]:
    """A generic RFC 7807 problem body for an HTTP status."""
    phrase = HTTPStatus(status).phrase
    return {"title": phrase, "detail": detail or phrase, "type": "about:blank", "status": status}


def invalid_request(message: str) -> dict[str, Any]:
    """The X API's 400 body for a request it cannot make sense of."""
    return {
        "errors": [{"parameters": {}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def frame(payload: bytes) -> bytes:
    """Frame ``payload`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%b\r\n" % (len(payload), payload)


def stream_line(message: bytes) -> bytes:
    """Terminate a stream message with CRLF, padding it off requests' empty-line quirk."""
    if (len(message) + len(CRLF)) % _ITER_LINES_CHUNK == 1:
        message += b" "  # trailing whitespace is still the same JSON
    return message + CRLF
