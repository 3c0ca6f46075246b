"""The ``tweetfeed`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli import live, web
from pipeline.feeds import rebuild
from pipeline.settings import Settings, SettingsError, get_settings

log = logging.getLogger("tweetfeed")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.store.migrate import upgrade

    upgrade()
    print("database is at the newest schema")
    return 0


def _sink(args: argparse.Namespace, settings: Settings) -> tuple[object, str]:
    if args.to_file:
        from pipeline.stream.sinks import FileSink

        return FileSink(args.to_file, settings.capture_embedded), f"file {args.to_file}"
    import redis

    from pipeline.bus.sender import TaskSender
    from pipeline.stream.sinks import EnqueueSink

    source = args.source or ("stdin" if args.from_file == "-" else f"file:{args.from_file}")
    client = redis.Redis.from_url(settings.redis_url)
    return EnqueueSink(client, TaskSender(settings.celery_broker_url), source), "ingest queue"


def cmd_listen(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.stream.batcher import Batcher
    from pipeline.stream.replay import replay_path

    if not args.from_file:
        return live.cmd_listen_live(args, settings)
    sink, target = _sink(args, settings)
    batcher = Batcher(sink, settings.batch_size, settings.batch_wait_ms / 1000)  # type: ignore[arg-type]
    try:
        stats = replay_path(args.from_file, batcher, settings.max_line_bytes, args.delimited)
    except Exception as exc:
        log.error("replay stopped: %s", exc)
        return 1
    finally:
        getattr(sink, "close", lambda: None)()
    print(f"{stats.summary()} to the {target}", flush=True)
    if stats.handed_on != stats.lines:
        return 1
    if args.then_watch:
        watch(settings)
    return 0


def watch(settings: Settings, every: float = 3.0) -> None:
    """Print stored row counts until interrupted: what a newcomer watches land."""
    from pipeline.control.stats import row_counts
    from pipeline.store.engine import sessionmaker_for, transaction

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


def cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.fakes import synth

    target = args.out or sys.stdout.buffer
    count = synth.write(target, args.count, args.format, seed=args.seed)
    print(f"wrote {count} {args.format} lines", file=sys.stderr)
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli.up import up

    return up(settings.var_path, replay=args.replay, demo=args.demo)


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from pipeline.control.stats import queue_depths, row_counts
    from pipeline.store.engine import sessionmaker_for, transaction

    with transaction(sessionmaker_for(settings.database_url)) as session:
        for name, count in row_counts(session).items():
            print(f"{name:16} {count}")
    for queue, depth in queue_depths(redis.Redis.from_url(settings.celery_broker_url)).items():
        print(f"queue {queue:10} {depth}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    print(repr(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetfeed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema (alembic)")

    listen = sub.add_parser("listen", help="read a stream and enqueue it in batches")
    listen.add_argument("keys_name", nargs="?", help="API keys to stream with (live X API)")
    listen.add_argument("--poll-interval", type=float, help="override TWEETFEED_POLL_INTERVAL")
    listen.add_argument("--from-file", metavar="PATH", help="replay JSONL (.gz ok; - = stdin)")
    listen.add_argument("--to-file", metavar="PATH", help="append raw JSON lines, no queue")
    listen.add_argument("--delimited", choices=["newline", "length"], default="newline")
    listen.add_argument("--source", help="source name recorded with each batch")
    listen.add_argument("--then-watch", action="store_true", help="print counts afterwards")

    synth = sub.add_parser("synth", help="generate a realistic sample stream")
    synth.add_argument("--count", type=int, default=1000)
    synth.add_argument("--format", choices=["v1", "v2"], default="v1")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", metavar="PATH", help="file to write (.gz ok); default stdout")

    up = sub.add_parser("up", help="run the whole pipeline (Procfile) on embedded defaults")
    up.add_argument("--demo", action="store_true", help="replay a generated sample stream")
    up.add_argument("--replay", metavar="PATH", help="replay this file as the listener")

    sub.add_parser("stats", help="row counts and queue depths")
    sub.add_parser("settings", help="print the settings in force (secrets hidden)")
    live.add_parsers(sub)
    rebuild.add_parsers(sub)
    web.add_parsers(sub)
    return parser


COMMANDS = {
    "migrate": cmd_migrate,
    "listen": cmd_listen,
    "synth": cmd_synth,
    "up": cmd_up,
    "stats": cmd_stats,
    "settings": cmd_settings,
    "keys": live.cmd_keys,
    "terms": live.cmd_terms,
    "status": live.cmd_status,
    "feeds": rebuild.cmd_feeds,
    "web": web.cmd_web,
    "flower": web.cmd_flower,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fake-api"]:
        # Its own options, its own parser: nothing of tweetfeed's settings is needed.
        from pipeline.fakes import fakeapi

        return fakeapi.main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"tweetfeed: {exc}", file=sys.stderr)
        return 2
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
