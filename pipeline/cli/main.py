"""The ``tweetfeed`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli import control, feeds, listen, web
from pipeline.settings import Settings, SettingsError, get_settings

log = logging.getLogger("tweetfeed")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.store.migrate import upgrade

    upgrade()
    print("database is at the newest schema")
    return 0


def cmd_synth(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.fakes import synth

    target = args.out or sys.stdout.buffer
    count = synth.write(target, args.count, args.format, seed=args.seed)
    print(f"wrote {count} {args.format} lines", file=sys.stderr)
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.cli.up import up

    return up(settings.var_path, replay=args.replay, demo=args.demo)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    print(repr(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetfeed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema (alembic)")

    listen.add_parsers(sub)
    listen.add_deletes_parser(sub)

    synth = sub.add_parser("synth", help="generate a realistic sample stream")
    synth.add_argument("--count", type=int, default=1000)
    synth.add_argument("--format", choices=["v1", "v2"], default="v1")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", metavar="PATH", help="file to write (.gz ok); default stdout")

    up = sub.add_parser("up", help="run the whole pipeline (Procfile) on embedded defaults")
    up.add_argument("--demo", action="store_true", help="replay a generated sample stream")
    up.add_argument("--replay", metavar="PATH", help="replay this file as the listener")

    sub.add_parser("settings", help="print the settings in force (secrets hidden)")
    control.add_parsers(sub)
    feeds.add_parsers(sub)
    web.add_parsers(sub)
    return parser


COMMANDS = {
    "migrate": cmd_migrate,
    "listen": listen.cmd_listen,
    "deletes": listen.cmd_deletes,
    "synth": cmd_synth,
    "up": cmd_up,
    "stats": control.cmd_stats,
    "settings": cmd_settings,
    "keys": control.cmd_keys,
    "terms": control.cmd_terms,
    "status": control.cmd_status,
    "feeds": feeds.cmd_feeds,
    "web": web.cmd_web,
    "flower": web.cmd_flower,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fake-api"]:
        # Its own options, its own parser: nothing of tweetfeed's settings is needed.
        from pipeline.fakes import xapi

        return xapi.main(argv[1:])
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
    try:
        return COMMANDS[args.command](args, settings)
    except BrokenPipeError:
        # `tweetfeed stats | head`: the reader left. Quiet, as other commands are, and with
        # their status (128 + SIGPIPE); what Python would flush at exit goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
