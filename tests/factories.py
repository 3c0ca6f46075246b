"""Factories for test data: v1 tweets and delete notices as raw stream lines."""

from __future__ import annotations

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
