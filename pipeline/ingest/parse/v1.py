"""v1.1 stream messages: tweets (extended, retweets, quotes), deletes and notices.

They arrive decoded into the types of ``schema``, which hold only the fields read here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, Raw, UnsetType

from pipeline.ingest.parse.records import LineResult, ShapeError, TweetRecord, fit_id
from pipeline.ingest.parse.schema import (
    ABSENT,
    TWEET,
    Delete,
    Entities,
    Message,
    Number,
    Tweet,
    User,
)
from pipeline.times import from_millis, from_v1_time

NOTICES = ("limit", "disconnect", "warning")
# Marks the slim original that ``--to-file`` leaves in a retweet: not a tweet to store.
STUB = "tweetfeed_stub"

_NO_ENTITIES = Entities()


def _id(text: str | None, number: Number | UnsetType, what: str, key: str) -> int | None:
    """The id in ``<key>_str`` (``text``), else in ``<key>`` (``number``); None if neither.
    When both are there they must agree: which one is wrong cannot be told."""
    value = text or number
    if value is None or value is UNSET:
        return None
    found = fit_id(int(value), what, key)
    if text and number is not None and number is not UNSET and int(number) != found:
        raise ShapeError(f"{what} '{key}' {number} and '{key}_str' {text!r} disagree")
    return found


def _required_id(text: str | None, number: Number | UnsetType, what: str) -> int:
    value = _id(text, number, what, "id")
    if value is None:
        raise ShapeError(f"{what} has no 'id'")
    return value


def _user(tweet: Tweet) -> User:
    user = tweet.user
    if user is UNSET:
        raise KeyError("user")
    if user is None:
        raise ShapeError("v1 tweet 'user' must be an object, got NoneType")
    return user


def _full_text(tweet: Tweet) -> str:
    extended = tweet.extended_tweet
    if extended is not None:
        return extended.full_text
    text = tweet.full_text or tweet.text
    if text is UNSET:
        raise KeyError("text")
    return str(text)


def _entities(tweet: Tweet) -> Entities:
    extended = tweet.extended_tweet
    entities = extended.entities if extended is not None else None
    return entities or tweet.entities or _NO_ENTITIES


def _created_at(tweet: Tweet) -> str:
    created_at = tweet.created_at
    if created_at is None or created_at is UNSET:
        raise KeyError("created_at")
    return created_at


def _embedded(raw: Raw | UnsetType, path: str, key: str) -> Tweet | None:
    """The tweet in ``raw``, decoded now; None if the key is absent, null or ``{}``."""
    if raw is UNSET or raw in ABSENT:
        return None
    try:
        return TWEET.decode(raw)
    except msgspec.DecodeError as exc:
        # Say where the embedded object is in the line, as msgspec does for the line itself.
        message, at = str(exc), f"{path}.{key}"
        if " - at `$" in message:
            raise ShapeError(message.replace(" - at `$", f" - at `{at}", 1)) from None
        raise ShapeError(f"{message} - at `{at}`") from None


def parse_tweet(
    tweet: Tweet, raw: bytes, capture: bool, out: LineResult, embedded: bool, path: str = "$"
) -> None:
    """Append the tweet (and, when capturing, the tweets it embeds) to ``out``.

    ``raw`` is the tweet's JSON as received: the whole line, or the bytes of an embedded object;
    ``path`` says where the tweet is in the line, for the reason when an embedded one is bad.
    """
    user = _user(tweet)
    author_id = _required_id(user.id_str, user.id, "v1 tweet 'user'")
    ts = tweet.timestamp_ms
    created = from_millis(ts) if ts else from_v1_time(_created_at(tweet))
    entities = _entities(tweet)
    hashtags = [h.text.casefold() for h in entities.hashtags]
    mentions = [_id(m.id_str, m.id, "v1 mention", "id") for m in entities.user_mentions]
    text = _full_text(tweet)
    retweeted = _embedded(tweet.retweeted_status, path, "retweeted_status")
    retweeted_id = _id(
        tweet.retweeted_status_id_str, tweet.retweeted_status_id, "v1 tweet", "retweeted_status_id"
    )
    if retweeted is not None:
        retweeted_id = _id(retweeted.id_str, retweeted.id, "v1 retweeted tweet", "id")
        # A retweet's own text is cut at 140 characters; the original holds the whole of it.
        text = f"RT @{_user(retweeted).screen_name}: {_full_text(retweeted)}"
        original = _entities(retweeted)
        hashtags += [h.text.casefold() for h in original.hashtags]
        mentions += [_id(m.id_str, m.id, "v1 mention", "id") for m in original.user_mentions]
    quoted_id = _id(
        tweet.quoted_status_id_str, tweet.quoted_status_id, "v1 tweet", "quoted_status_id"
    )
    # The embedded quote is decoded only to capture it or when no quoted_status_id names it.
    quoted = None
    if capture or not quoted_id:
        quoted = _embedded(tweet.quoted_status, path, "quoted_status")
        if not quoted_id:
            quoted_id = _id(quoted.id_str, quoted.id, "v1 quoted tweet", "id") if quoted else None
    reply_to = _id(
        tweet.in_reply_to_status_id_str, tweet.in_reply_to_status_id, "v1 tweet",
        "in_reply_to_status_id",
    )  # fmt: skip
    row = {
        "id": _required_id(tweet.id_str, tweet.id, "v1 tweet"),
        "author_id": author_id,
        "text": text,
        "created_at": created,
        "lang": tweet.lang,
        "in_reply_to_id": reply_to,
        "retweeted_id": retweeted_id,
        "quoted_id": quoted_id,
        "source_format": "v1",
        "raw": raw,
    }
    out.tweets.append(
        TweetRecord(
            row=row,
            hashtags=tuple(dict.fromkeys(hashtags)),
            mentions=tuple(dict.fromkeys([m for m in mentions if m is not None])),
            rules=(),
            embedded=embedded,
            source=raw,
        )
    )
    out.users.append(user_row(user, author_id, created))
    if capture:
        for key, inner in (("retweeted_status", retweeted), ("quoted_status", quoted)):
            if inner is not None and not inner.tweetfeed_stub:
                inner_raw = bytes(getattr(tweet, key))
                parse_tweet(inner, inner_raw, capture, out, True, f"{path}.{key}")


def user_row(user: User, user_id: int, seen_at: datetime) -> dict[str, Any]:
    return {
        "id": user_id,
        "screen_name": user.screen_name,
        "name": user.name,
        "description": user.description,
        "location": user.location,
        "followers_count": user.followers_count,
        "following_count": user.friends_count,
        "verified": user.verified,
        "profile_image_url": user.profile_image_url_https or user.profile_image_url,
        "profile_at": seen_at,
    }


def parse_delete(delete: Delete, message: Tweet, out: LineResult) -> None:
    status = delete.status
    ts = delete.timestamp_ms or message.timestamp_ms
    out.deletes.append(
        {
            "tweet_id": _required_id(status.id_str, status.id, "v1 delete 'status'"),
            "user_id": _id(status.user_id_str, status.user_id, "v1 delete 'status'", "user_id"),
            "deleted_at": from_millis(ts) if ts else None,
        }
    )


def is_tweet(message: Tweet) -> bool:
    return (
        message.user is not UNSET
        and message.id is not UNSET
        and (message.text is not UNSET or message.full_text is not UNSET)
    )


def notice(message: Message) -> str | None:
    """The kind of a v1.1 notice (``limit``, ``disconnect``, ``warning``), if it is one."""
    return next((k for k in NOTICES if getattr(message, k) is not UNSET), None)
