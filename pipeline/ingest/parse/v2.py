"""X API v2 messages: stream lines, search pages, compliance deletes and stream errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from pipeline.ingest.parse.records import LineResult, ShapeError, TweetRecord, fit_id
from pipeline.ingest.parse.v1 import STUB
from pipeline.times import from_iso


def _id(value: Any, what: str, key: str) -> int:
    return fit_id(int(value), what, key)


def _text(tweet: dict[str, Any]) -> str:
    note = tweet.get("note_tweet")
    return str(note["text"] if note else tweet["text"])


def _ref(refs: dict[str, Any], kind: str) -> int | None:
    return _id(refs[kind], "v2 referenced tweet", "id") if kind in refs else None


def _entities(tweet: dict[str, Any]) -> dict[str, Any]:
    note = tweet.get("note_tweet")
    return (note or tweet).get("entities") or tweet.get("entities") or {}


def _user_row(user: dict[str, Any], seen_at: datetime) -> dict[str, Any]:
    metrics = user.get("public_metrics") or {}
    return {
        "id": _id(user["id"], "v2 user", "id"),
        "screen_name": user["username"],
        "name": user.get("name"),
        "description": user.get("description"),
        "location": user.get("location"),
        "followers_count": metrics.get("followers_count"),
        "following_count": metrics.get("following_count"),
        "verified": user.get("verified"),
        "profile_image_url": user.get("profile_image_url"),
        "profile_at": seen_at,
    }


class _Includes:
    """Lookups into a message's ``includes``, built once per message."""

    def __init__(self, includes: dict[str, Any]) -> None:
        self.users = {u["id"]: u for u in includes.get("users", ())}
        self.user_ids = {u["username"].casefold(): int(u["id"]) for u in self.users.values()}
        self.tweets = {t["id"]: t for t in includes.get("tweets", ())}


def _tweet(
    tweet: dict[str, Any],
    raw: bytes | None,
    inc: _Includes,
    rules: tuple[str, ...],
    embedded: bool,
    out: LineResult,
    terms: tuple[int, ...] = (),
) -> None:
    refs = {r["type"]: r["id"] for r in tweet.get("referenced_tweets", ())}
    entities = _entities(tweet)
    text = _text(tweet)
    original = inc.tweets.get(refs.get("retweeted"))  # type: ignore[arg-type]
    if original is not None:
        author = inc.users.get(original.get("author_id"))
        if author is not None:
            # The retweet's text is cut short; the included original holds all of it.
            text = f"RT @{author['username']}: {_text(original)}"
        # And its entities: mentions and hashtags past the cut are only there (as v1.1 does).
        whole = _entities(original)
        entities = {k: [*entities.get(k, ()), *whole.get(k, ())] for k in ("mentions", "hashtags")}
    mentions = []
    for mention in entities.get("mentions", ()):
        user_id = mention.get("id") or inc.user_ids.get(mention.get("username", "").casefold())
        if user_id is not None:
            mentions.append(_id(user_id, "v2 mention", "id"))
    row = {
        "id": _id(tweet["id"], "v2 tweet", "id"),
        "author_id": _id(tweet["author_id"], "v2 tweet", "author_id"),
        "text": text,
        "created_at": from_iso(tweet["created_at"]),
        "lang": tweet.get("lang"),
        "in_reply_to_id": _ref(refs, "replied_to"),
        "retweeted_id": _ref(refs, "retweeted"),
        "quoted_id": _ref(refs, "quoted"),
        "source_format": "v2",
        "raw": raw if raw is not None else orjson.dumps(tweet),
    }
    out.tweets.append(
        TweetRecord(
            row=row,
            hashtags=tuple(
                dict.fromkeys(h["tag"].casefold() for h in entities.get("hashtags", ()))
            ),
            mentions=tuple(dict.fromkeys(mentions)),
            rules=rules,
            embedded=embedded,
            source=tweet,
            terms=terms,
        )
    )


def parse_message(message: dict[str, Any], line: bytes, capture: bool, out: LineResult) -> None:
    """A message with ``data``: one tweet (stream), a page of tweets (search), or a delete."""
    data = message["data"]
    if isinstance(data, dict) and "delete" in data:
        tweet = data["delete"]["tweet"]
        event_at = data["delete"].get("event_at")
        out.deletes.append(
            {
                "tweet_id": _id(tweet["id"], "v2 delete 'tweet'", "id"),
                "user_id": (
                    _id(tweet["author_id"], "v2 delete 'tweet'", "author_id")
                    if tweet.get("author_id")
                    else None
                ),
                "deleted_at": from_iso(event_at) if event_at else None,
            }
        )
        return
    if isinstance(data, dict):
        tweets, whole_line = [data], True
    elif isinstance(data, list):
        tweets, whole_line = data, False
    else:
        raise ShapeError(f"v2 'data' must be an object or a list, got {type(data).__name__}")
    inc = _Includes(message.get("includes") or {})
    matching = message.get("matching_rules", ())
    rules = tuple(str(r["id"]) for r in matching)
    # A rule's tag is the id of the filter term it was made from (see pipeline.stream.rules).
    terms = tuple(int(r["tag"]) for r in matching if str(r.get("tag") or "").isdigit())
    seen_at = {}
    for tweet in tweets:
        _tweet(tweet, line if whole_line else None, inc, rules, False, out, terms)
        seen_at[tweet["author_id"]] = out.tweets[-1].row["created_at"]
    newest = max(r.row["created_at"] for r in out.tweets)
    if capture:
        for tweet in inc.tweets.values():
            if not tweet.get(STUB):
                _tweet(tweet, None, inc, (), True, out)
    for user_id, user in inc.users.items():
        out.users.append(_user_row(user, seen_at.get(user_id, newest)))


def parse_errors(message: dict[str, Any], out: LineResult) -> None:
    """Stream errors such as ``operational-disconnect``: counted, never stored as tweets."""
    errors = message["errors"]
    if not isinstance(errors, list) or not errors:
        raise ShapeError("v2 'errors' must be a non-empty list")
    for error in errors:
        title = str(error.get("title") or error.get("type") or "unknown")
        out.notices.append(title.replace("-", "_").replace(" ", "_").lower())
