"""Task messages as Celery reads them, whichever encoder wrote the body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kombu import Connection

from pipeline.bus.sender import TaskSender, queue


def _url(client: Any) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


def _receive(url: str, name: str) -> tuple[object, dict[str, object]]:
    with Connection(url) as conn:
        message = conn.SimpleQueue(queue(name)).get(timeout=5)
        message.ack()
        return message.decode(), message.headers


def test_a_large_payload_arrives_whole_with_a_short_kwargsrepr(redis_client: Any) -> None:
    url = _url(redis_client)
    sender = TaskSender(url)
    feeds = [f"timeline:{n}" for n in range(5000)]
    sender.send("tweetfeed.fanout_chunk", {"activity_id": 7, "feeds": feeds}, "test_sender")
    sender.close()
    body, headers = _receive(url, "test_sender")
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert body == [[], {"activity_id": 7, "feeds": feeds}, embed]
    assert len(str(headers["kwargsrepr"])) <= 512
    assert str(headers["kwargsrepr"]).startswith("{'activity_id': 7, 'feeds': ['timeline:0'")


def test_a_date_in_a_payload_is_left_to_kombus_encoder_and_comes_back_a_date(
    redis_client: Any,
) -> None:
    url = _url(redis_client)
    sender = TaskSender(url)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    sender.send("tweetfeed.add_activity", {"row": {"time": when}}, "test_sender")
    sender.close()
    body, _ = _receive(url, "test_sender")
    assert body[1] == {"row": {"time": when}}  # type: ignore[index]
