"""tweetfeed's domain logic: parsing, ingest, listener. Never imports celery."""
