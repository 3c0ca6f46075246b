"""v1.1 stream messages: tweets (extended, retweets, quotes), deletes and notices."""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.ingest.parse.records import LineResult, ShapeError, TweetRecord
from pipeline.times import from_millis, from_v1_time

NOTICES = ("limit", "disconnect", "warning")
# Marks the slim original that ``--to-file`` leaves in a retweet: not a tweet to store.
STUB = "tweetfeed_stub"


def _id(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key + "_str") or obj.get(key)
    return int(value) if value is not None else None


def _required_id(obj: Any, key: str, what: str) -> int:
    if not isinstance(obj, dict):
        raise ShapeError(f"{what} must be an object, got {type(obj).__name__}")
    value = _id(obj, key)
    if value is None:
        raise ShapeError(f"{what} has no '{key}'")
    return value


def _full_text(tweet: dict[str, Any]) -> str:
    extended = tweet.get("extended_tweet")
    if extended:
        return str(extended["full_text"])
    return str(tweet.get("full_text") or tweet["text"])


def _entities(tweet: dict[str, Any]) -> dict[str, Any]:
    extended = tweet.get("extended_tweet")
    return (extended or tweet).get("entities") or tweet.get("entities") or {}


def user_row(user: dict[str, Any], seen_at: Any) -> dict[str, Any]:
    return {
        "id": _id(user, "id"),
        "screen_name": user["screen_name"],
        "name": user.get("name"),
        "description": user.get("description"),
        "location": user.get("location"),
        "followers_count": user.get("followers_count"),
        "following_count": user.get("friends_count"),
        "verified": user.get("verified"),
        "profile_image_url": user.get("profile_image_url_https") or user.get("profile_image_url"),
        "profile_at": seen_at,
    }


def parse_tweet(
    tweet: dict[str, Any], raw: bytes | None, capture: bool, out: LineResult, embedded: bool
) -> None:
    """Append the tweet (and, when capturing, the tweets it embeds) to ``out``."""
    user = tweet["user"]
    author_id = _required_id(user, "id", "v1 tweet 'user'")
    ts = tweet.get("timestamp_ms")
    created = from_millis(ts) if ts else from_v1_time(tweet["created_at"])
    entities = _entities(tweet)
    hashtags = [h["text"] for h in entities.get("hashtags", ())]
    mentions = [_id(m, "id") for m in entities.get("user_mentions", ())]
    text = _full_text(tweet)
    retweeted = tweet.get("retweeted_status")
    quoted = tweet.get("quoted_status")
    retweeted_id = _id(tweet, "retweeted_status_id")
    if retweeted:
        retweeted_id = _id(retweeted, "id")
        # A retweet's own text is cut at 140 characters; the original holds the whole of it.
        text = f"RT @{retweeted['user']['screen_name']}: {_full_text(retweeted)}"
        original = _entities(retweeted)
        hashtags += [h["text"] for h in original.get("hashtags", ())]
        mentions += [_id(m, "id") for m in original.get("user_mentions", ())]
    quoted_id = _id(tweet, "quoted_status_id") or (_id(quoted, "id") if quoted else None)
    row = {
        "id": _id(tweet, "id"),
        "author_id": author_id,
        "text": text,
        "created_at": created,
        "lang": tweet.get("lang"),
        "in_reply_to_id": _id(tweet, "in_reply_to_status_id"),
        "retweeted_id": retweeted_id,
        "quoted_id": quoted_id,
        "source_format": "v1",
        "raw": raw if raw is not None else orjson.dumps(tweet),
    }
    out.tweets.append(
        TweetRecord(
            row=row,
            hashtags=tuple(dict.fromkeys(h.casefold() for h in hashtags)),
            mentions=tuple(dict.fromkeys(m for m in mentions if m is not None)),
            rules=(),
            embedded=embedded,
            payload=tweet,
        )
    )
    out.users.append(user_row(user, created))
    if capture:
        for inner in (retweeted, quoted):
            if inner and not inner.get(STUB):
                parse_tweet(inner, None, capture, out, embedded=True)


def parse_delete(message: dict[str, Any], out: LineResult) -> None:
    status = message["delete"]["status"]
    ts = message["delete"].get("timestamp_ms") or message.get("timestamp_ms")
    out.deletes.append(
        {
            "tweet_id": _required_id(status, "id", "v1 delete 'status'"),
            "user_id": _id(status, "user_id"),
            "deleted_at": from_millis(ts) if ts else None,
        }
    )


def is_tweet(message: dict[str, Any]) -> bool:
    return "user" in message and "id" in message and ("text" in message or "full_text" in message)
