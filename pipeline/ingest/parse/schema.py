"""The fields of a v1.1 stream line that the parser reads, as msgspec types.

A ~2-3 KB tweet has dozens of fields and the parser reads a dozen: decoding into these types
skips the rest without building them. A field read here with the wrong JSON type fails decoding
with msgspec's message, which names the field's path (``- at `$.user.id```). ``UNSET`` marks a
key that is absent where the parser tells absent from null (``"text" in message`` and the like);
everything else that may be absent defaults to None or empty.

Embedded tweets stay ``Raw`` (their JSON bytes, skipped) until the parser needs them: a quote is
only decoded when it is captured or names the only id of the quoted tweet.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

__all__ = ["ABSENT", "MESSAGE", "TWEET", "Delete", "Entities", "Message", "Number", "Tweet", "User"]

# A number the database keeps in a BIGINT column: wrong shape when it does not fit.
BigInt = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
# Ids arrive twice: ``id`` (a number; a string in some captures) and ``id_str``, read first.
Number = int | str | None

# An embedded object that is null or empty is no object at all (``{}`` is falsy in Python).
ABSENT = (Raw(b"null"), Raw(b"{}"))


class _Part(Struct, forbid_unknown_fields=False, gc=False):
    """Unknown fields are skipped. No part refers back to another: no cycles, no GC tracking."""


class User(_Part):
    screen_name: str
    id: Number = None
    id_str: str | None = None
    name: str | None = None
    description: str | None = None
    location: str | None = None
    followers_count: BigInt | None = None
    friends_count: BigInt | None = None
    verified: bool | None = None
    profile_image_url_https: str | None = None
    profile_image_url: str | None = None


class Hashtag(_Part):
    text: str


class Mention(_Part):
    id: Number = None
    id_str: str | None = None


class Entities(_Part):
    hashtags: list[Hashtag] = []
    user_mentions: list[Mention] = []


class Extended(_Part):
    full_text: str
    entities: Entities | None = None


class Tweet(_Part):
    """A v1.1 tweet, top-level or embedded (a stub of an original left by ``--to-file`` too)."""

    id: Number | UnsetType = UNSET
    id_str: str | None = None
    text: str | UnsetType | None = UNSET
    full_text: str | UnsetType | None = UNSET
    created_at: str | UnsetType | None = UNSET
    timestamp_ms: int | str | None = None
    lang: str | None = None
    user: User | UnsetType | None = UNSET
    entities: Entities | None = None
    extended_tweet: Extended | None = None
    in_reply_to_status_id: Number = None
    in_reply_to_status_id_str: str | None = None
    retweeted_status: Raw | UnsetType = UNSET
    retweeted_status_id: Number = None
    retweeted_status_id_str: str | None = None
    quoted_status: Raw | UnsetType = UNSET
    quoted_status_id: Number = None
    quoted_status_id_str: str | None = None
    tweetfeed_stub: bool = False


class DeleteStatus(_Part):
    id: Number = None
    id_str: str | None = None
    user_id: Number = None
    user_id_str: str | None = None


class Delete(_Part):
    status: DeleteStatus
    timestamp_ms: int | str | None = None


class Message(Tweet):
    """A whole line. Which keys it has says what it is; v2 messages are left to ``v2``."""

    delete: Delete | UnsetType = UNSET
    action: str | UnsetType = UNSET  # an X compliance-job line (see ``compliance``)
    redacted_at: str | None = None
    data: Raw | UnsetType = UNSET
    errors: Raw | UnsetType = UNSET
    limit: Raw | UnsetType = UNSET
    disconnect: Raw | UnsetType = UNSET
    warning: Raw | UnsetType = UNSET


MESSAGE = msgspec.json.Decoder(Message)
TWEET = msgspec.json.Decoder(Tweet)
