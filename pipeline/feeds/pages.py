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
    extra_refs,
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
    extra: tuple[tuple[str, str], ...] = ()  # every reference ``extra`` holds, by field

    def wanted(self, fields: tuple[str, ...]) -> list[str]:
        """The references a page shows of this activity: its own and those of ``fields``."""
        refs = [r for r in self.refs if r]
        return refs + [r for f, r in self.extra if f in fields] if self.extra else refs


@dataclass
class Page:
    entries: list[Entry] = field(default_factory=list)
    objects: dict[str, bytes | None] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the extra fields enriched (TWEETFEED_ENRICH_FIELDS)

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
                (objects.get(foreign) or NULL) if foreign else NULL, b',"extra_data":',
                self._extra(e) if e.extra else b"{}", b"},",
            )  # fmt: skip
        if parts:
            parts[-1] = b"}"
        return b"[" + b"".join(parts) + b"]"

    def _extra(self, e: Entry) -> bytes:
        shown = [orjson.dumps(f) + b":" + (self.objects.get(r) or NULL)
                 for f, r in e.extra if f in self.fields]  # fmt: skip
        return b"{" + b",".join(shown) + b"}"

    def enriched(self) -> list[EnrichedActivity]:
        found = []
        for e in self.entries:
            data = orjson.loads(e.head + b"}")
            record = ActivityRecord(
                id=data["id"], actor=data["actor"], verb=data["verb"], object=data["object"],
                target=data["target"], time=from_iso(data["time"]).replace(tzinfo=UTC),
                foreign_id=data["foreign_id"], to=tuple(data["to"]), extra=data["extra"] or None,
            )  # fmt: skip
            blobs = {r: self.objects.get(r) for r in e.wanted(self.fields)}
            objects = {r: _loads(b) for r, b in blobs.items()}
            found.append(EnrichedActivity(record, objects, self.fields))
        return found


def _loads(blob: bytes | None) -> object:
    return None if blob is None else orjson.loads(blob)


def _refs(activity: ActivityRecord) -> tuple[str, str, str, str]:
    return activity.actor, activity.object, activity.target or "", foreign_ref(activity) or ""


def entry(activity: ActivityRecord) -> Entry:
    return Entry(activity.id, orjson.dumps(activity.as_json())[:-1], _refs(activity),
                 extra_refs(activity))  # fmt: skip


def _blob(e: Entry) -> bytes | None:
    """The cached form of an entry: its four references and those its ``extra`` holds on a
    first line, tab-separated (the page script fetches the objects they name), the fields of
    the latter on a second line when there are any, then its JSON head."""
    names = [r for r in e.refs] + [x for pair in e.extra for x in pair]
    if any("\t" in r or "\n" in r for r in names):
        return None
    refs = "\t".join([*e.refs, *(r for _, r in e.extra)]).encode() + b"\n"
    if e.extra:
        refs += "\t".join(f for f, _ in e.extra).encode() + b"\n"
    return refs + e.head


def _entry(activity_id: int, blob: bytes) -> Entry | None:
    """The entry a cached blob holds; None for a blob of an older form (three references, from
    before ``foreign_data``): that activity is read from SQL again and cached anew."""
    head, _, body = blob.partition(b"\n")
    refs = head.decode().split("\t")
    if len(refs) < 4:
        return None
    actor, obj, target, foreign = refs[:4]
    extra: tuple[tuple[str, str], ...] = ()
    if len(refs) > 4:
        names, _, body = body.partition(b"\n")
        extra = tuple(zip(names.decode().split("\t"), refs[4:], strict=True))
    return Entry(activity_id, body, (actor, obj, target, foreign), extra)


def from_enriched(batch: Sequence[EnrichedActivity], fields: tuple[str, ...] = ()) -> Page:
    """A page read without the cache (feeds in SQL, or the cache turned off)."""
    page = Page(fields=fields)
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


def _cached(found: Lookup, fields: tuple[str, ...]) -> tuple[Page, list[int], list[str]]:
    page, absent = Page(objects=found.objects, fields=fields), []
    for activity_id, _, blob in found.items:
        e = None if blob is None else _entry(activity_id, blob)
        if e is None:
            absent.append(activity_id)
        else:
            page.entries.append(e)
    return page, absent, [r for e in page.entries for r in e.wanted(fields)]


def ready(found: Lookup, fields: tuple[str, ...] = ()) -> Page | None:
    """The page ``found`` describes if the cache held all of it, else None; ``fields`` are
    the extra fields enriched."""
    page, absent, refs = _cached(found, fields)
    return None if absent or _missing(refs, page.objects) else page


def complete(rt: Runtime, cache: HydratedCache, found: Lookup) -> Page:
    """The page ``found`` describes, whole: what the cache lacked is read from SQL (activities
    removed meanwhile are left out) and cached for the next read."""
    fields = rt.settings.enrich_fields
    page, absent, refs = _cached(found, fields)
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
        fresh = [r for e in loaded.values() for r in e.wanted(fields) if r not in page.objects]
        fresh = [r for r in dict.fromkeys(fresh) if cached_kind(_kind(r))]
        page.objects.update(cache.objects(fresh))
        refs += [r for e in loaded.values() for r in e.wanted(fields)]
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
