"""Enrichment: replace an activity's references (``tweet:1``, ``user:2``) with the objects.

Besides its actor, object and target, an activity whose ``foreign_id`` names a tweet that is
none of those (a retweet: its object is the original, its foreign id the retweet itself) has
that tweet loaded as ``foreign_data``, so a retweet whose original was never stored (the default:
TWEETFEED_CAPTURE_EMBEDDED is off) still has its own text, ``RT @author: …``, to show.

All references of one kind on a page are loaded in one query. Register a loader for a kind of
your own with :func:`register_enricher`; it receives the keys (the part after ``kind:``) and
returns a dict of key to JSON-ready object. Keys it does not return enrich to None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import TwitterUser, load_tweet_model
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.task_payloads import REF_RE
from pipeline.store import dialects
from pipeline.times import iso

Enricher = Callable[[Session, list[str]], dict[str, Any]]
_ENRICHERS: dict[str, Enricher] = {}
TWEET = "tweet:"


def register_enricher(kind: str, loader: Enricher) -> None:
    """Load references of ``kind`` with ``loader`` (replacing any loader the kind had)."""
    _ENRICHERS[kind] = loader


def _ints(keys: Iterable[str]) -> list[int]:
    return [int(k) for k in keys if k.isdigit() and len(k) < 20]


def _opt(value: int | None) -> str | None:
    # 64-bit ids travel as strings: JavaScript's numbers would round them.
    return None if value is None else str(value)


def load_tweets(session: Session, keys: list[str]) -> dict[str, Any]:
    model = load_tweet_model()
    found = session.scalars(select(model).where(dialects.among(session, model.id, _ints(keys))))
    return {
        str(t.id): {
            "id": str(t.id),
            "author_id": str(t.author_id),
            "text": t.text,
            "created_at": iso(t.created_at),
            "lang": t.lang,
            "in_reply_to_id": _opt(t.in_reply_to_id),
            "retweeted_id": _opt(t.retweeted_id),
            "quoted_id": _opt(t.quoted_id),
        }
        for t in found
    }


def load_users(session: Session, keys: list[str]) -> dict[str, Any]:
    found = session.scalars(
        select(TwitterUser).where(dialects.among(session, TwitterUser.id, _ints(keys)))
    )
    return {
        str(u.id): {
            "id": str(u.id),
            "screen_name": u.screen_name,
            "name": u.name,
            "profile_image_url": u.profile_image_url,
            "verified": u.verified,
            "followers_count": u.followers_count,
        }
        for u in found
    }


register_enricher("tweet", load_tweets)
register_enricher("user", load_users)
_BUILT_IN = dict(_ENRICHERS)


def cached_kind(kind: str) -> bool:
    """Whether references of ``kind`` may be served from the hydrated cache: only the built-in
    loaders' objects are, whose changes the pipeline tells the cache about."""
    loader = _ENRICHERS.get(kind)
    return loader is not None and loader is _BUILT_IN.get(kind)


def has_loader(kind: str) -> bool:
    return kind in _ENRICHERS


def extra_refs(activity: ActivityRecord) -> tuple[tuple[str, str], ...]:
    """(field, reference) for each value of the activity's ``extra`` that is a reference
    (``kind:key``), in the order ``extra`` holds them; enriched where the field is one of
    TWEETFEED_ENRICH_FIELDS (stream-django's ``Enrich(fields=[...])``)."""
    extra = activity.extra
    if not extra:
        return ()
    return tuple((k, v) for k, v in extra.items() if isinstance(v, str) and REF_RE.fullmatch(v))


def foreign_ref(activity: ActivityRecord) -> str | None:
    """The activity's ``foreign_id`` when it names a tweet none of its references name: a
    retweet's own tweet. None otherwise (a tweet, reply or quote is its own object)."""
    ref = activity.foreign_id
    if ref.startswith(TWEET) and ref not in (activity.actor, activity.object, activity.target):
        return ref
    return None


@dataclass(frozen=True, slots=True)
class EnrichedActivity:
    """An activity and the objects its references point at (None where nothing was found)."""

    activity: ActivityRecord
    objects: dict[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the extra fields enriched (TWEETFEED_ENRICH_FIELDS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.activity, name)

    @property
    def created_at(self) -> datetime:
        """The activity's time (django-user-streams' name for it), timezone-aware UTC."""
        return self.activity.time

    @property
    def content(self) -> str | None:
        """The item's text (django-user-streams' name): ``extra["content"]`` where the activity
        carries one (a broadcast message), else the text of its object (a tweet's)."""
        extra = self.activity.extra or {}
        if isinstance(extra.get("content"), str):
            return extra["content"]
        data = self.object_data
        text = data.get("text") if isinstance(data, dict) else None
        return text if isinstance(text, str) else None

    @property
    def actor_data(self) -> Any:
        return self.objects.get(self.activity.actor)

    @property
    def object_data(self) -> Any:
        return self.objects.get(self.activity.object)

    @property
    def target_data(self) -> Any:
        return self.objects.get(self.activity.target) if self.activity.target else None

    @property
    def foreign_data(self) -> Any:
        """The tweet :func:`foreign_ref` names (a retweet's own tweet), else None."""
        ref = foreign_ref(self.activity)
        return self.objects.get(ref) if ref else None

    @property
    def extra_data(self) -> dict[str, Any]:
        """The objects the enriched ``extra`` fields name, by field (None where nothing was
        found); fields not enriched, or not holding a reference, are left out."""
        return {f: self.objects.get(r) for f, r in extra_refs(self.activity) if f in self.fields}

    def as_json(self) -> dict[str, Any]:
        return {
            **self.activity.as_json(),
            "actor_data": self.actor_data,
            "object_data": self.object_data,
            "target_data": self.target_data,
            "foreign_data": self.foreign_data,
            "extra_data": self.extra_data,
        }


def _refs(activity: ActivityRecord, fields: Sequence[str] = ()) -> list[str]:
    refs = [activity.actor, activity.object, activity.target, foreign_ref(activity)]
    if fields:
        refs += [r for f, r in extra_refs(activity) if f in fields]
    return [r for r in refs if r]


def load_refs(session: Session, refs: Iterable[str]) -> dict[str, Any]:
    """The objects ``refs`` point at, by reference: one query per kind. References of a kind
    with no loader, or that name nothing, are left out."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for ref in refs:
        kind, _, key = ref.partition(":")
        wanted[kind].add(key)
    loaded: dict[str, Any] = {}
    for kind, keys in wanted.items():
        loader = _ENRICHERS.get(kind)
        if loader is not None:
            found = loader(session, sorted(keys))
            loaded.update({f"{kind}:{k}": v for k, v in found.items()})
    return loaded


def enrich(
    session: Session, batch: Sequence[ActivityRecord], fields: Sequence[str] = ()
) -> list[EnrichedActivity]:
    """Each activity with its references loaded, those its ``extra`` holds in ``fields`` too:
    one query per kind for the whole batch."""
    loaded = load_refs(session, (ref for activity in batch for ref in _refs(activity, fields)))
    named = tuple(fields)
    return [EnrichedActivity(a, {r: loaded.get(r) for r in _refs(a, fields)}, named)
            for a in batch]  # fmt: skip
