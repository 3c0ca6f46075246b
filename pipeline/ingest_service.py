"""The whole of one ingest task, from payload to committed rows, for any task runner."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
from sqlalchemy.orm import Session

from pipeline import batches, deadletters
from pipeline.ingest import IngestResult, enforce_deletions, store_batch
from pipeline.parse import parse_lines
from pipeline.payloads import IngestRequest, PayloadError
from pipeline.settings import Settings

log = logging.getLogger(__name__)
Transaction = Callable[[], AbstractContextManager[Session]]


def ingest_payload(
    payload: dict[str, Any], *, transaction: Transaction, redis: Any, settings: Settings
) -> IngestResult | None:
    """Validate, parse and store one ``tweetfeed.ingest_batch`` payload.

    Returns None when there was nothing to do: a bad payload (dead-lettered) or a batch that an
    earlier delivery of the same task already stored and released.
    """
    try:
        request = IngestRequest.parse(payload)
    except PayloadError as exc:
        with transaction() as session:
            body = orjson.dumps(payload, default=repr)
            deadletters.record(session, "task:tweetfeed.ingest_batch", f"bad payload: {exc}", body)
        log.warning("ingest payload dead-lettered: %s", exc)
        return None
    lines: list[Any] | None = request.lines
    if request.batch is not None:
        lines = batches.fetch(redis, request.batch)
        if lines is None:
            log.info("batch %s was already stored; nothing to do", request.batch)
            return None
    parsed = parse_lines(
        lines or [], settings.capture_embedded, request.truncated, settings.max_line_bytes
    )
    with transaction() as session:
        result = store_batch(session, parsed, request.source, request.received_at)
    if result.recheck_ids:
        with transaction() as session:
            removed = set(enforce_deletions(session, result.recheck_ids))
        result.new_ids = [i for i in result.new_ids if i not in removed]
    counters = {f"notice:{k}": v for k, v in result.notices.items()}
    counters.update(
        lines=parsed.lines, stored=len(result.new_ids), dead_letters=result.dead_letters
    )
    if request.batch is not None:
        batches.release(redis, request.batch, counters)
    else:
        batches.count(redis, counters)
    return result
