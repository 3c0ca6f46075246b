"""The web process's pipelined Redis connection, on the real server: replies reach their own
callers in order, a lost connection fails what waited on it and the next call opens a new one,
and a script the server forgot is loaded again."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from pipeline.web.redis_link import RedisLink

SCRIPT = "return {KEYS[1], ARGV[1]}"
SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def test_many_calls_at_once_each_get_their_own_reply(redis_client: Any) -> None:
    redis_client.mset({f"k:{n}": n for n in range(500)})

    async def run() -> list[Any]:
        link = RedisLink(redis_client)
        try:
            return await asyncio.gather(*(link.call("GET", f"k:{n}") for n in range(500)))
        finally:
            await link.close()

    assert asyncio.run(run()) == [str(n).encode() for n in range(500)]


def test_an_error_reply_raises_and_the_connection_stays_in_step(redis_client: Any) -> None:
    redis_client.set("text", "x")

    async def run() -> Any:
        link = RedisLink(redis_client)
        try:
            with pytest.raises(ResponseError, match="not an integer"):
                await link.call("INCR", "text")
            return await link.call("GET", "text")
        finally:
            await link.close()

    assert asyncio.run(run()) == b"x"


def test_a_lost_connection_fails_its_calls_and_the_next_call_reconnects(
    redis_client: Any,
) -> None:
    async def run() -> Any:
        link = RedisLink(redis_client)
        try:
            assert await link.call("CLIENT", "SETNAME", "link-under-test") == b"OK"
            waiting = asyncio.ensure_future(link.call("BLPOP", "never", 5))
            await asyncio.sleep(0.1)
            (mine,) = [c for c in redis_client.client_list() if c["name"] == "link-under-test"]
            redis_client.client_kill_filter(_id=mine["id"])
            with pytest.raises(RedisConnectionError):
                await waiting
            return await link.call("PING")
        finally:
            await link.close()

    assert asyncio.run(run()) == b"PONG"


def test_a_script_the_server_forgot_is_loaded_again_and_run(redis_client: Any) -> None:
    redis_client.script_flush()

    async def run() -> Any:
        link = RedisLink(redis_client)
        try:
            return await link.evalsha(SHA, SCRIPT, ["a"], ["b"])
        finally:
            await link.close()

    assert asyncio.run(run()) == [b"a", b"b"]
    assert redis_client.script_exists(SHA) == [True]
