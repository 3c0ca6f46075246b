from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import Base
from tests.conftest import Database
from tests.helpers import ROOT, clean_env


def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


CUSTOM_MODEL = textwrap.dedent(
    """
    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column
    from models import AbstractTweet, Base

    class ScoredTweet(AbstractTweet, Base):
        __tablename__ = "scored_tweets"
        shouting: Mapped[bool | None] = mapped_column()
        note: Mapped[str | None] = mapped_column(String(50))

        @classmethod
        def extra_values(cls, record):
            return {"shouting": record["text"].isupper()}
    """
)

SCRIPT = textwrap.dedent(
    """
    import orjson, sqlalchemy as sa
    from pipeline.store.engine import make_engine, make_sessionmaker
    from pipeline.store.migrate import upgrade
    from pipeline.ingest.tweets import store_batch
    from pipeline.ingest.parse import parse_lines
    from tests.factories import line, v1_tweet
    from myapp import ScoredTweet
    upgrade()
    engine = make_engine(__import__("os").environ["TWEETFEED_DATABASE_URL"])
    with make_sessionmaker(engine).begin() as s:
        store_batch(s, parse_lines([line(v1_tweet(1, "HI")), line(v1_tweet(2, "hi"))], False), "t")
    with engine.connect() as c:
        rows = c.execute(sa.text("select id, shouting from scored_tweets"))
        print(sorted(tuple(r) for r in rows))
    """
)


def test_a_swapped_tweet_model_gets_its_own_table_and_extra_columns(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(CUSTOM_MODEL)
    env = clean_env(
        TWEETFEED_DATABASE_URL=f"sqlite:///{tmp_path}/custom.sqlite3",
        TWEETFEED_TWEET_MODEL="myapp:ScoredTweet",
        PYTHONPATH=f"{tmp_path}:{ROOT}",
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(1, 1), (2, 0)]"
