"""One asyncio connection to Redis for the web process's hot path, its requests pipelined.

A cached page is one Lua call; through ``redis.asyncio`` that call cost the web process ~250 µs
of CPU (a pooled connection checked out and back, each argument packed in Python, the reply
parsed through layers of callbacks), more than assembling the page itself. Here a command is
packed by hiredis in one C call and written at once; replies come back in the order the
commands went, so each caller waits on a future of its own and one reader task answers them
all. A lost connection fails the calls in flight, and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


class _Connection:
    """A stream and the futures of the commands it carries, in the order they were sent."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.waiting: deque[asyncio.Future[Any]] = deque()

    def send(self, command: Any) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.writer.write(hiredis.pack_command(tuple(command)))
        return future

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing()


class RedisLink:
    """Commands on one connection to the server and database of a redis-py client's pool."""

    def __init__(self, sync: Any) -> None:
        self.kwargs = dict(sync.connection_pool.connection_kwargs)
        self._connection: _Connection | None = None
        self._readers: set[asyncio.Task[None]] = set()
        self._opening: asyncio.Lock | None = None

    async def call(self, *command: Any) -> Any:
        """The reply to ``command``; an error reply raises as redis-py would raise it."""
        connection = self._connection
        if connection is None or not connection.usable:
            connection = await self._open()
        return _raise_error(await connection.send(command))

    async def evalsha(self, sha: str, script: str, keys: list[Any], args: list[Any]) -> Any:
        """EVALSHA, loading ``script`` first if the server does not know it."""
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", script)
            return await self.call("EVALSHA", sha, len(keys), *keys, *args)

    async def close(self) -> None:
        """Close the connection; calls still waiting fail."""
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._connection = None

    async def _open(self) -> _Connection:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._connection is not None and self._connection.usable:
                return self._connection
            kw = self.kwargs
            if kw.get("path"):
                reader, writer = await asyncio.open_unix_connection(kw["path"])
            else:
                reader, writer = await asyncio.open_connection(
                    kw.get("host", "localhost"), kw.get("port", 6379)
                )
            connection = _Connection(writer)
            task = asyncio.create_task(self._read(reader, connection))
            self._readers.add(task)  # held until it ends, or the loop could drop it
            task.add_done_callback(self._readers.discard)
            setup = []
            if kw.get("password"):
                auth = [kw["username"], kw["password"]] if kw.get("username") else [kw["password"]]
                setup.append(connection.send(("AUTH", *auth)))
            if kw.get("db"):
                setup.append(connection.send(("SELECT", kw["db"])))
            for reply in await asyncio.gather(*setup):
                _raise_error(reply)
            self._connection = connection
            return connection

    async def _read(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        parser = hiredis.Reader()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = connection.waiting.popleft()
                    if not future.done():  # its caller may have gone (a closed request)
                        future.set_result(reply)
        except OSError:
            pass  # the connection is gone; what waited on it fails below
        finally:
            if self._connection is connection:
                self._connection = None
            connection.writer.close()
            lost = RedisConnectionError("connection to Redis lost")
            while connection.waiting:
                future = connection.waiting.popleft()
                if not future.done():
                    future.set_exception(lost)


def _raise_error(reply: Any) -> Any:
    if isinstance(reply, hiredis.ReplyError):
        text = str(reply)
        raise NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)
    return reply
