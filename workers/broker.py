"""kombu's Redis transport, with a consume that cannot lose a task to a killed worker.

kombu takes a message off its queue with BRPOP and records it as unacknowledged (``acks_late``)
in a second command. A worker killed between the two, or while the BRPOP reply still waits in
its socket because its prefetch is full, has taken a message that is then nowhere: the fault
suite lost one add_activity in about fifteen runs that way. Here one Lua script takes the message
and records it in kombu's ``unacked`` hash and index in the same step, so a message is always
either in its queue or in ``unacked``, where kombu (and ``pipeline.bus.reclaim``) give it back.

A script cannot block, so when every queue is empty the worker waits with ``BLMOVE q q RIGHT
RIGHT`` (which moves a message onto itself, changing nothing) on the queue it last took a task
from (at first, its first queue) for at most ``WAIT_SECONDS``, then tries again: a task on that
queue is taken at once, one on another queue of an idle worker within ``WAIT_SECONDS``. A busy
worker never waits, and saves the second round trip kombu makes per task. Needs Redis 6.2 or
later (BLMOVE).
"""

from __future__ import annotations

from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import redis, virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from kombu.utils.objects import cached_property

WAIT_SECONDS = 0.05
# KEYS: kombu's unacked hash and index, then the queue keys in the order BRPOP would take them;
# ARGV: for each queue key, "1" when its consumer acknowledges (Celery's pidbox replies are
# consumed without). Returns false, or {queue key, message, delivery tag or false}. The record
# is what kombu's QoS.append writes: [message, exchange, routing key] under the tag, scored with
# the time it was taken.
CLAIM = """
for i = 3, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item and ARGV[i - 2] ~= '1' then
    return {KEYS[i], item, false}
  end
  if item then
    -- kombu writes "properties" last, so its fields are read off the message's tail; a message
    -- written otherwise (another client) is decoded whole.
    local tail = string.sub(item, -400)
    local tag = string.match(tail, '"delivery_tag": "([^"]+)"}}$')
    local exchange, key = string.match(tail,
      '"delivery_info": {"exchange": ("[^"]*"), "routing_key": ("[^"]*")}')
    if not (tag and exchange) then
      local ok, message = pcall(cjson.decode, item)
      local properties = ok and type(message) == 'table' and message['properties']
      tag = type(properties) == 'table' and properties['delivery_tag']
      if type(tag) ~= 'string' then
        return {KEYS[i], item, false}
      end
      local info = properties['delivery_info']
      if type(info) ~= 'table' then info = {} end
      exchange, key = cjson.encode(info['exchange'] or ''), cjson.encode(info['routing_key'] or '')
    end
    local now = redis.call('TIME')
    redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(now[2]) / 1000000, tag)
    redis.call('HSET', KEYS[1], tag, '[' .. item .. ',' .. exchange .. ',' .. key .. ']')
    return {KEYS[i], item, tag}
  end
end
return false
"""


class QoS(redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag == self.channel.claimed:  # the claim script has recorded it already
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)


class Channel(redis.Channel):
    QoS = QoS
    claimed: str | None = None  # delivery tag of the message the claim script just recorded
    _waiting = False  # the command in flight (or the next one) waits instead of claiming
    _sent = "EVAL"
    _last_key: str | None = None  # the queue key the last task came from

    @cached_property
    def _no_ack(self) -> set[str]:
        """Queues consumed without acknowledgements: their messages are not recorded."""
        return set()

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        no_ack = kwargs.get("no_ack", args[0] if args else False)
        (self._no_ack.add if no_ack else self._no_ack.discard)(queue)
        return super().basic_consume(queue, *args, **kwargs)

    @cached_property
    def _wait_seconds(self) -> float:
        return float(self.connection.client.transport_options.get("claim_wait", WAIT_SECONDS))

    def _brpop_start(self, timeout: float | None = None) -> None:
        if self.global_keyprefix:  # keys would need the prefix: kombu's own consume
            return super()._brpop_start(timeout)
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return None
        keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
        self._in_poll = self.client.connection
        self._brpop_sent_at = monotonic()  # type: ignore[assignment]  # kombu's None default
        if self._waiting:
            key = self._last_key if self._last_key in keys else keys[0]
            command: tuple[Any, ...] = ("BLMOVE", key, key, "RIGHT", "RIGHT")
            command += (self._wait_seconds,)
        else:
            command = ("EVAL", CLAIM, 2 + len(keys), self.unacked_key, self.unacked_index_key)
            acked = ["0" if key.rsplit(self.sep, 1)[0] in self._no_ack else "1" for key in keys]
            command += (*keys, *acked)
        self._sent = command[0]
        self.client.connection.send_command(*command)
        return None

    def _brpop_read(self, **options: Any) -> bool:
        if self.global_keyprefix:
            return bool(super()._brpop_read(**options))
        try:
            try:
                reply = self.client.parse_response(self.client.connection, self._sent, **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # the next poll reconnects
                raise
            if self._sent == "BLMOVE" or not reply:
                self._waiting = self._sent != "BLMOVE"
                raise Empty()
            key, item, tag = reply
            self._last_key = bytes_to_str(key)
            queue = self._last_key.rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(queue)
            self.claimed = bytes_to_str(tag) if tag else None
            self.connection._deliver(loads(bytes_to_str(item)), queue)
            return True
        finally:
            self.claimed = None
            self._in_poll = None  # type: ignore[assignment]  # kombu's own value when idle
            self._flush_brpop_reauth()

    def close(self) -> None:
        # kombu reads the reply in flight before closing. When the connection is gone that read
        # raises, which left kombu's close half done: a second close later found the transport
        # detached and stopped the worker (make faults, Redis restarted without persistence).
        if self._in_poll:
            try:
                self._brpop_read()
            except (Empty, *self.connection_errors):
                pass
        super().close()


class Transport(redis.Transport):
    Channel = Channel
