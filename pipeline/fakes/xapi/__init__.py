"""A fake X API v2 filtered stream on loopback that speaks the real wire protocol.

Integration tests point the real tweepy ``StreamingClient`` at it: the stream is a chunked
HTTP/1.1 response of CRLF-terminated JSON objects with bare-CRLF keep-alives, and the rules
endpoints answer with the shapes tweepy parses (``data``, ``meta``, ``errors``). Tweets are
generated to match the current rules, and the faults a real stream shows (operational
disconnects, stalls, truncated lines, dropped sockets, HTTP errors, too many connections) can be
triggered from Python, from a script played to each new connection, or over HTTP under
``/_fake/`` when the fake runs as its own process (``tweetfeed fake-api``).

Only 127.0.0.1 is ever bound.
"""

from pipeline.fakes.xapi.cli import main
from pipeline.fakes.xapi.server import FakeXApi

__all__ = ["FakeXApi", "main"]
