"""The fake X API's command line (``tweetfeed fake-api``, ``python -m pipeline.fakes.xapi``):
options, and serving until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from pipeline.fakes.xapi.protocol import DEFAULT_PORT, HOST
from pipeline.fakes.xapi.script import load_script
from pipeline.fakes.xapi.server import FakeXApi

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``tweetfeed fake-api`` options."""
    parser = argparse.ArgumentParser(
        prog="tweetfeed fake-api", description="Serve a fake X API v2 filtered stream."
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--host", default=HOST, help=f"only {HOST} is accepted")
    parser.add_argument("--keepalive-interval", type=float, default=20.0, metavar="SECONDS")
    parser.add_argument("--tweets-per-second", type=float, default=5.0, metavar="RATE")
    parser.add_argument(
        "--token",
        action="append",
        dest="tokens",
        metavar="TOKEN",
        help="accepted bearer token (repeatable); any token when none is given",
    )
    parser.add_argument("--script", type=Path, metavar="PATH", help="JSON list of script steps")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake until SIGINT or SIGTERM; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.host != HOST:
        print(f"fake-api: refusing --host {args.host}: the fake only binds {HOST}", file=sys.stderr)
        return 2
    try:
        script = load_script(args.script) if args.script else None
        api = FakeXApi(
            args.port,
            keepalive_interval=args.keepalive_interval,
            tweets_per_second=args.tweets_per_second,
            tokens=args.tokens,
            script=script,
            seed=args.seed,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"fake-api: {exc}", file=sys.stderr)
        return 2
    print(f"fake X API listening on {api.base_url}", flush=True)
    try:
        _wait_for_signal()
    finally:
        api.stop()
    return 0


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (or Ctrl-C) arrives."""
    done = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        done.wait()  # signals only reach the main thread; a caller elsewhere runs forever
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
