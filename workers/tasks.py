"""Thin tasks: each gets its payload parsed (by the base task, through ``pipeline.bus.contract``)
and calls one ``pipeline`` function.

Payloads travel as keyword arguments, so any Celery client (Python, Node.js's celery-node, …)
can send them by name; the README's task table lists them.
"""

from __future__ import annotations

from typing import Any

from pipeline.bus import routes
from pipeline.control import terms
from pipeline.feeds import manager
from pipeline.feeds.filters import FilterRequest
from pipeline.feeds.task_payloads import (
    BroadcastRequest,
    ChunkRequest,
    FollowRequest,
    RemoveRequest,
)
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.service import ingest
from workers.base import PipelineTask
from workers.celery_app import app


@app.task(name=routes.INGEST_BATCH, base=PipelineTask, bind=True)
def ingest_batch(self: PipelineTask, request: IngestRequest) -> None:
    """Parse, dedupe and store a batch of raw lines, then fan out what was new."""
    ingest(self.runtime, request, attempt=self.request.id)


@app.task(name=routes.ADD_ACTIVITY, base=PipelineTask, bind=True)
def add_activity(self: PipelineTask, row: dict[str, Any]) -> None:
    """Store an activity (once per foreign_id) and fan it out to its feeds and their followers."""
    manager.add_activity(self.runtime, row)


@app.task(name=routes.REMOVE_ACTIVITY, base=PipelineTask, bind=True)
def remove_activity(self: PipelineTask, request: RemoveRequest) -> None:
    """Delete an activity and take it out of every feed it reached."""
    manager.remove_activity(self.runtime, request)


@app.task(name=routes.FOLLOW, base=PipelineTask, bind=True)
def follow(self: PipelineTask, request: FollowRequest) -> None:
    """Make a feed follow a target feed and backfill it with the target's newest items."""
    manager.follow(self.runtime, request)


@app.task(name=routes.FOLLOW_MANY, base=PipelineTask, bind=True)
def follow_many(self: PipelineTask, request: FollowRequest) -> None:
    """Many follows in one task, each backfilled."""
    manager.follow(self.runtime, request)


@app.task(name=routes.UNFOLLOW, base=PipelineTask, bind=True)
def unfollow(self: PipelineTask, request: FollowRequest) -> None:
    """Stop a feed following a target and remove the target's items from it, unless
    ``keep_history`` asks to leave the feed what it holds."""
    manager.unfollow(self.runtime, request)


@app.task(name=routes.UNFOLLOW_MANY, base=PipelineTask, bind=True)
def unfollow_many(self: PipelineTask, request: FollowRequest) -> None:
    """Unfollow many (feed, target) pairs in one transaction."""
    manager.unfollow(self.runtime, request)


@app.task(name=routes.BROADCAST, base=PipelineTask, bind=True)
def broadcast(self: PipelineTask, request: BroadcastRequest) -> None:
    """One activity into many listed feeds (a message to many users)."""
    manager.broadcast(self.runtime, request)


@app.task(name=routes.FANOUT_CHUNK, base=PipelineTask, bind=True)
def fanout_chunk(self: PipelineTask, request: ChunkRequest) -> None:
    """Internal: one activity into a chunk of follower feeds, in one Redis round trip."""
    manager.fanout_chunk(self.runtime, request)


@app.task(name=routes.POLL_FILTER_TERMS, base=PipelineTask, bind=True)
def poll_filter_terms(self: PipelineTask, _: None = None) -> None:
    """Tell listeners, over the control channel, when the enabled filter terms changed."""
    rt = self.runtime
    with rt.transaction() as session:
        terms.publish_if_changed(session, rt.redis)


@app.task(name=routes.FILTER, base=PipelineTask, bind=True)
def filter_feeds(self: PipelineTask, request: FilterRequest) -> None:
    """Add a user's mutes, blocks and muted words."""
    manager.add_filters(self.runtime, request)


@app.task(name=routes.UNFILTER, base=PipelineTask, bind=True)
def unfilter_feeds(self: PipelineTask, request: FilterRequest) -> None:
    """Drop some of a user's mutes, blocks and muted words."""
    manager.remove_filters(self.runtime, request)
