"""``tweetfeed feeds …``: rebuild Redis feeds from SQL, and show a feed from the terminal."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from pipeline.feeds import ids

# The readers and SQLAlchemy under them are imported by the commands that use them: ``tweetfeed``
# builds every command's parser at start, and the listener should not load them (~0.6 s of CPU).


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feeds = sub.add_parser("feeds", help="rebuild Redis feeds from SQL, or show a feed")
    actions = feeds.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="copy feeds from SQL into Redis").add_argument(
        "feeds", nargs="*", metavar="FEED", help="e.g. timeline:7 (default: every feed)"
    )
    show = actions.add_parser("show", help="print a feed's newest activities")
    show.add_argument("feed")
    show.add_argument("--limit", type=int, default=20)


def cmd_feeds(args: argparse.Namespace, _settings: object) -> int:
    console = Console()
    try:
        names = [ids.check(f) for f in getattr(args, "feeds", None) or ()]
    except ids.FeedError as exc:
        console.print(f"tweetfeed: {exc}", style="red")
        return 2
    if args.action == "rebuild":
        from pipeline.feeds.rebuild import rebuild
        from pipeline.runtime import default_runtime

        counts = rebuild(default_runtime(), names)
        console.print(f"rebuilt {len(counts)} feeds, {sum(counts.values())} items")
        return 0
    return _show(console, args.feed, args.limit)


def _show(console: Console, name: str, limit: int) -> int:
    from pipeline.feeds.read import AggregatedFeed, get_feed

    try:
        feed = get_feed(name)
    except ids.FeedError as exc:
        console.print(f"tweetfeed: {exc}", style="red")
        return 2
    table = Table(title=name)
    if isinstance(feed, AggregatedFeed):
        for column in ("group", "verb", "object", "actors", "activities"):
            table.add_column(column)
        for g in feed.page(limit):
            table.add_row(g.id, g.verb, g.object, str(g.actor_count), str(g.activity_count))
    else:
        for column in ("id", "time", "actor", "verb", "object", "text"):
            table.add_column(column)
        for a in feed.page(limit):
            text = (a.object_data or a.foreign_data or {}).get("text", "")
            table.add_row(str(a.id), a.activity.as_json()["time"], a.actor, a.verb, a.object, text)
    console.print(table)
    return 0
