"""Factories for test data: v1 tweets and delete notices as raw stream lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def v1_tweet(tweet_id: int, text: str = "hello", user_id: int = 7, **extra: Any) -> dict[str, Any]:
    user = {
        "id": user_id,
        "id_str": str(user_id),
        "screen_name": extra.pop("screen_name", f"user{user_id}"),
        "name": extra.pop("name", f"User {user_id}"),
        "followers_count": extra.pop("followers_count", 10),
    }
    return {
        "id": tweet_id,
        "id_str": str(tweet_id),
        "text": text,
        "created_at": "Wed Oct 10 20:19:24 +0000 2018",
        "timestamp_ms": str(extra.pop("timestamp_ms", 1539202764000)),
        "user": user,
        "entities": extra.pop("entities", {"hashtags": [], "user_mentions": []}),
        "lang": "en",
        **extra,
    }


def line(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def v1_delete(tweet_id: int, user_id: int = 7) -> bytes:
    status = {"id": tweet_id, "id_str": str(tweet_id), "user_id": user_id}
    return line({"delete": {"status": status, "timestamp_ms": "1539202765000"}})


def v1_entities(tags: tuple[str, ...] = (), mentions: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "hashtags": [{"text": t} for t in tags],
        "user_mentions": [{"id": u, "id_str": str(u), "screen_name": f"user{u}"} for u in mentions],
    }


def v1_retweet(tweet_id: int, original: dict[str, Any], user_id: int, ms: int) -> dict[str, Any]:
    """A v1 retweet of ``original``: its text starts "RT @author" and mentions the author."""
    author = original["user"]["id"]
    return v1_tweet(
        tweet_id,
        text=f"RT @user{author}: {original['text']}",
        user_id=user_id,
        timestamp_ms=ms,
        entities=v1_entities(mentions=(author,)),
        retweeted_status=original,
    )


def v2_line(
    tweet_id: int, author_id: int, text: str, ms: int, terms: tuple[int, ...] = ()
) -> bytes:
    """A v2 filtered-stream line whose matching rules carry the given filter-term ids as tags."""
    created = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    user = {"id": str(author_id), "username": f"user{author_id}", "name": f"User {author_id}"}
    return line(
        {
            "data": {
                "id": str(tweet_id),
                "author_id": str(author_id),
                "text": text,
                "created_at": created.replace("+00:00", "Z"),
                "lang": "en",
            },
            "includes": {"users": [user]},
            "matching_rules": [{"id": str(9000 + t), "tag": str(t)} for t in terms],
        }
    )
