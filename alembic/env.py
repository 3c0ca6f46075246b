"""Alembic environment: the URL comes from tweetfeed's settings (or the caller's connection)."""

from __future__ import annotations

from alembic import context
from models import Base, load_tweet_model
from pipeline.settings import get_settings
from pipeline.store.engine import make_engine

load_tweet_model()  # a swapped tweet model registers its table on Base.metadata
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(get_settings().database_url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
