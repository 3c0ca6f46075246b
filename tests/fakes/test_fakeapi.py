"""The fake X API speaks the filtered-stream wire protocol that the real tweepy client expects.

Stream and rules calls go through tweepy's own ``StreamingClient`` where tweepy has a say in the
outcome, through ``requests`` where a status code or body matters, and through a bare socket
where the bytes themselves (chunk framing, silence during a stall) are what is under test.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
import tweepy
from tweepy import StreamRule

from pipeline.fakes.xapi import FakeXApi, main
from tests.helpers import ROOT, wait_until

TOKEN = "test-token"
API_HOST = "https://api.twitter.com"
STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
KEEPALIVE = 0.2
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
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# tweepy pointed at the fake


class RebasedSession(requests.Session):
    """A requests session that sends what tweepy addresses to api.twitter.com to the fake.

    ``BaseClient.request`` hard-codes ``https://api.twitter.com`` as the host of the rules calls,
    so the session under it is the one seam that needs no copy of tweepy's code.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if url.startswith(API_HOST):
            url = self.base_url + url[len(API_HOST) :]
        return super().request(method, url, *args, **kwargs)


class RecordingClient(tweepy.StreamingClient):
    """The real tweepy StreamingClient against the fake, recording every callback it gets."""

    def __init__(self, base_url: str, bearer_token: str = TOKEN) -> None:
        super().__init__(bearer_token, daemon=True)
        self.base_url = base_url
        # After StreamingClient.__init__: BaseStream.__init__ replaced BaseClient's session.
        self.session = RebasedSession(base_url)
        self.lines: list[bytes] = []
        self.invalid_lines: list[bytes] = []
        self.tweets: list[tweepy.Tweet] = []
        self.matching: list[list[StreamRule]] = []
        self.includes: list[dict[str, Any]] = []
        self.errors: list[list[dict[str, Any]]] = []
        self.keep_alives: list[float] = []
        self.connects = 0
        self.closes = 0
        self.connection_errors = 0

    def _connect(self, method: str, endpoint: str, **kwargs: Any) -> None:
        self.session.headers["Authorization"] = f"Bearer {self.bearer_token}"
        url = f"{self.base_url}/2/tweets/{endpoint}/stream"
        tweepy.streaming.BaseStream._connect(self, method, url, **kwargs)

    def listen(self) -> None:
        """Connect the filtered stream in tweepy's own thread, asking for the usual fields."""
        self.filter(
            threaded=True,
            expansions=["author_id"],
            tweet_fields=["created_at", "lang", "entities", "conversation_id"],
            user_fields=["created_at", "public_metrics"],
        )

    @property
    def tweet_ids(self) -> list[int]:
        return [tweet.id for tweet in self.tweets]

    def on_data(self, raw_data: bytes) -> None:
        self.lines.append(raw_data)
        try:
            super().on_data(raw_data)
        except ValueError:  # tweepy would end the stream on a line that is not JSON
            self.invalid_lines.append(raw_data)

    def on_tweet(self, tweet: tweepy.Tweet) -> None:
        self.tweets.append(tweet)

    def on_matching_rules(self, matching_rules: list[StreamRule]) -> None:
        self.matching.append(matching_rules)

    def on_includes(self, includes: dict[str, Any]) -> None:
        self.includes.append(includes)

    def on_errors(self, errors: list[dict[str, Any]]) -> None:
        self.errors.append(errors)

    def on_keep_alive(self) -> None:
        self.keep_alives.append(time.monotonic())

    def on_connect(self) -> None:
        self.connects += 1

    def on_closed(self, response: requests.Response) -> None:
        self.closes += 1

    def on_connection_error(self) -> None:
        self.connection_errors += 1


class Fakes:
    """Starts fakes with test-friendly defaults and stops them all afterwards."""

    def __init__(self) -> None:
        self.started: list[FakeXApi] = []

    def __call__(self, **options: Any) -> FakeXApi:
        options.setdefault("keepalive_interval", KEEPALIVE)
        options.setdefault("tweets_per_second", 0)
        api = FakeXApi(**options).start()
        self.started.append(api)
        return api

    def stop_all(self) -> None:
        for api in self.started:
            api.stop()


class Clients:
    """Makes tweepy clients for a fake and disconnects them all afterwards."""

    def __init__(self) -> None:
        self.made: list[RecordingClient] = []

    def __call__(self, api: FakeXApi, token: str = TOKEN) -> RecordingClient:
        client = RecordingClient(api.base_url, token)
        self.made.append(client)
        return client

    def disconnect_all(self) -> None:
        for client in self.made:
            client.disconnect()

    def join_all(self) -> None:
        for client in self.made:
            if client.thread is not None:
                client.thread.join(5)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    started = Fakes()
    yield started
    started.stop_all()


@pytest.fixture
def clients(fakes: Fakes) -> Iterator[Clients]:
    made = Clients()
    yield made
    made.disconnect_all()
    fakes.stop_all()  # ends the blocked reads, so the client threads finish at once
    made.join_all()


def add_rules(api: FakeXApi, *rules: StreamRule) -> list[StreamRule]:
    """Add rules through tweepy and return them with their ids."""
    client = RecordingClient(api.base_url)
    return list(client.add_rules(list(rules)).data)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A stream on a bare socket


class RawStream:
    """One stream request on a bare socket, to read the bytes exactly as the fake sends them."""

    def __init__(self, api: FakeXApi, token: str = TOKEN) -> None:
        self.sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        request = (
            f"GET {STREAM}?tweet.fields=created_at HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{api.port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the fake closed the connection")
        self.buffer += data

    def read_until(self, delimiter: bytes) -> bytes:
        while delimiter not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(delimiter)
        return head

    def read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self) -> tuple[str, dict[str, str]]:
        """The status line and the headers (names lower-cased)."""
        status, *lines = self.read_until(b"\r\n\r\n").decode().split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def read_chunk(self) -> bytes:
        """One chunk's payload, checking its framing; b"" for the last chunk."""
        size = int(self.read_until(b"\r\n"), 16)
        payload = self.read_exact(size)
        assert self.read_exact(2) == b"\r\n", "a chunk must end with CRLF"
        return payload

    def bytes_for(self, seconds: float) -> bytes:
        """Whatever arrives within ``seconds`` (the buffer included)."""
        data, self.buffer = self.buffer, b""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                received = self.sock.recv(65536)
            except TimeoutError:
                break
            if not received:
                break
            data += received
        self.sock.settimeout(5)
        return data


@pytest.fixture
def raw_streams() -> Iterator[list[RawStream]]:
    opened: list[RawStream] = []
    yield opened
    for raw in opened:
        raw.close()


# Rules


def test_rules_added_through_tweepy_come_back_from_get_rules_with_19_digit_ids(
    fakes: Fakes,
) -> None:
    api = fakes()
    client = RecordingClient(api.base_url)

    added = client.add_rules([StreamRule("python", tag="lang"), StreamRule("rust")])
    listed = client.get_rules()

    assert [(r.value, r.tag) for r in added.data] == [("python", "lang"), ("rust", None)]
    assert all(re.fullmatch(r"[1-9]\d{18}", r.id) for r in added.data)
    assert added.meta["summary"] == {"created": 2, "not_created": 0, "valid": 2, "invalid": 0}
    assert listed.data == added.data
    assert listed.meta["result_count"] == 2
    assert ISO_MS.match(listed.meta["sent"])
    assert api.rules() == [
        {"id": added.data[0].id, "value": "python", "tag": "lang"},
        {"id": added.data[1].id, "value": "rust", "tag": None},
    ]


def test_get_rules_with_ids_returns_only_those_rules(fakes: Fakes) -> None:
    api = fakes()
    python, _rust, go = add_rules(api, StreamRule("python"), StreamRule("rust"), StreamRule("go"))

    listed = RecordingClient(api.base_url).get_rules(ids=[python.id, go.id])

    assert [r.value for r in listed.data] == ["python", "go"]
    assert listed.meta["result_count"] == 2


def test_get_rules_without_rules_has_no_data_and_a_zero_count(fakes: Fakes) -> None:
    api = fakes()

    listed = RecordingClient(api.base_url).get_rules()
    raw = requests.get(api.base_url + RULES, headers=auth(), timeout=5).json()

    assert listed.data is None
    assert listed.meta["result_count"] == 0
    assert "data" not in raw


def test_deleting_rules_through_tweepy_removes_them_and_counts_unknown_ids(fakes: Fakes) -> None:
    api = fakes()
    python, rust = add_rules(api, StreamRule("python"), StreamRule("rust"))
    client = RecordingClient(api.base_url)

    deleted = client.delete_rules([python.id, "1999999999999999999"])

    assert deleted.meta["summary"] == {"deleted": 1, "not_deleted": 1}
    assert deleted.data is None
    assert [r.id for r in client.get_rules().data] == [rust.id]


def test_dry_run_answers_as_usual_but_changes_no_rules(fakes: Fakes) -> None:
    api = fakes()
    (python,) = add_rules(api, StreamRule("python"))
    client = RecordingClient(api.base_url)
    before = api.rules()

    added = client.add_rules(StreamRule("rust", tag="t"), dry_run=True)
    deleted = client.delete_rules(python.id, dry_run=True)

    assert [(r.value, r.tag) for r in added.data] == [("rust", "t")]
    assert added.meta["summary"]["created"] == 1
    assert deleted.meta["summary"] == {"deleted": 1, "not_deleted": 0}
    assert api.rules() == before


def test_a_duplicate_rule_value_is_not_created_and_is_reported_as_duplicate_rule(
    fakes: Fakes,
) -> None:
    api = fakes()
    (python,) = add_rules(api, StreamRule("python"))

    again = RecordingClient(api.base_url).add_rules([StreamRule("python"), StreamRule("rust")])

    assert [r.value for r in again.data] == ["rust"]
    assert again.meta["summary"] == {"created": 1, "not_created": 1, "valid": 1, "invalid": 1}
    assert again.errors == [
        {
            "value": "python",
            "id": python.id,
            "title": "DuplicateRule",
            "type": "https://api.twitter.com/2/problems/duplicate-rules",
        }
    ]
    assert [r["value"] for r in api.rules()] == ["python", "rust"]


def test_a_rules_body_that_is_not_json_gets_400_with_a_problem_body(fakes: Fakes) -> None:
    api = fakes()
    headers = {**auth(), "Content-Type": "application/json"}

    answer = requests.post(api.base_url + RULES, data=b'{"add": [', headers=headers, timeout=5)

    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["title"] == "Invalid Request"
    assert api.rules() == []


def test_an_unknown_or_missing_token_gets_401_when_tokens_are_set(fakes: Fakes) -> None:
    api = fakes(tokens=["good"])
    unauthorized = {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }

    with pytest.raises(tweepy.Unauthorized):
        RecordingClient(api.base_url, "bad").get_rules()
    bad = requests.get(api.base_url + STREAM, headers=auth("bad"), timeout=5)
    missing = requests.get(api.base_url + STREAM, timeout=5)
    with requests.get(api.base_url + STREAM, headers=auth("good"), stream=True, timeout=5) as ok:
        assert ok.status_code == 200

    assert (bad.status_code, bad.json()) == (401, unauthorized)
    assert (missing.status_code, missing.json()) == (401, unauthorized)
    assert RecordingClient(api.base_url, "good").get_rules().meta["result_count"] == 0
    assert api.connection_attempts == 3


# The stream


def test_the_stream_delivers_tweets_whose_text_and_matching_rules_follow_the_rules(
    fakes: Fakes, clients: Clients
) -> None:
    api = fakes()
    rules = add_rules(
        api, StreamRule("python", tag="lang"), StreamRule("Python tips"), StreamRule("rust")
    )
    client = clients(api)
    client.listen()
    wait_until(lambda: api.open_connections() == 1, 5, "the stream to connect")

    ids = api.send_tweets(30)
    wait_until(lambda: len(client.tweets) == 30, 5, "30 tweets")

    assert client.tweet_ids == ids
    assert ids == sorted(set(ids))
    tags = {rule.id: rule.tag for rule in rules}
    for tweet, matching, includes, line in zip(
        client.tweets, client.matching, client.includes, client.lines, strict=True
    ):
        expected = {r.id for r in rules if r.value.lower() in tweet.text.lower()}
        assert expected, f"{tweet.text!r} contains no rule value"
        assert {rule.id for rule in matching} == expected
        assert all(rule.tag == tags[rule.id] for rule in matching)
        assert includes["users"][0].id == tweet.author_id
        data = json.loads(line)["data"]
        assert ISO_MS.match(data["created_at"])
        assert data["conversation_id"] == data["id"] == str(tweet.id)
        assert data["lang"] == "en"
        assert ("entities" in data) == ("#" in tweet.text)
    assert any(len(matching) > 1 for matching in client.matching), "no tweet matched two rules"


def test_tweets_stop_naming_a_rule_once_it_is_deleted(fakes: Fakes, clients: Clients) -> None:
    api = fakes()
    python, rust = add_rules(api, StreamRule("python"), StreamRule("rust"))
    client = clients(api)
    client.listen()
    wait_until(lambda: api.open_connections() == 1, 5, "the stream to connect")

    RecordingClient(api.base_url).delete_rules(python.id)
    api.send_tweets(10)
    wait_until(lambda: len(client.tweets) == 10, 5, "10 tweets")

    assert all([rule.id for rule in matching] == [rust.id] for matching in client.matching)


def test_generated_tweets_flow_at_the_configured_rate(fakes: Fakes, clients: Clients) -> None:
    api = fakes(tweets_per_second=20)
    add_rules(api, StreamRule("python"))
    client = clients(api)
    client.listen()
    wait_until(lambda: len(client.tweets) >= 2, 5, "generated tweets")
    first = time.monotonic()

    wait_until(lambda: len(client.tweets) >= 12, 5, "ten more tweets")

    assert 0.3 < time.monotonic() - first < 1.5  # ten tweets at 20/s take about 0.5 s


def test_keep_alives_arrive_at_the_configured_interval(fakes: Fakes, clients: Clients) -> None:
    api = fakes()
    client = clients(api)
    client.listen()

    wait_until(lambda: len(client.keep_alives) >= 6, 5, "six keep-alives")

    gaps = [later - earlier for earlier, later in pairwise(client.keep_alives[:6])]
    assert all(KEEPALIVE * 0.5 < gap < KEEPALIVE * 2 for gap in gaps), gaps
    assert KEEPALIVE * 0.8 < sum(gaps) / len(gaps) < KEEPALIVE * 1.3, gaps


def test_without_rules_the_stream_sends_only_keep_alives(fakes: Fakes, clients: Clients) -> None:
    api = fakes(tweets_per_second=50)
    client = clients(api)
    client.listen()

    wait_until(lambda: len(client.keep_alives) >= 3, 5, "three keep-alives")

    assert client.lines == []
    assert api.sent_ids() == []
    with pytest.raises(RuntimeError, match="no rules"):
        api.send_tweets(1)


def test_a_second_connection_with_the_same_token_gets_429_until_the_first_closes(
    fakes: Fakes,
) -> None:
    api = fakes()
    url = api.base_url + STREAM
    first = requests.get(url, headers=auth(), stream=True, timeout=5)

    second = requests.get(url, headers=auth(), stream=True, timeout=5)
    with requests.get(url, headers=auth("other"), stream=True, timeout=5) as other:
        other_status = other.status_code
    first.close()
    # tweepy reconnects at once after an error; the fake must not hold the old connection.
    with requests.get(url, headers=auth(), stream=True, timeout=5) as third:
        third_status = third.status_code

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json() == {
        "title": "ConnectionException",
        "detail": "This stream is currently at the maximum allowed connection limit.",
        "connection_issue": "TooManyConnections",
        "type": "https://api.twitter.com/2/problems/streaming-connection",
    }
    assert other_status == 200
    assert third_status == 200
    assert api.connection_attempts == 4


def test_operational_disconnect_reaches_on_errors_ends_the_response_and_tweepy_reconnects(
    fakes: Fakes, clients: Clients
) -> None:
    api = fakes()
    client = clients(api)
    client.listen()
    wait_until(lambda: client.connects == 1 and api.open_connections() == 1, 5, "a connection")

    api.operational_disconnect()

    wait_until(lambda: client.connects == 2, 5, "tweepy to reconnect")
    assert client.errors == [OPERATIONAL_DISCONNECT["errors"]]
    assert [json.loads(line) for line in client.lines] == [OPERATIONAL_DISCONNECT]
    assert client.closes == 1  # the response ended properly: tweepy calls on_closed
    assert client.connection_errors == 0
    assert api.connection_attempts == 2


def test_a_truncated_line_is_not_json_and_later_tweets_still_arrive(
    fakes: Fakes, clients: Clients
) -> None:
    api = fakes()
    add_rules(api, StreamRule("python"))
    client = clients(api)
    client.listen()
    wait_until(lambda: api.open_connections() == 1, 5, "the stream to connect")

    before = api.send_tweets(1)
    api.send_truncated()
    after = api.send_tweets(2)

    wait_until(lambda: len(client.tweets) == 3, 5, "three tweets")
    assert client.tweet_ids == before + after
    assert len(client.lines) == 4
    assert client.invalid_lines == [client.lines[1]]
    assert client.lines[1].startswith(b'{"data":{"id":"')
    assert api.sent_ids() == before + after
    assert client.connects == 1


def test_a_stall_sends_no_bytes_at_all_for_its_duration(
    fakes: Fakes, raw_streams: list[RawStream]
) -> None:
    api = fakes()
    raw = RawStream(api)
    raw_streams.append(raw)
    raw.read_head()
    assert raw.read_chunk() == b"\r\n"

    api.stall(0.8)
    started = time.monotonic()
    raw.bytes_for(0.1)  # a keep-alive may land before the stall command is picked up

    assert raw.bytes_for(0.5) == b""
    assert raw.read_chunk() == b"\r\n"
    assert time.monotonic() - started >= 0.8
    assert api.open_connections() == 1


def test_a_client_that_times_out_during_a_stall_may_reconnect_at_once(fakes: Fakes) -> None:
    api = fakes()
    url = api.base_url + STREAM
    with requests.get(url, headers=auth(), stream=True, timeout=0.4) as stalled:
        api.stall(5)
        with pytest.raises(requests.exceptions.ConnectionError):
            for _ in stalled.iter_lines():
                pass

    with requests.get(url, headers=auth(), stream=True, timeout=5) as again:
        assert again.status_code == 200


def test_the_stream_uses_real_chunked_encoding_and_ends_with_the_last_chunk(
    fakes: Fakes, raw_streams: list[RawStream]
) -> None:
    api = fakes(
        keepalive_interval=30,
        script=[{"tweets": 1}, {"keepalive": 1}, {"operational_disconnect": True}],
    )
    add_rules(api, StreamRule("python"))
    raw = RawStream(api)
    raw_streams.append(raw)

    status, headers = raw.read_head()
    tweet, keepalive, error, last = (raw.read_chunk() for _ in range(4))

    assert status == "HTTP/1.1 200 OK"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"] == "application/json"
    assert "content-length" not in headers
    assert tweet.endswith(b"\r\n")
    assert [tweet_id(tweet)] == api.sent_ids()
    assert keepalive == b"\r\n"
    assert json.loads(error) == OPERATIONAL_DISCONNECT
    assert error.endswith(b"\r\n")
    assert last == b""


def test_drop_closes_the_socket_in_the_middle_of_a_chunk(
    fakes: Fakes, raw_streams: list[RawStream]
) -> None:
    api = fakes(script=[{"drop": True}])
    raw = RawStream(api)
    raw_streams.append(raw)
    raw.read_head()

    size = int(raw.read_until(b"\r\n"), 16)
    rest = raw.bytes_for(2)

    assert 0 < len(rest) < size
    assert raw.sock.recv(1) == b""  # closed, not just quiet
    wait_until(lambda: api.open_connections() == 0, 5, "the connection to be released")


def test_drop_makes_tweepy_reconnect(fakes: Fakes, clients: Clients) -> None:
    api = fakes()
    client = clients(api)
    client.listen()
    wait_until(lambda: client.connects == 1 and api.open_connections() == 1, 5, "a connection")

    api.drop()

    wait_until(lambda: client.connects == 2, 5, "tweepy to reconnect")
    assert client.connection_errors == 1
    assert client.lines == []


def test_fail_next_answers_the_next_attempts_with_that_status_then_streams(fakes: Fakes) -> None:
    api = fakes()
    url = api.base_url + STREAM

    api.fail_next(503, count=2)
    failures = [requests.get(url, headers=auth(), timeout=5) for _ in range(2)]
    with requests.get(url, headers=auth(), stream=True, timeout=5) as ok:
        ok_status = ok.status_code
    api.fail_next(429)
    limited = requests.get(url, headers=auth(), timeout=5)

    assert [f.status_code for f in failures] == [503, 503]
    assert failures[0].json()["status"] == 503
    assert failures[0].headers["Content-Type"] == "application/json"
    assert ok_status == 200
    assert limited.status_code == 429
    assert "x-rate-limit-reset" in limited.headers
    assert api.connection_attempts == 4


# Scripts


def test_a_script_plays_in_order_to_each_new_connection(fakes: Fakes) -> None:
    script = [
        {"tweets": 2},
        {"keepalive": 2},
        {"truncated": 1},
        {"sleep": 0.1},
        {"tweets": 1},
        {"operational_disconnect": True},
    ]
    api = fakes(keepalive_interval=30, script=script)
    add_rules(api, StreamRule("python"))

    played = [stream_lines(api), stream_lines(api)]

    for lines in played:
        kinds = [line_kind(line) for line in lines]
        assert kinds == ["tweet", "tweet", "", "", "invalid", "tweet", "error"]
    received = [tweet_id(line) for lines in played for line in lines if line_kind(line) == "tweet"]
    assert received == api.sent_ids()
    assert len(received) == 6
    assert api.connection_attempts == 2


def test_after_the_script_the_connection_goes_on_generating(fakes: Fakes, clients: Clients) -> None:
    api = fakes(tweets_per_second=20, script=[{"tweets": 3}, {"keepalive": 1}])
    add_rules(api, StreamRule("python"))
    client = clients(api)
    client.listen()

    wait_until(lambda: len(client.tweets) >= 6, 5, "tweets after the script")

    assert [line_kind(line) for line in client.lines[:3]] == ["tweet"] * 3
    assert client.keep_alives, "the scripted keep-alive did not arrive"


def test_a_script_with_an_unknown_step_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        FakeXApi(script=[{"tweet": 1}])
    with pytest.raises(ValueError, match="bad value"):
        FakeXApi(script=[{"stall": -1}])


def stream_lines(api: FakeXApi) -> list[bytes]:
    """Every line of one stream response, read to its end with requests."""
    with requests.get(api.base_url + STREAM, headers=auth(), stream=True, timeout=5) as answer:
        assert answer.status_code == 200
        # A large chunk_size keeps requests from splitting a CRLF across two reads.
        return list(answer.iter_lines(chunk_size=65536))


def tweet_id(line: bytes) -> int:
    return int(json.loads(line)["data"]["id"])


def line_kind(line: bytes) -> str:
    """Name what a stream line is: "" (keep-alive), tweet, error or invalid."""
    if not line:
        return ""
    try:
        message = json.loads(line)
    except ValueError:
        return "invalid"
    return "tweet" if "data" in message else "error"


# Exactness and life cycle


def test_sent_ids_equal_the_ids_tweepy_received_across_faults_and_reconnects(
    fakes: Fakes, clients: Clients
) -> None:
    api = fakes(tweets_per_second=50)
    add_rules(api, StreamRule("python"), StreamRule("rust"))
    client = clients(api)
    client.listen()
    wait_until(lambda: len(client.tweets) >= 10, 5, "ten tweets")

    api.send_truncated()
    pushed = api.send_tweets(3)
    api.drop()
    wait_until(lambda: client.connects == 2, 5, "tweepy to reconnect after the drop")
    wait_until(lambda: len(client.tweets) >= 25, 5, "tweets on the new connection")
    api.set_rate(0)

    wait_until(lambda: client.tweet_ids == api.sent_ids(), 5, "the client to catch up")
    ids = api.sent_ids()
    assert ids == sorted(set(ids))
    assert set(pushed) <= set(ids)
    assert len(client.invalid_lines) == 1


def test_stop_closes_open_stream_connections(fakes: Fakes) -> None:
    api = fakes()
    answer = requests.get(api.base_url + STREAM, headers=auth(), stream=True, timeout=5)
    wait_until(lambda: api.open_connections() == 1, 5, "the stream to connect")

    api.stop()

    assert api.open_connections() == 0
    broken = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    with pytest.raises(broken):
        for _ in answer.iter_lines():
            pass


def test_port_zero_picks_a_free_loopback_port(fakes: Fakes) -> None:
    api = fakes()

    assert api.port > 0
    assert api.base_url == f"http://127.0.0.1:{api.port}"


# Command line


def test_main_refuses_any_host_but_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refusing" in capsys.readouterr().err


def test_main_serves_a_script_file_and_control_endpoints_until_terminated(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tweets": 2}, {"operational_disconnect": True}]))
    command = [
        sys.executable,
        "-m",
        "pipeline.fakes.xapi",
        "--port",
        "0",
        "--token",
        TOKEN,
        "--tweets-per-second",
        "0",
        "--script",
        str(script),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = read_line(process.stdout, 10)
        base = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert base, banner
        check_served(base.group(0))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def check_served(base: str) -> None:
    """Drive a fake in another process: rules, the script, and the control endpoints."""
    requests.post(base + RULES, json={"add": [{"value": "python"}]}, headers=auth(), timeout=5)
    with requests.get(base + STREAM, headers=auth(), stream=True, timeout=5) as answer:
        lines = list(answer.iter_lines(chunk_size=65536))
    state = requests.get(base + "/_fake/state", timeout=5).json()
    pushed = requests.post(base + "/_fake/tweets", json={"n": 2}, timeout=5).json()
    requests.post(base + "/_fake/fail_next", json={"status": 503}, timeout=5)
    failed = requests.get(base + STREAM, headers=auth(), timeout=5)

    assert [line_kind(line) for line in lines] == ["tweet", "tweet", "error"]
    assert state["sent_ids"] == [tweet_id(line) for line in lines[:2]]
    assert [rule["value"] for rule in state["rules"]] == ["python"]
    assert len(pushed["ids"]) == 2
    assert failed.status_code == 503


def read_line(stream: Any, timeout: float) -> str:
    """One line from a pipe, failing rather than hanging if it never comes."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines:
        pytest.fail(f"no line within {timeout} s")
    return lines[0]
