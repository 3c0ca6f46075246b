"""Filter terms, follows, and users' mutes, blocks and muted words over HTTP. Every write
needs the API token (see ``deps.writer``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field, field_validator

from pipeline.bus import routes
from pipeline.bus.errors import PayloadError
from pipeline.control import terms
from pipeline.feeds import filters, ids
from pipeline.feeds.task_payloads import MAX_BACKFILL
from pipeline.ingest.request import COMPLIANCE
from pipeline.web.deps import WebDep, Writer

router = APIRouter()


# PostgreSQL text cannot hold NUL: such a term is refused up front (422), not failed on (500).
NUL = "\x00"
NO_NUL = r"^[^\x00]*$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


class TermIn(BaseModel):
    term: str = Field(min_length=1, max_length=512, description="an X filter rule, e.g. python")

    @field_validator("term")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a filter term cannot be blank")
        if NUL in value:
            raise ValueError("a filter term cannot hold a NUL character")
        return value.strip()


class TermOut(BaseModel):
    id: int
    term: str
    enabled: bool


class FollowIn(BaseModel):
    feed: str = Field(description="the follower feed, e.g. timeline:7")
    target: str = Field(description="the feed it follows, e.g. user:42")
    backfill: int | None = Field(default=None, ge=0, le=MAX_BACKFILL)

    @field_validator("feed", "target")
    @classmethod
    def _feed_id(cls, value: str) -> str:
        return ids.check(value)


def _changed(app: Any, session: Any) -> None:
    # Listeners hear of the change now rather than at beat's next poll.
    terms.publish_if_changed(session, app.rt.redis)


@router.get("/api/terms", tags=["terms"])
def list_terms(app: WebDep) -> list[TermOut]:
    with app.rt.transaction() as session:
        return [TermOut(id=t.id, term=t.term, enabled=t.enabled) for t in terms.all_terms(session)]


@router.post("/api/terms", tags=["terms"], status_code=201, dependencies=[Writer])
def add_term(app: WebDep, body: TermIn) -> TermOut:
    """Add a filter term (or enable it again); the stream's rules follow within seconds."""
    with app.rt.transaction() as session:
        row = terms.add(session, body.term)
        out = TermOut(id=row.id, term=row.term, enabled=row.enabled)
        session.flush()
        _changed(app, session)
    return out


@router.delete("/api/terms", tags=["terms"], status_code=204, dependencies=[Writer])
def delete_term(
    app: WebDep, term: Annotated[str, Query(min_length=1, max_length=512, pattern=NO_NUL)]
) -> Response:
    """Remove a filter term by its text."""
    with app.rt.transaction() as session:
        if not terms.remove(session, term.strip()):
            raise HTTPException(404, f"no filter term {term!r}")
        _changed(app, session)
    return Response(status_code=204)


@router.post("/api/follows", tags=["follows"], status_code=202, dependencies=[Writer])
def follow(app: WebDep, body: FollowIn) -> dict[str, Any]:
    """Queue ``tweetfeed.follow``: the feed follows the target and is backfilled."""
    if body.feed == body.target:
        raise HTTPException(422, "a feed cannot follow itself")
    task_id = app.client.follow(body.feed, body.target, body.backfill)
    return {"task": routes.FOLLOW, "task_id": task_id}


@router.delete("/api/follows", tags=["follows"], status_code=202, dependencies=[Writer])
def unfollow(
    app: WebDep,
    feed: Annotated[str, Query(max_length=191)],
    target: Annotated[str, Query(max_length=191)],
    keep_history: bool = False,
) -> dict[str, Any]:
    """Queue ``tweetfeed.unfollow``: the target's items leave the feed, unless
    ``keep_history`` leaves it those it already holds."""
    try:
        task_id = app.client.unfollow(ids.check(feed), ids.check(target), keep_history)
    except ids.FeedError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"task": routes.UNFOLLOW, "task_id": task_id}


UserId = Annotated[str, Field(pattern=r"^[\w-]{1,150}$")]


class FiltersIn(BaseModel):
    """Rules to add or drop: user ids to ``mute`` or ``block``, ``words`` to mute."""

    mute: list[Annotated[str, Field(pattern=r"^[\w-]{1,150}$")]] = Field(default=[], max_length=100)
    block: list[Annotated[str, Field(pattern=r"^[\w-]{1,150}$")]] = Field(
        default=[], max_length=100
    )
    words: list[Annotated[str, Field(min_length=1, max_length=100, pattern=NO_CONTROL)]] = Field(
        default=[], max_length=100
    )


UserKey = Annotated[str, Path(pattern=r"^[\w-]{1,150}$", description="the user's id")]


@router.get("/api/filters/{user}", tags=["filters"])
def list_filters(app: WebDep, user: UserKey) -> dict[str, list[str]]:
    """The user's mutes, blocks and muted words."""
    with app.rt.transaction() as session:
        return filters.listed(session, user)


@router.post("/api/filters/{user}", tags=["filters"], status_code=202, dependencies=[Writer])
def add_filters(app: WebDep, user: UserKey, body: FiltersIn) -> dict[str, Any]:
    """Queue ``tweetfeed.filter``: what the rules match stays out of the user's timelines and
    notifications."""
    return _filter_task(app, routes.FILTER, user, body)


@router.post("/api/filters/{user}/remove", tags=["filters"], status_code=202, dependencies=[Writer])
def remove_filters(app: WebDep, user: UserKey, body: FiltersIn) -> dict[str, Any]:
    """Queue ``tweetfeed.unfilter``: the listed rules no longer apply."""
    return _filter_task(app, routes.UNFILTER, user, body)


def _filter_task(app: Any, task: str, user: str, body: FiltersIn) -> dict[str, Any]:
    """Send ``task`` with the rules, refused here (422) if the workers' parser would refuse it."""
    payload = {"user": user, "mute": body.mute or None, "block": body.block or None,
               "words": body.words or None}  # fmt: skip
    try:
        filters.FilterRequest.parse(payload)
    except PayloadError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"task": task, "task_id": app.client.send(task, **payload)}


class ComplianceIn(BaseModel):
    """Lines of an X API compliance-job file, as ``tweetfeed deletes --from-file`` reads them."""

    lines: list[str] = Field(min_length=1, max_length=100_000)
    source: str = Field(default="http", min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")


@router.post("/api/compliance", tags=["compliance"], status_code=202, dependencies=[Writer])
def apply_compliance(app: WebDep, body: ComplianceIn) -> dict[str, Any]:
    """Queue the lines as compliance batches (``tweetfeed.ingest_batch`` with source
    ``compliance:<source>``): each delete line takes its tweet out of every feed, and any other
    line is dead-lettered, never stored."""
    size = app.settings.batch_size
    source = COMPLIANCE + body.source
    task_ids = [
        app.client.send(routes.INGEST_BATCH, lines=body.lines[i : i + size], source=source)
        for i in range(0, len(body.lines), size)
    ]
    return {"task": routes.INGEST_BATCH, "task_ids": task_ids, "lines": len(body.lines)}
