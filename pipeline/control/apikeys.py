"""API keys: stored once, chosen by name, never shown."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ApiKey

SECRET_FIELDS = ("bearer_token", "api_key", "api_secret", "access_token", "access_token_secret")


def add(session: Session, name: str, **secrets: str | None) -> ApiKey:
    """Create or replace the keys called ``name``."""
    unknown = set(secrets) - set(SECRET_FIELDS)
    if unknown:
        raise ValueError(f"unknown key fields: {', '.join(sorted(unknown))}")
    row = session.scalar(select(ApiKey).where(ApiKey.name == name)) or ApiKey(name=name)
    for field in SECRET_FIELDS:
        if secrets.get(field) is not None:
            setattr(row, field, secrets[field])
    if not row.bearer_token:
        raise ValueError("the X API v2 stream needs a bearer token")
    session.add(row)
    session.flush()
    return row


def choose(session: Session, name: str | None) -> ApiKey | None:
    """The keys called ``name``, or, with no name, the first stored (as the original app did)."""
    query = select(ApiKey).order_by(ApiKey.id)
    if name is not None:
        query = query.where(ApiKey.name == name)
    return session.scalars(query).first()


def listing(session: Session) -> list[tuple[str, list[str]]]:
    """(name, the fields that are set) for every stored key; never a secret itself."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.name))
    return [(r.name, [f for f in SECRET_FIELDS if getattr(r, f)]) for r in rows]
