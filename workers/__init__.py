"""The Celery app and its thin tasks: ``celery -A workers worker``."""

from workers.celery_app import app

__all__ = ["app"]
