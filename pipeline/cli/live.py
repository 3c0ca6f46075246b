"""``tweetfeed keys|terms|status`` and the live side of ``tweetfeed listen``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from typing import Any

from pipeline.settings import Settings

log = logging.getLogger("tweetfeed")


class RedactSecrets(logging.Filter):
    """Replace known secrets in every log record, whoever logs them."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _secret(value: str | None) -> str | None:
    """``-`` reads the secret from stdin, so it never shows in the process list."""
    return sys.stdin.readline().strip() if value == "-" else value


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.control import apikeys
    from pipeline.store.engine import sessionmaker_for, transaction

    with transaction(sessionmaker_for(settings.database_url)) as session:
        if args.action == "add":
            fields = {f: _secret(getattr(args, f)) for f in apikeys.SECRET_FIELDS}
            try:
                apikeys.add(session, args.name, **fields)
            except ValueError as exc:
                print(f"tweetfeed keys: {exc}", file=sys.stderr)
                return 2
            print(f"keys {args.name!r} stored")
        else:
            for name, present in apikeys.listing(session):
                print(f"{name}\t{', '.join(present)} set")
    return 0


def cmd_terms(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.control import terms
    from pipeline.store.engine import sessionmaker_for, transaction

    with transaction(sessionmaker_for(settings.database_url)) as session:
        if args.action == "add":
            for term in args.terms:
                terms.add(session, term)
        elif args.action == "rm":
            for term in args.terms:
                if not terms.remove(session, term):
                    print(f"no such term: {term!r}", file=sys.stderr)
        elif args.action in {"enable", "disable"}:
            for term in args.terms:
                terms.set_enabled(session, term, args.action == "enable")
        for row in terms.all_terms(session):
            print(f"{row.id}\t{'on ' if row.enabled else 'off'}\t{row.term}")
    return 0


def cmd_listen_live(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from pipeline.bus.sender import TaskSender
    from pipeline.control import apikeys
    from pipeline.store.engine import sessionmaker_for, transaction
    from pipeline.stream.batcher import Batcher
    from pipeline.stream.live import LiveListener
    from pipeline.stream.sinks import EnqueueSink
    from pipeline.stream.spool import SpoolingSink

    if args.poll_interval:
        settings = dataclasses.replace(settings, poll_interval=args.poll_interval)
    sessions = sessionmaker_for(settings.database_url)
    with transaction(sessions) as session:
        row = apikeys.choose(session, args.keys_name or settings.default_keys_name)
        secrets = [getattr(row, f) for f in apikeys.SECRET_FIELDS] if row else []
        name, token = (row.name, row.bearer_token) if row else (None, None)
    if name is None or not token:
        wanted = args.keys_name or settings.default_keys_name or "any"
        print(f"tweetfeed listen: no API keys ({wanted}); add some with "
              "`tweetfeed keys add NAME --bearer-token -`", file=sys.stderr)  # fmt: skip
        return 2
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets(secrets))
    client = redis.Redis.from_url(settings.redis_url)
    inner = EnqueueSink(client, TaskSender(settings.celery_broker_url), f"x-v2:{name}")
    sink = SpoolingSink(
        inner, settings.var_path / "spool" / f"{name}.spool", settings.max_line_bytes
    )
    batcher = Batcher(sink, settings.batch_size, settings.batch_wait_ms / 1000)
    listener = LiveListener(settings, name, token, batcher, sessions, client)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: listener.stop())
    return listener.run()


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.control.status import print_status

    print_status(settings)
    return 0


def add_parsers(sub: Any) -> None:
    from pipeline.control.apikeys import SECRET_FIELDS

    keys = sub.add_parser("keys", help="store or list X API keys (secrets never shown)")
    key_actions = keys.add_subparsers(dest="action", required=True)
    add = key_actions.add_parser("add", help="store keys under NAME; '-' reads a value from stdin")
    add.add_argument("name")
    for field in SECRET_FIELDS:
        add.add_argument(f"--{field.replace('_', '-')}", dest=field, metavar="VALUE")
    key_actions.add_parser("list", help="names and which fields are set")

    terms = sub.add_parser("terms", help="manage the filter terms the stream follows")
    term_actions = terms.add_subparsers(dest="action", required=True)
    for action in ("add", "rm", "enable", "disable"):
        term_actions.add_parser(action).add_argument("terms", nargs="+")
    term_actions.add_parser("list")

    sub.add_parser("fake-api", help="a fake X API v2 stream on 127.0.0.1 (--help for options)")
    sub.add_parser("status", help="listeners, terms, rates and queue depths")
