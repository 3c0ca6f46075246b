"""The benchmarks' PostgreSQL databases: one per benchmark and process, dropped at the end.

A name is ``bench_<benchmark>_<pid>``, so that two runs on one machine (a ``make bench`` and a
``make test``) never drop each other's database, and the backends of a run are exactly those
connected to its database.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import text

from pipeline.store.engine import make_engine
from pipeline.store.migrate import upgrade

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_name(name: str) -> str:
    """``name`` made unique to this process (``bench_read`` → ``bench_read_4242``), so two runs
    on one machine never drop each other's database."""
    if not name.startswith("bench_"):
        raise ValueError(f"benchmark databases are called bench_*, not {name!r}")
    return f"{name}_{os.getpid()}"


_created: set[str] = set()


def fresh_database(name: str) -> str:
    """An empty, migrated PostgreSQL database for ``name`` (see :func:`database_name`); returns
    its URL. :func:`drop_databases` removes it again."""
    unique = database_name(name)
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {unique} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {unique}"))
    _created.add(unique)
    url = admin.url.set(database=unique).render_as_string(hide_password=False)
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def drop_databases() -> None:
    """Drop every database this process created."""
    if not _created:
        return
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in sorted(_created):
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()
    _created.clear()


def backends(database: str) -> Callable[[], list[int]]:
    """A function listing the pids of the PostgreSQL backends connected to the database
    :func:`fresh_database` made for ``database``."""
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()")
    unique = database_name(database)

    def pids() -> list[int]:
        with admin.connect() as conn:
            return [int(p) for p in conn.execute(query, {"d": unique}).scalars()]

    return pids
