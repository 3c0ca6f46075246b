"""v1.1 JSON for the synthetic stream: status lines (with embedded retweets, quotes and
``extended_tweet``) and status deletion notices.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.fakes.clock import v1_time
from pipeline.fakes.tweets import V1_LIMIT, Span, Tweet, clip

__all__ = ["delete_notice", "status_line"]


def status_line(tweet: Tweet) -> bytes:
    """One v1.1 stream line for a tweet."""
    return orjson.dumps(_status(tweet, top=True))


def delete_notice(tweet: Tweet, ms: int) -> bytes:
    """A v1.1 status deletion notice."""
    status = {
        "id": tweet.id,
        "id_str": str(tweet.id),
        "user_id": tweet.user.id,
        "user_id_str": str(tweet.user.id),
    }
    return orjson.dumps({"delete": {"status": status, "timestamp_ms": str(ms)}})


def _status(tweet: Tweet, top: bool) -> dict[str, Any]:
    """A v1.1 status; embedded ones (top=False) carry no timestamp_ms or nested quote."""
    # A retweet's text is already "RT @x: " + a clipped original and stays untruncated.
    long = tweet.retweet_of is None and len(tweet.text) > V1_LIMIT
    text, spans = clip(tweet.text, tweet.spans, V1_LIMIT) if long else (tweet.text, tweet.spans)
    parent = tweet.reply_to
    status: dict[str, Any] = {
        "created_at": v1_time(tweet.ms),
        "id": tweet.id,
        "id_str": str(tweet.id),
        "text": text,
        "source": tweet.source,
        "truncated": long,
        "in_reply_to_status_id": parent.id if parent else None,
        "in_reply_to_status_id_str": str(parent.id) if parent else None,
        "in_reply_to_user_id": parent.user.id if parent else None,
        "in_reply_to_user_id_str": str(parent.user.id) if parent else None,
        "in_reply_to_screen_name": parent.user.screen_name if parent else None,
        "user": tweet.user.v1,
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
    }
    if tweet.retweet_of is not None:
        status["retweeted_status"] = _status(tweet.retweet_of, top=False)
    quoted = tweet.quote_of
    if quoted is not None:
        status["quoted_status_id"] = quoted.id
        status["quoted_status_id_str"] = str(quoted.id)
        if top:  # like the real stream, a quoted quote names its own quote but does not embed it
            status["quoted_status"] = _status(quoted, top=False)
    status["is_quote_status"] = quoted is not None
    if long:
        status["extended_tweet"] = {
            "full_text": tweet.text,
            "display_text_range": [0, len(tweet.text)],
            "entities": _entities(tweet.spans),
        }
    status["quote_count"] = tweet.quote_count
    status["reply_count"] = tweet.reply_count
    status["retweet_count"] = tweet.retweet_count
    status["favorite_count"] = tweet.favorite_count
    status["entities"] = _entities(spans)
    status["favorited"] = False
    status["retweeted"] = False
    if any(s.kind == "url" for s in spans):
        status["possibly_sensitive"] = False
    status["filter_level"] = "low"
    status["lang"] = tweet.lang
    if top:
        status["timestamp_ms"] = str(tweet.ms)
    return status


def _entities(spans: list[Span]) -> dict[str, list[dict[str, Any]]]:
    """v1.1 entities, every list present even when empty."""
    entities: dict[str, list[dict[str, Any]]] = {
        "hashtags": [],
        "urls": [],
        "user_mentions": [],
        "symbols": [],
    }
    for span in spans:
        indices = [span.start, span.end]
        if span.kind == "hashtag":
            entities["hashtags"].append({"text": span.value, "indices": indices})
        elif span.kind == "mention":
            user = span.value
            entities["user_mentions"].append(
                {
                    "screen_name": user.screen_name,
                    "name": user.name,
                    "id": user.id,
                    "id_str": str(user.id),
                    "indices": indices,
                }
            )
        else:
            link = span.value
            entities["urls"].append(
                {
                    "url": link.url,
                    "expanded_url": link.expanded_url,
                    "display_url": link.display_url,
                    "indices": indices,
                }
            )
    return entities
