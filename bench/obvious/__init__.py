"""The obvious Celery design the ingest benchmark measures tweetfeed against (``app``)."""
