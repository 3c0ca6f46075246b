"""``tweetfeed listen``: the listener process, live (X API v2) or replaying a file or stdin."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import signal
import sys
import threading
from typing import Any

from pipeline.cli.control import watch
from pipeline.settings import Settings

log = logging.getLogger("tweetfeed")


def add_parsers(sub: Any) -> None:
    listen = sub.add_parser("listen", help="read a stream and enqueue it in batches")
    listen.add_argument("keys_name", nargs="?", help="API keys to stream with (live X API)")
    listen.add_argument(
        "--poll-interval", type=float, metavar="SECONDS",
        help="how often this listener reads the filter-term table itself (default "
        "TWEETFEED_POLL_INTERVAL); beat's polls, which reach it at once, follow beat's setting",
    )  # fmt: skip
    listen.add_argument("--from-file", metavar="PATH", help="replay JSONL (gzip ok; - = stdin)")
    listen.add_argument("--to-file", metavar="PATH", help="append raw JSON lines, no queue")
    listen.add_argument("--delimited", choices=["newline", "length"], default="newline")
    listen.add_argument(
        "--rate", type=float, metavar="LINES", help="replay at most LINES lines a second"
    )
    listen.add_argument("--source", help="source name recorded with each batch")
    listen.add_argument(
        "--then-watch", action="store_true", help="print stored counts as they land, until Ctrl-C"
    )
    listen.add_argument(
        "--commit-wait", type=float, default=60.0, metavar="SECONDS",
        help="after a replay, wait for the workers to commit what it handed on, giving up "
        "after SECONDS without a commit (0: do not wait)",
    )  # fmt: skip


def add_deletes_parser(sub: Any) -> None:
    deletes = sub.add_parser(
        "deletes", help="apply an X API compliance-job file: each listed tweet is deleted"
    )
    deletes.add_argument("--from-file", metavar="PATH", required=True,
                         help="the job's result file, JSONL (gzip ok; - = stdin)")  # fmt: skip
    deletes.add_argument("--source", help="name recorded with each batch (after 'compliance:')")
    deletes.add_argument("--commit-wait", type=float, default=60.0, metavar="SECONDS",
                         help="wait for the workers to commit, as listen does")  # fmt: skip


def cmd_deletes(args: argparse.Namespace, settings: Settings) -> int:
    """Replay the file through the ingest queue as a compliance batch: its lines become delete
    notices, and a line that is not one is dead-lettered, never stored."""
    from pipeline.ingest.request import COMPLIANCE

    replay = argparse.Namespace(
        keys_name=None, poll_interval=None, from_file=args.from_file, to_file=None,
        delimited="newline", rate=None, then_watch=False, commit_wait=args.commit_wait,
        source=COMPLIANCE + (args.source or ("stdin" if args.from_file == "-" else args.from_file)),
    )  # fmt: skip
    return cmd_listen(replay, settings)


def _sink(args: argparse.Namespace, settings: Settings) -> tuple[Any, str, Any]:
    """The replay's sink, what it goes to, and its hand-off ledger (None for a file)."""
    if args.to_file:
        from pipeline.stream.sinks import FileSink

        return FileSink(args.to_file, settings.capture_embedded), f"file {args.to_file}", None
    source = args.source or ("stdin" if args.from_file == "-" else f"file:{args.from_file}")
    ledger = _ledger(settings, source)
    from pipeline.store.engine import sessionmaker_for
    from pipeline.stream.spool import PatientSink
    from pipeline.stream.visible import ShownReplay

    shown = ShownReplay(PatientSink(ledger), ledger.redis, sessionmaker_for(settings.database_url),
                        f"replay {source}")  # fmt: skip
    return shown, "ingest queue", ledger


def _ledger(settings: Settings, source: str) -> Any:
    from pipeline.bus.sender import TaskSender
    from pipeline.stream import ledger
    from pipeline.stream.sinks import EnqueueSink

    clients = ledger.servers(settings.redis_url, settings.celery_broker_url)
    enqueue = EnqueueSink(clients[0], TaskSender(settings.celery_broker_url), source)
    root = settings.var_path / "handoff"
    # A task not run within twice the visibility timeout is not coming: kombu would have
    # given it back after one.
    stale = 2.0 * settings.visibility_timeout
    return ledger.HandoffLedger(enqueue, clients, root, source, stale)


def cmd_listen(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.stream.batcher import Batcher
    from pipeline.stream.replay import replay_path

    if not args.from_file:
        return cmd_listen_live(args, settings)
    try:
        sink, target, ledger = _sink(args, settings)
    except Exception as exc:
        log.error("replay stopped: %s", exc)
        return 1
    batcher = Batcher(sink, settings.batch_size, settings.batch_wait_ms / 1000)
    if args.then_watch:  # counts from the start: a paced replay plays for minutes
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        threading.Thread(target=watch, args=(settings,), kwargs={"main_thread": False},
                         name="watch", daemon=True).start()  # fmt: skip
    try:
        stats = replay_path(
            args.from_file, batcher, settings.max_line_bytes, args.delimited, args.rate
        )
        print(f"{stats.summary()} to the {target}", flush=True)
        if ledger is not None and args.commit_wait > 0:
            _settle(ledger, args.commit_wait)
    except Exception as exc:
        log.error("replay stopped: %s", exc)
        return 1
    finally:
        sink.close()
        if ledger is not None:
            ledger.close()
    if stats.handed_on != stats.lines:
        return 1
    if args.then_watch:
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()  # the counts go on until Ctrl-C or SIGTERM
    return 0


def _settle(ledger: Any, stall: float) -> None:
    if ledger.settle(stall):
        print("every batch is committed", flush=True)
        return
    print(f"{ledger.unconfirmed} batches are not committed yet (none was for {stall:g} s): "
          f"they stay in {ledger.folder.parent}/ and the next `tweetfeed listen` for this "
          "source hands them on again if Redis lost them", file=sys.stderr, flush=True)  # fmt: skip


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


def cmd_listen_live(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from pipeline.control import apikeys
    from pipeline.store import redis_client
    from pipeline.store.engine import sessionmaker_for, transaction
    from pipeline.stream.batcher import Batcher
    from pipeline.stream.live import LiveListener

    if args.poll_interval:
        settings = dataclasses.replace(settings, poll_interval=args.poll_interval)
    sessions = sessionmaker_for(settings.database_url)
    with transaction(sessions) as session:
        row = apikeys.choose(session, args.keys_name or settings.default_keys_name)
        clear = apikeys.opened(row, settings) if row else {}
        secrets = [v for v in clear.values() if v]
        name, token = (row.name, clear["bearer_token"]) if row else (None, None)
    if name is None or not token:
        wanted = args.keys_name or settings.default_keys_name or "any"
        print(f"tweetfeed listen: no API keys ({wanted}); add some with "
              "`tweetfeed keys add NAME --bearer-token -`", file=sys.stderr)  # fmt: skip
        return 2
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets(secrets))
    client = redis_client.connect(settings.redis_url)
    try:
        sink, closing = _live_sink(args, settings, name)
    except redis.RedisError as exc:
        log.error("tweetfeed listen: cannot reach Redis: %s", exc)
        return 1
    batcher = Batcher(sink, settings.batch_size, settings.batch_wait_ms / 1000)
    listener = LiveListener(settings, name, token, batcher, sessions, client)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: listener.stop())
    try:
        return listener.run()
    finally:
        closing.close()


def _live_sink(args: argparse.Namespace, settings: Settings, name: str) -> tuple[Any, Any]:
    """The live stream's sink and what to close after it: with ``--to-file``, raw lines into
    the file (as the replay path writes them), else the ingest queue through the hand-off
    ledger, spooling while Redis is away."""
    if args.to_file:
        from pipeline.stream.sinks import FileSink

        file_sink = FileSink(args.to_file, settings.capture_embedded)
        return file_sink, file_sink
    from pipeline.stream.spool import SpoolingSink

    ledger = _ledger(settings, f"x-v2:{name}")
    spool = settings.var_path / "spool" / f"{name}.spool"
    return SpoolingSink(ledger, spool, settings.max_line_bytes), ledger
