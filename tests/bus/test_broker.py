"""The Redis consume of workers/broker.py: a taken task is never only in a worker's socket."""

from __future__ import annotations

import contextlib
from pathlib import Path
from queue import Empty
from typing import Any

from kombu import Connection

from pipeline.bus.sender import TaskSender, queue
from tests.helpers import RedisServer, wait_until

TRANSPORT = "workers.broker:Transport"


def _url(client: Any) -> str:
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw['db']}"


def _send(url: str, name: str, n: int) -> None:
    sender = TaskSender(url)
    sender.send("tweetfeed.fanout_chunk", {"activity_id": n, "feeds": ["timeline:1"]}, name)
    sender.close()


def _consumer(conn: Connection, names: list[str], got: list[Any]) -> Any:
    consumer = conn.Consumer([queue(n) for n in names], callbacks=[lambda b, m: got.append(m)])
    consumer.consume()
    return conn.default_channel


def test_a_task_taken_but_never_read_waits_in_unacked_and_comes_back(redis_client: Any) -> None:
    url = _url(redis_client)
    _send(url, "broker_a", 1)
    conn = Connection(url, transport=TRANSPORT)
    channel = _consumer(conn, ["broker_a"], [])
    # Send the take, then die before reading its reply, as a worker SIGKILLed at that moment.
    conn.transport.cycle._register_BRPOP(channel)
    wait_until(lambda: not redis_client.llen("broker_a"), 5, "the task to be taken")
    (tag,) = redis_client.hkeys("unacked")
    assert redis_client.zscore("unacked_index", tag) is not None
    channel.client.connection.disconnect()

    with Connection(url, transport=TRANSPORT) as again:
        again.default_channel.qos.restore_by_tag(tag, leftmost=True)
        got: list[Any] = []
        _consumer(again, ["broker_a"], got)
        again.drain_events(timeout=5)
        assert [m.delivery_tag for m in got] == [tag.decode()]
        assert got[0].decode()[1]["activity_id"] == 1
        got[0].ack()
    assert not redis_client.hlen("unacked") and not redis_client.llen("broker_a")


def test_an_idle_consumer_takes_tasks_from_every_queue_in_order(redis_client: Any) -> None:
    url = _url(redis_client)
    got: list[Any] = []
    with Connection(url, transport=TRANSPORT) as conn:
        _consumer(conn, ["broker_first", "broker_second"], got)
        for _ in range(3):  # idle: the consumer is waiting, not claiming, when tasks come
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=0.3)
        _send(url, "broker_second", 2)
        conn.drain_events(timeout=5)
        _send(url, "broker_second", 3)
        _send(url, "broker_first", 4)
        while len(got) < 3:
            conn.drain_events(timeout=5)
        for message in got:
            message.ack()
    assert [m.decode()[1]["activity_id"] for m in got] == [2, 4, 3]
    assert not redis_client.hlen("unacked")


def test_a_consumer_without_acknowledgements_leaves_nothing_unacked(redis_client: Any) -> None:
    # Celery's own replies (mingle, inspect) are consumed this way: a record would never go.
    url = _url(redis_client)
    _send(url, "broker_c", 5)
    got: list[Any] = []
    with Connection(url, transport=TRANSPORT) as conn:
        consumer = conn.Consumer([queue("broker_c")], callbacks=[lambda b, m: got.append(m)],
                                 no_ack=True)  # fmt: skip
        consumer.consume()
        conn.drain_events(timeout=5)
    assert [m.decode()[1]["activity_id"] for m in got] == [5]
    assert not redis_client.hlen("unacked") and not redis_client.zcard("unacked_index")


def test_a_consumer_whose_redis_died_while_it_waited_closes_whole(tmp_path: Path) -> None:
    # kombu reads the reply in flight before it closes; with the server gone that read raised
    # and left the close half done, and a later close stopped the worker (make faults: Redis
    # restarted without persistence: "Unrecoverable error", the transport already detached).
    server = RedisServer(tmp_path).start()
    try:
        _send(server.url(), "broker_d", 6)
        conn = Connection(server.url(), transport=TRANSPORT, transport_options={"claim_wait": 5})
        got: list[Any] = []
        channel = _consumer(conn, ["broker_d"], got)
        conn.drain_events(timeout=5)  # taken, not yet acknowledged
        if channel._in_poll:  # the next take, already sent: answered, as the queue is empty
            with contextlib.suppress(Empty):
                channel._brpop_read()
        channel._waiting = True  # then a wait that Redis will never answer
        conn.transport.cycle._register_BRPOP(channel)
        server.kill()
        with contextlib.suppress(*conn.connection_errors):  # giving the task back cannot work
            channel.close()
        assert len(got) == 1 and channel.closed  # yet the close went all the way
    finally:
        server.kill()
