"""``tweetfeed migrate``: alembic upgrade head, with the script folder found from the package."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine

from alembic import command

SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "alembic"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database to ``revision``; use ``engine`` instead of the configured URL if given."""
    config = alembic_config()
    if engine is None:
        command.upgrade(config, revision)
        return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
