"""``tweetfeed keys|terms|status|stats``: the operators' knobs and gauges from a terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from pipeline.settings import Settings


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
                apikeys.add(session, args.name, settings, **fields)
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


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    print_status(settings)
    return 0


def watch(settings: Settings, every: float = 3.0, main_thread: bool = True) -> None:
    """Print stored row counts until interrupted: what a newcomer watches land."""
    from pipeline.control.status import row_counts
    from pipeline.store.engine import sessionmaker_for, transaction

    if main_thread:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sessions = sessionmaker_for(settings.database_url)
    previous = None
    try:
        while True:
            with transaction(sessions) as session:
                counts = row_counts(session)
            if counts != previous:
                print("stored: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
                previous = counts
            time.sleep(every)
    except KeyboardInterrupt:
        return


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.bus import depths
    from pipeline.control.status import row_counts
    from pipeline.store.engine import sessionmaker_for, transaction

    with transaction(sessionmaker_for(settings.database_url)) as session:
        for name, count in row_counts(session).items():
            print(f"{name:16} {count}")
    broker = depths.broker_of(settings.celery_broker_url)
    for queue, depth in depths.queue_depths(broker).items():
        print(f"queue {queue:10} {depth}")
    return 0


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(v) if v is not None else "" for v in row])
    return table


def print_status(settings: Settings) -> None:
    from pipeline.control.status import gather
    from pipeline.store import redis_client

    facts = gather(settings, redis_client.connect(settings.redis_url))
    console = Console()
    console.print(_table(
        "listeners", ["keys", "state", "host", "pid", "tweets", "last heartbeat", "last error"],
        [[p["keys"], p["state"], p["host"], p["pid"], p["tweets"], p["heartbeat"], p["last_error"]]
         for p in facts["listeners"]],
    ))  # fmt: skip
    console.print(_table(
        f"terms ({facts['tweets_per_minute']} tweets in the last minute)",
        ["id", "term", "enabled", "tweets/min"],
        [[t["id"], t["term"], t["enabled"], t["per_minute"]] for t in facts["terms"]],
    ))  # fmt: skip
    console.print(
        _table("queues", ["queue", "waiting"], [[q, n] for q, n in facts["queues"].items()])
    )
    console.print(_table("rows", ["table", "rows"], [[t, n] for t, n in facts["rows"].items()]))


def add_parsers(sub: Any) -> None:
    from pipeline.control.key_fields import SECRET_FIELDS

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
    sub.add_parser("stats", help="row counts and queue depths")
