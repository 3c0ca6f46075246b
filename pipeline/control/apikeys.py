"""API keys: stored once, encrypted, chosen by name, never shown.

Every secret field is sealed with Fernet (AES-128-CBC and HMAC-SHA256) under SECRET_KEY
before it reaches SQL, so a shared database holds no usable credential. With no SECRET_KEY
set, a key is made once in VAR_DIR/secret.key (readable by its owner only): enough for one
machine; set SECRET_KEY where the listener runs elsewhere. Values stored before encryption
came in are read as they are and sealed the next time their keys are added.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ApiKey
from pipeline.control.key_fields import SECRET_FIELDS
from pipeline.settings import Settings, get_settings

SEALED = "fernet:"


def _key_file(path: Path) -> str:
    """The key in ``path``, made there first (owner-only) if there is none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def cipher(settings: Settings | None = None) -> Fernet:
    """Fernet under SECRET_KEY (a Fernet key, or any passphrase, hashed into one)."""
    settings = settings or get_settings()
    material = settings.secret_key or _key_file(settings.var_path / "secret.key")
    try:
        if len(base64.urlsafe_b64decode(material.encode())) == 32:
            return Fernet(material.encode())
    except (binascii.Error, ValueError):
        pass
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def seal(fernet: Fernet, value: str) -> str:
    return SEALED + fernet.encrypt(value.encode()).decode()


def unseal(fernet: Fernet, value: str | None) -> str | None:
    if value is None or not value.startswith(SEALED):
        return value
    try:
        return fernet.decrypt(value[len(SEALED) :].encode()).decode()
    except InvalidToken:
        raise ValueError(
            "stored API keys were encrypted under another SECRET_KEY; set the one they were "
            "added with, or add them again"
        ) from None


def add(
    session: Session, name: str, settings: Settings | None = None, **secrets: str | None
) -> ApiKey:
    """Create or replace the keys called ``name``."""
    unknown = set(secrets) - set(SECRET_FIELDS)
    if unknown:
        raise ValueError(f"unknown key fields: {', '.join(sorted(unknown))}")
    row = session.scalar(select(ApiKey).where(ApiKey.name == name)) or ApiKey(name=name)
    if not (secrets.get("bearer_token") or row.bearer_token):
        raise ValueError("the X API v2 stream needs a bearer token")
    fernet = cipher(settings)
    for field in SECRET_FIELDS:
        value = secrets.get(field)
        if value is not None:
            setattr(row, field, seal(fernet, value))
    session.add(row)
    session.flush()
    return row


def choose(session: Session, name: str | None) -> ApiKey | None:
    """The keys called ``name``, or, with no name, the first stored (as the original app did).
    Its secret fields are sealed: :func:`opened` reads them."""
    query = select(ApiKey).order_by(ApiKey.id)
    if name is not None:
        query = query.where(ApiKey.name == name)
    return session.scalars(query).first()


def opened(row: ApiKey, settings: Settings | None = None) -> dict[str, str | None]:
    """The secret fields of ``row`` in the clear, for the listener alone."""
    fernet = cipher(settings)
    return {field: unseal(fernet, getattr(row, field)) for field in SECRET_FIELDS}


def listing(session: Session) -> list[tuple[str, list[str]]]:
    """(name, the fields that are set) for every stored key; never a secret itself."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.name))
    return [(r.name, [f for f in SECRET_FIELDS if getattr(r, f)]) for r in rows]
