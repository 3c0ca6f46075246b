"""``tweetfeed migrate``: alembic upgrade head, with the script folder found from the package."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from alembic.config import Config
from sqlalchemy import Engine

from alembic import command

# pyproject ships the top-level alembic/ folder as this package (package-dir); it has no
# __init__.py, so that alembic/ in a checkout never shadows the alembic library.
MIGRATIONS_PACKAGE = "tweetfeed_migrations"
CHECKOUT_SCRIPTS = Path(__file__).resolve().parents[2] / "alembic"


def script_location() -> Path:
    """The migrations installed with the package (wheel or editable), else the checkout's."""
    spec = find_spec(MIGRATIONS_PACKAGE)
    for location in (spec and spec.submodule_search_locations) or ():
        if (Path(location) / "env.py").is_file():
            return Path(location)
    if (CHECKOUT_SCRIPTS / "env.py").is_file():  # a checkout on sys.path, not installed
        return CHECKOUT_SCRIPTS
    raise RuntimeError(f"no alembic migrations: {MIGRATIONS_PACKAGE} is not installed")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
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
