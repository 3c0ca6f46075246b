"""The whole of one ingest task, from a parsed request to committed rows and feeds."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.feeds import hydrated
from pipeline.ingest import parked, tweet_activities
from pipeline.ingest.parse import parse_lines
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.tweets import IngestResult, enforce_deletions, store_batch
from pipeline.runtime import Runtime

log = logging.getLogger(__name__)


def ingest(rt: Runtime, request: IngestRequest, attempt: str | None = None) -> IngestResult | None:
    """Parse and store one ``tweetfeed.ingest_batch`` request, then fan it out.

    ``attempt`` is the task's id: a redelivered task fans out every stored tweet of its batch,
    not only the new ones. Returns None when an earlier delivery already stored and released
    the batch.
    """
    redis, settings = rt.redis, rt.settings
    lines: list[Any] | None = request.lines
    if request.batch is not None:
        lines = parked.fetch(redis, request.batch)
        if lines is None:
            log.info("batch %s was already stored; nothing to do", request.batch)
            return None
    parsed = parse_lines(
        lines or [], settings.capture_embedded, request.truncated, settings.max_line_bytes,
        deletes_only=request.deletes_only,
    )  # fmt: skip
    # A parked batch counts its attempts by its key: the listener queues a second task for a
    # batch whose first task went missing, and that one must fan out what the first stored.
    first = parked.first_attempt(redis, request.batch or attempt)
    with rt.transaction() as session:
        result = store_batch(session, parsed, request.source, request.received_at)
        hydrated.forget(rt, tweets=result.deleted_ids)
        # New tweets (a page may hold a cached null for a tweet not yet stored) and every user
        # whose profile this batch may have changed. A redelivery refreshes all the batch's
        # tweets: the attempt before it may have died between its commit and its refresh.
        changed = result.new_ids if first else list(parsed.tweets)
        hydrated.refresh(rt, tweets=changed, users=parsed.users)
    with rt.transaction() as session:
        removed = set(enforce_deletions(session, result.recheck_ids))
        hydrated.forget(rt, tweets=removed)
        result.new_ids = [i for i in result.new_ids if i not in removed]
        result.deleted_ids = sorted({*result.deleted_ids, *removed})
        tweet_activities.deliver(rt, session, parsed, result, first)
    counters = {f"notice:{k}": v for k, v in result.notices.items()}
    counters.update(
        lines=parsed.lines, stored=len(result.new_ids), dead_letters=result.dead_letters
    )
    if request.batch is not None:
        parked.release(redis, request.batch, counters)
    else:
        parked.count(redis, counters)
    return result
