"""A page of a flat feed as JSON ready to send: each activity's JSON with its references' objects
spliced in as bytes, from the hydrated cache (``pipeline.feeds.hydrated``) where it holds them
and from SQL where it does not, filling the cache for the next read.

``Page.json()`` is the ``activities`` array of the HTTP API, byte for byte what serializing
``EnrichedActivity.as_json()`` gives; ``Page.enriched()`` is the same page as objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC

import orjson

from pipeline.feeds import activities
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.enrich import (
    EnrichedActivity,
    cached_kind,
    foreign_ref,
    has_loader,
    load_refs,
)
from pipeline.feeds.hydrated import HydratedCache, Lookup, activity_name, object_name
from pipeline.runtime import Runtime
from pipeline.times import from_iso

NULL = b"null"


@dataclass(frozen=True, slots=True)
class Entry:
    """One activity of a page: its JSON without the closing brace, and its references."""

    activity_id: int
    head: bytes
    refs: tuple[str, str, str, str]  # actor, object, target, foreign ("" for none)


@dataclass
class Page:
    entries: list[Entry] = field(default_factory=list)
    objects: dict[str, bytes | None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def last_id(self) -> int | None:
        return self.entries[-1].activity_id if self.entries else None

    def json(self) -> bytes:
        """The activities as one JSON array."""
        objects, parts = self.objects, list[bytes]()
        for e in self.entries:
            actor, obj, target, foreign = e.refs
            parts += (
                e.head, b',"actor_data":', objects.get(actor) or NULL, b',"object_data":',
                objects.get(obj) or NULL, b',"target_data":',
                (objects.get(target) or NULL) if target else NULL, b',"foreign_data":',
                (objects.get(foreign) or NULL) if foreign else NULL, b"},",
            )  # fmt: skip
        if parts:
            parts[-1] = b"}"
        return b"[" + b"".join(parts) + b"]"

    def enriched(self) -> list[EnrichedActivity]:
        found = []
        for e in self.entries:
            data = orjson.loads(e.head + b"}")
            record = ActivityRecord(
                id=data["id"], actor=data["actor"], verb=data["verb"], object=data["object"],
                target=data["target"], time=from_iso(data["time"]).replace(tzinfo=UTC),
                foreign_id=data["foreign_id"], to=tuple(data["to"]), extra=data["extra"] or None,
            )  # fmt: skip
            refs = [r for r in e.refs if r]
            blobs = {r: self.objects.get(r) for r in refs}
            found.append(EnrichedActivity(record, {r: _loads(b) for r, b in blobs.items()}))
        return found


def _loads(blob: bytes | None) -> object:
    return None if blob is None else orjson.loads(blob)


def _refs(activity: ActivityRecord) -> tuple[str, str, str, str]:
    return activity.actor, activity.object, activity.target or "", foreign_ref(activity) or ""


def entry(activity: ActivityRecord) -> Entry:
    return Entry(activity.id, orjson.dumps(activity.as_json())[:-1], _refs(activity))


def _blob(e: Entry) -> bytes | None:
    """The cached form of an entry: its four references on a first line, tab-separated (the
    page script fetches the objects they name), then its JSON head."""
    if any("\t" in r or "\n" in r for r in e.refs):
        return None
    return "\t".join(e.refs).encode() + b"\n" + e.head


def _entry(activity_id: int, blob: bytes) -> Entry | None:
    """The entry a cached blob holds; None for a blob of an older form (three references, from
    before ``foreign_data``): that activity is read from SQL again and cached anew."""
    head, _, body = blob.partition(b"\n")
    refs = head.decode().split("\t")
    if len(refs) != 4:
        return None
    actor, obj, target, foreign = refs
    return Entry(activity_id, body, (actor, obj, target, foreign))


def from_enriched(batch: Sequence[EnrichedActivity]) -> Page:
    """A page read without the cache (feeds in SQL, or the cache turned off)."""
    page = Page()
    for a in batch:
        page.entries.append(entry(a.activity))
        for ref, value in a.objects.items():
            page.objects[ref] = None if value is None else orjson.dumps(value)
    return page


def _kind(ref: str) -> str:
    return ref.partition(":")[0]


def _missing(refs: Iterable[str], objects: dict[str, bytes | None]) -> list[str]:
    """References to load from SQL: cached kinds not in the cache, and every reference of a
    kind with a loader of an app's own (those are never cached)."""
    wanted, cached = [], {}
    for ref in dict.fromkeys(refs):
        kind = _kind(ref)
        if kind not in cached:
            cached[kind] = cached_kind(kind)
        if objects.get(ref) is None if cached[kind] else has_loader(kind):
            wanted.append(ref)
    return wanted


def _cached(found: Lookup) -> tuple[Page, list[int], list[str]]:
    page, absent = Page(objects=found.objects), []
    for activity_id, _, blob in found.items:
        e = None if blob is None else _entry(activity_id, blob)
        if e is None:
            absent.append(activity_id)
        else:
            page.entries.append(e)
    return page, absent, [r for e in page.entries for r in e.refs if r]


def ready(found: Lookup) -> Page | None:
    """The page ``found`` describes if the cache held all of it, else None."""
    page, absent, refs = _cached(found)
    return None if absent or _missing(refs, page.objects) else page


def complete(rt: Runtime, cache: HydratedCache, found: Lookup) -> Page:
    """The page ``found`` describes, whole: what the cache lacked is read from SQL (activities
    removed meanwhile are left out) and cached for the next read."""
    page, absent, refs = _cached(found)
    if not absent and not _missing(refs, page.objects):
        return page
    fills: list[tuple[str, str, bytes, bytes]] = []
    with rt.sessions() as session:
        loaded = {a: entry(r) for a, r in activities.load(session, absent).items()}
        for e in loaded.values():
            blob = _blob(e)
            if blob is not None:
                fills.append((activity_name(e.activity_id), "activity", found.epochs["activity"],
                              blob))  # fmt: skip
        fresh = [r for e in loaded.values() for r in e.refs if r and r not in page.objects]
        fresh = [r for r in dict.fromkeys(fresh) if cached_kind(_kind(r))]
        page.objects.update(cache.objects(fresh))
        refs += [r for e in loaded.values() for r in e.refs if r]
        wanted = _missing(refs, page.objects)
        values = load_refs(session, wanted)
        for ref in wanted:
            # A reference to nothing stored (a retweet's original, say) is cached as JSON null,
            # or every page showing it would go to SQL; storing the object forgets that null.
            kind = _kind(ref)
            if ref not in values and not cached_kind(kind):
                continue
            page.objects[ref] = blob = orjson.dumps(values.get(ref))
            if cached_kind(kind) and "\t" not in ref and "\n" not in ref:
                fills.append((object_name(ref), kind, found.epochs[kind], blob))
    by_id = {e.activity_id: e for e in page.entries} | loaded
    page.entries = [by_id[a] for a, _, _ in found.items if a in by_id]
    cache.fill(fills)
    return page
