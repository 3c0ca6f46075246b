"""Activities from your own SQLAlchemy models (stream-django's ``Activity`` mixin).

    from pipeline.bus.activity_mixin import Activity, publish_activities

    class Pin(Base, Activity):
        __tablename__ = "pins"
        id: Mapped[int] = mapped_column(primary_key=True)
        user_id: Mapped[int]
        board_owner_id: Mapped[int]
        activity_verb = "pin"

        @property
        def activity_actor(self) -> str:
            return f"user:{self.user_id}"

        @property
        def activity_notify(self) -> list[str]:
            return [f"notification:{self.board_owner_id}"]

    publish_activities(SessionLocal)  # a sessionmaker, a Session class or one session

A row inserted through such a session publishes ``tweetfeed.add_activity`` once its transaction
commits, and a row deleted publishes ``tweetfeed.remove_activity``; a rolled-back transaction
publishes nothing. The activity's foreign id is ``<table>:<primary key>``, so publishing twice
stores it once. Each message is built at flush time, while the row's attributes can still be
read, and sent after the commit with the sender's retries; if the broker stays unreachable,
``commit()`` raises after the rows are committed, and :func:`publish_again` sends a row's
activity again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from pipeline.bus import routes
from pipeline.bus.client import Client
from pipeline.times import iso

PENDING = "tweetfeed_activities"  # the session.info entry holding what waits for the commit


class Activity:
    """Mix into a mapped class. Override what the defaults do not say of your model:
    ``activity_actor`` (required), ``activity_verb`` (default: the table's name),
    ``activity_object`` (default: ``<table>:<primary key>``), ``activity_target``,
    ``activity_notify`` (feeds to send it to), ``activity_time`` (default: a ``created_at``
    attribute, else the time of the flush) and ``extra_activity_data``."""

    activity_target: str | None = None
    extra_activity_data: dict[str, Any] | None = None

    @property
    def activity_actor(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must say its activity_actor")

    @property
    def activity_verb(self) -> str:
        return str(inspect(type(self)).local_table.name)

    @property
    def activity_object(self) -> str:
        return self.activity_foreign_id

    @property
    def activity_foreign_id(self) -> str:
        keys = inspect(type(self)).primary_key_from_instance(self)  # set by the flush's INSERT
        return f"{inspect(type(self)).local_table.name}:{'-'.join(str(k) for k in keys)}"

    @property
    def activity_notify(self) -> list[str]:
        return []

    @property
    def activity_time(self) -> datetime:
        created = getattr(self, "created_at", None)
        return created if isinstance(created, datetime) else datetime.now(UTC)

    def activity_payload(self) -> dict[str, Any]:
        """The ``tweetfeed.add_activity`` payload of this row."""
        time = self.activity_time
        time = time.replace(tzinfo=UTC) if time.tzinfo is None else time.astimezone(UTC)
        payload = {
            "actor": self.activity_actor, "verb": self.activity_verb,
            "object": self.activity_object, "target": self.activity_target,
            "time": iso(time), "foreign_id": self.activity_foreign_id,
            "to": list(self.activity_notify) or None, "extra": self.extra_activity_data,
        }  # fmt: skip
        return {k: v for k, v in payload.items() if v is not None}


def publish_activities(target: Any, client: Client | None = None) -> Client:
    """Publish the activities of :class:`Activity` rows that sessions of ``target`` insert or
    delete, after each commit, through ``client`` (default: a :class:`Client` on
    TWEETFEED_BROKER_URL). Returns the client."""
    sender = client or Client()
    event.listen(target, "after_flush", _collect)
    event.listen(target, "after_commit", lambda session: _send(session, sender))
    event.listen(target, "after_soft_rollback", _forget)
    event.listen(target, "after_transaction_end", _ended)
    return sender


def publish_again(row: Activity, client: Client) -> str:
    """Send ``row``'s activity now (it is stored once however often it is sent)."""
    return client.send(routes.ADD_ACTIVITY, **row.activity_payload())


Pending = list[tuple[Any, str, dict[str, Any]]]  # (the savepoint or None, task, payload)


def _collect(session: Session, _: Any) -> None:
    pending: Pending = session.info.setdefault(PENDING, [])
    savepoint = session.get_nested_transaction()
    for row in session.new:
        if isinstance(row, Activity):
            pending.append((savepoint, routes.ADD_ACTIVITY, row.activity_payload()))
    for row in session.deleted:
        if isinstance(row, Activity):
            payload = {"foreign_id": row.activity_foreign_id}
            pending.append((savepoint, routes.REMOVE_ACTIVITY, payload))


def _within(transaction: Any, ended: Any) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget(session: Session, ended: Any) -> None:
    """A rollback: of the whole transaction, everything waits no more; of a savepoint, what
    was flushed inside it."""
    if not ended.nested:
        session.info.pop(PENDING, None)
        return
    pending: Pending = session.info.get(PENDING, [])
    pending[:] = [p for p in pending if not _within(p[0], ended)]


def _ended(session: Session, transaction: Any) -> None:
    """The outermost transaction ended without a commit (closed, say): nothing is sent."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def _send(session: Session, client: Client) -> None:
    for _, name, payload in session.info.pop(PENDING, None) or []:
        client.send(name, **payload)
