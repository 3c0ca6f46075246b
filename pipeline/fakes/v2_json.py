"""X API v2 JSON for format-free tweets: the filtered-stream message (tweet, expansions, matching
rules) and the delete event, as both the synthetic stream and the fake X API send them.
"""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.fakes.clock import v2_time
from pipeline.fakes.tweets import V2_LIMIT, Span, Tweet, clip

__all__ = ["delete_event", "stream_message"]


def stream_message(tweet: Tweet, matching_rules: list[dict[str, Any]]) -> bytes:
    """One v2 filtered-stream line: the tweet, its expansions and the rules it matched."""
    referenced = [t for t in (tweet.retweet_of, tweet.quote_of, tweet.reply_to) if t is not None]
    users = [tweet.user.v2]
    for other in referenced:
        if all(other.user.v2 is not u for u in users):
            users.append(other.user.v2)
    includes: dict[str, Any] = {"users": users}
    if referenced:
        includes["tweets"] = [_tweet(t) for t in referenced]
    body = {"data": _tweet(tweet), "includes": includes, "matching_rules": matching_rules}
    return orjson.dumps(body)


def delete_event(tweet: Tweet, ms: int) -> bytes:
    """A v2 compliance-style delete event."""
    deleted = {"tweet": {"id": str(tweet.id), "author_id": str(tweet.user.id)}}
    return orjson.dumps({"data": {"delete": {**deleted, "event_at": v2_time(ms)}}})


def _tweet(tweet: Tweet) -> dict[str, Any]:
    """A v2 tweet object; like the real API it leaves out empty fields."""
    long = tweet.retweet_of is None and len(tweet.text) > V2_LIMIT
    text, spans = clip(tweet.text, tweet.spans, V2_LIMIT) if long else (tweet.text, tweet.spans)
    data: dict[str, Any] = {
        "id": str(tweet.id),
        "text": text,
        "author_id": str(tweet.user.id),
        "created_at": v2_time(tweet.ms),
        "conversation_id": str(tweet.conversation_id),
        "edit_history_tweet_ids": [str(tweet.id)],
        "lang": tweet.lang,
        "possibly_sensitive": False,
    }
    entities = _entities(spans)
    if entities:
        data["entities"] = entities
    references = _references(tweet)
    if references:
        data["referenced_tweets"] = references
    if tweet.reply_to is not None:
        data["in_reply_to_user_id"] = str(tweet.reply_to.user.id)
    if long:
        note: dict[str, Any] = {"text": tweet.text}
        full_entities = _entities(tweet.spans)
        if full_entities:
            note["entities"] = full_entities
        data["note_tweet"] = note
    data["public_metrics"] = {
        "retweet_count": tweet.retweet_count,
        "reply_count": tweet.reply_count,
        "like_count": tweet.favorite_count,
        "quote_count": tweet.quote_count,
        "bookmark_count": 0,
        "impression_count": 0,
    }
    return data


def _references(tweet: Tweet) -> list[dict[str, str]]:
    """v2 referenced_tweets for a retweet, quote or reply."""
    references = []
    if tweet.retweet_of is not None:
        references.append({"type": "retweeted", "id": str(tweet.retweet_of.id)})
    if tweet.quote_of is not None:
        references.append({"type": "quoted", "id": str(tweet.quote_of.id)})
    if tweet.reply_to is not None:
        references.append({"type": "replied_to", "id": str(tweet.reply_to.id)})
    return references


def _entities(spans: list[Span]) -> dict[str, list[dict[str, Any]]]:
    """v2 entities, leaving out empty lists like the real API."""
    entities: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        if span.kind == "hashtag":
            entity = {"start": span.start, "end": span.end, "tag": span.value}
            entities.setdefault("hashtags", []).append(entity)
        elif span.kind == "mention":
            user = span.value
            entity = {
                "start": span.start,
                "end": span.end,
                "username": user.screen_name,
                "id": str(user.id),
            }
            entities.setdefault("mentions", []).append(entity)
        else:
            link = span.value
            entity = {
                "start": span.start,
                "end": span.end,
                "url": link.url,
                "expanded_url": link.expanded_url,
                "display_url": link.display_url,
            }
            entities.setdefault("urls", []).append(entity)
    return entities
