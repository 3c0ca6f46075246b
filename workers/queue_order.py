"""A worker takes its queues in the order ``-Q`` lists them, on brokers other than Redis too.

On Redis, kombu's ``priority`` queue order does it (celeryconfig). AMQP has no such order: a
worker consumes every queue at once, so a flood of ``fanout_low`` work would share the worker
with ``fanout``. Here a worker on RabbitMQ starts consuming only its first queue; every
``CHECK_SECONDS`` it asks the broker how many messages wait in each queue, and consumes a later
queue only while none wait in any earlier one. A task of a later queue already taken when an
earlier one fills still runs; the next one waits.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from celery.signals import celeryd_after_setup

from pipeline.bus import depths

log = logging.getLogger(__name__)
CHECK_SECONDS = 0.2


def ordered(app: Any) -> bool:
    """Whether the broker needs this (Redis orders queues itself)."""
    return not depths.is_redis(str(app.conf.broker_url))


@celeryd_after_setup.connect
def _first_queue_only(sender: str, instance: Any, **_: Any) -> None:
    app = instance.app
    if not ordered(app):
        return
    names = list(app.amqp.queues.consume_from)
    app.conf.tweetfeed_queue_order = names  # the -Q order, kept for QueueOrder
    for name in names[1:]:
        app.amqp.queues.deselect(name)


class QueueOrder(bootsteps.StartStopStep):
    """Consume a later queue only while every earlier one is empty (see the module)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer: Any = None
        self.channel: Any = None

    def start(self, c: Any) -> None:
        names = getattr(c.app.conf, "tweetfeed_queue_order", None)
        if not names or len(names) < 2:
            return
        self.timer = c.timer.call_repeatedly(CHECK_SECONDS, self.check, (c, names), priority=10)

    def waiting(self, c: Any, name: str) -> int:
        if self.channel is None:
            self.channel = c.connection.channel()
        return int(self.channel.queue_declare(queue=name, passive=True).message_count)

    def check(self, c: Any, names: list[str]) -> None:
        consumer = c.task_consumer
        if consumer is None:
            return
        try:
            earlier_empty = True
            for n, name in enumerate(names):
                if n and earlier_empty != consumer.consuming_from(name):
                    if earlier_empty:
                        consumer.add_queue(c.app.amqp.queues[name])
                        consumer.consume()
                    else:
                        consumer.cancel_by_queue(name)
                if n + 1 < len(names):
                    earlier_empty = earlier_empty and not self.waiting(c, name)
        except Exception:  # a broker hiccup: drop the channel and look again next time
            log.warning("could not look at the queues' depths", exc_info=True)
            self.channel = None

    def stop(self, c: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.channel = None

    shutdown = stop
