"""The whole of one ingest task, from payload to committed rows, for any task runner."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.bus import routes
from pipeline.bus.payloads import IngestRequest, validated
from pipeline.feeds import fanout
from pipeline.ingest import parked, tweet_activities
from pipeline.ingest.parse import parse_lines
from pipeline.ingest.storage import IngestResult, enforce_deletions, store_batch
from pipeline.runtime import Services

log = logging.getLogger(__name__)
ATTEMPT_PREFIX = "tweetfeed:attempt:"


def _first_attempt(redis: Any, attempt: str | None) -> bool:
    """True unless a delivery of the same task (same id) has started before."""
    if attempt is None:
        return True
    return bool(redis.set(ATTEMPT_PREFIX + attempt, 1, nx=True, ex=86_400))


def ingest_payload(
    payload: dict[str, Any], svc: Services, attempt: str | None = None
) -> IngestResult | None:
    """Validate, parse and store one ``tweetfeed.ingest_batch`` payload, then fan it out.

    ``attempt`` is the task's id: a redelivered task fans out every stored tweet of its batch,
    not only the new ones. Returns None when there was nothing to do: a bad payload
    (dead-lettered) or a batch that an earlier delivery already stored and released.
    """
    transaction, redis, settings = svc.transaction, svc.redis, svc.settings
    request = validated(transaction, routes.INGEST_BATCH, payload, IngestRequest.parse)
    if request is None:
        return None
    lines: list[Any] | None = request.lines
    if request.batch is not None:
        lines = parked.fetch(redis, request.batch)
        if lines is None:
            log.info("batch %s was already stored; nothing to do", request.batch)
            return None
    parsed = parse_lines(
        lines or [], settings.capture_embedded, request.truncated, settings.max_line_bytes
    )
    first = _first_attempt(redis, attempt)
    with transaction() as session:
        result = store_batch(session, parsed, request.source, request.received_at)
    with transaction() as session:
        removed = set(enforce_deletions(session, result.recheck_ids))
        result.new_ids = [i for i in result.new_ids if i not in removed]
        result.deleted_ids = sorted({*result.deleted_ids, *removed})
        delivery, stale = tweet_activities.plan(svc, session, parsed, result, first)
    svc.cache_remove(stale)
    fanout.finish(svc, delivery)
    counters = {f"notice:{k}": v for k, v in result.notices.items()}
    counters.update(
        lines=parsed.lines, stored=len(result.new_ids), dead_letters=result.dead_letters
    )
    if request.batch is not None:
        parked.release(redis, request.batch, counters)
    else:
        parked.count(redis, counters)
    return result
