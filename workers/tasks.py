"""Thin tasks: decode the payload, call one ``pipeline`` function, return nothing."""

from __future__ import annotations

from typing import Any

from pipeline import tasknames, terms
from pipeline.ingest_service import ingest_payload
from workers.base import PipelineTask
from workers.celery_app import app


@app.task(name=tasknames.INGEST_BATCH, base=PipelineTask, bind=True)
def ingest_batch(self: PipelineTask, **payload: Any) -> None:
    """Parse, dedupe and store a batch of raw lines (see ``pipeline.ingest_service``)."""
    ingest_payload(payload, transaction=self.transaction, redis=self.redis, settings=self.settings)


@app.task(name=tasknames.POLL_FILTER_TERMS, base=PipelineTask, bind=True)
def poll_filter_terms(self: PipelineTask) -> None:
    """Tell listeners, over the control channel, when the enabled filter terms changed."""
    with self.transaction() as session:
        terms.publish_if_changed(session, self.redis)
