"""Each dialect's insert-or-ignore and upsert, behind three small functions.

Rows are always written in key order: two workers inserting overlapping batches then take row
locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, any_, bindparam, delete, func, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import ARRAY

CHUNK = 1000  # bounded IN lists and statements, whatever the batch size


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def is_postgresql(session: Session) -> bool:
    return _dialect(session) == "postgresql"


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_ignore(session: Session, table: Table) -> Insert:
    name = _dialect(session)
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if name in {"mysql", "mariadb"}:
        return mysql.insert(table).prefix_with("IGNORE")
    raise NotImplementedError(f"no insert-or-ignore for dialect {name!r}")


def _unnest_insert(table: Table, columns: Sequence[str], tail: str) -> str:
    """One constant statement over typed arrays: a round trip and a cached plan per batch.

    SQLAlchemy's multi-row VALUES differs with every batch size, so psycopg re-parses a
    statement of thousands of placeholders each time; that alone halved ingest speed.
    """
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(f"%({c})b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays}) {tail}'


def _pg_execute(session: Session, sql: str, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Run an unnest statement on the session's psycopg connection, arrays sent in binary."""
    columns = {c: [r[c] for r in rows] for c in rows[0]}
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(sql, columns)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def insert_returning(
    session: Session, table: Table, rows: list[dict[str, Any]], returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` that are not there yet; return ``returning`` of exactly those inserted,
    in one statement (a row whose key exists already returns nothing)."""
    if not rows:
        return []
    if _dialect(session) == "postgresql":
        wanted = ", ".join(f'"{c}"' for c in returning)
        sql = _unnest_insert(table, list(rows[0]), f"ON CONFLICT DO NOTHING RETURNING {wanted}")
        return _pg_execute(session, sql, rows)
    stmt = _insert_ignore(session, table).returning(*(table.c[c] for c in returning))
    return [tuple(row) for row in session.execute(stmt, rows)]


def insert_new(session: Session, table: Table, rows: list[dict[str, Any]], key: str) -> list[int]:
    """Insert ``rows`` that are not there yet; return the keys of exactly those inserted."""
    return sorted(row[0] for row in insert_returning(session, table, rows, [key]))


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any whose key exists already."""
    if not rows:
        return
    if _dialect(session) == "postgresql":
        sql = _unnest_insert(table, list(rows[0]), "ON CONFLICT DO NOTHING")
        _pg_execute(session, sql, rows)
        return
    session.execute(_insert_ignore(session, table), rows)


def upsert_newer(
    session: Session, table: Table, rows: list[dict[str, Any]], key: str, stamp: str
) -> None:
    """Insert rows, or replace existing ones whose ``stamp`` is not newer than the new row's."""
    if not rows:
        return
    name = _dialect(session)
    columns = [c.name for c in table.columns if c.name not in {key, stamp}] + [stamp]
    if name == "postgresql":
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns)
        tail = (
            f'ON CONFLICT ("{key}") DO UPDATE SET {updates} '
            f'WHERE "{table.name}"."{stamp}" <= excluded."{stamp}"'
        )
        sql = _unnest_insert(table, [key, *columns], tail)
        _pg_execute(session, sql, rows)
        return
    stmt: Insert
    if name == "sqlite":
        lite_insert = sqlite.insert(table)
        stmt = lite_insert.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={c: lite_insert.excluded[c] for c in columns},
            where=table.c[stamp] <= lite_insert.excluded[stamp],
        )
    elif name in {"mysql", "mariadb"}:
        my_insert = mysql.insert(table)
        newer = table.c[stamp] <= my_insert.inserted[stamp]
        # MySQL assigns left to right with the values already updated, so the stamp goes last.
        stmt = my_insert.on_duplicate_key_update(
            [(c, func.if_(newer, my_insert.inserted[c], table.c[c])) for c in columns]
        )
    else:
        raise NotImplementedError(f"no upsert for dialect {name!r}")
    session.execute(stmt, rows)


def among(session: Session, column: Any, keys: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN keys``; on PostgreSQL ``column = ANY(array)``, one parameter, however many keys.

    A thousand-placeholder IN list costs psycopg more to prepare than the query costs to run.
    """
    if _dialect(session) == "postgresql":
        return column == any_(bindparam(None, list(keys), type_=ARRAY(column.type)))
    return column.in_(keys)


def existing(session: Session, column: Column[Any], keys: Iterable[int]) -> set[int]:
    """The subset of ``keys`` present in ``column``."""
    keys = sorted(set(keys))
    found: set[int] = set()
    for part in chunks(keys):
        found.update(session.execute(select(column).where(among(session, column, part))).scalars())
    return found


def delete_where_in(session: Session, column: Column[Any], keys: Sequence[int]) -> None:
    for part in chunks(sorted(keys)):
        condition = among(session, column, part)
        session.execute(delete(column.table).where(condition))
