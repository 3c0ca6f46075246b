"""The Celery application, configured from ``celeryconfig``."""

from __future__ import annotations

from celery import Celery

app = Celery("tweetfeed", include=["workers.tasks"])
app.config_from_object("celeryconfig")
