"""What every PostgreSQL connection is set to, whatever a transaction on it did before."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import Database

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def test_postgres_plans_each_statement_for_its_own_parameters(db: Database) -> None:
    """A generic plan of ``column = ANY($1)`` compares each row with every element in turn
    (47 ms against 0.4 ms for a batch's follower lookup); see ``pipeline.store.engine``."""
    with db.engine.connect() as conn:
        assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
        conn.rollback()  # the setting is the session's, not a transaction's
    with db.engine.connect() as conn:
        assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
