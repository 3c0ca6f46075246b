"""Column types that behave the same on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments an INTEGER PRIMARY KEY, never a BIGINT one.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

# MySQL's BLOB stops at 64 KiB; a v2 search page is several hundred.
Blob = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def ExactString(length: int) -> Any:
    """A VARCHAR compared byte for byte everywhere (MySQL's default collations fold case)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC (every dialect keeps it unchanged); hand back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None
