"""The synthetic accounts both simulators post as: names, handles, ids, counts and the v1.1 and
v2 user objects that describe them.

Every choice comes from the caller's ``random.Random``, so a seed gives the same people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.fakes.clock import snowflake, v1_time, v2_time

__all__ = ["ALNUM", "User", "make_users"]

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

_USERS_FROM_MS = 1_172_707_200_000  # 2007-03-01
_USERS_UNTIL_MS = 1_751_241_600_000  # 2025-06-30
_SNOWFLAKE_USERS_MS = 1_451_606_400_000  # accounts from 2016 on got 64-bit snowflake ids

# (display name, ASCII handle stem): handles must be [A-Za-z0-9_] whatever script the name uses.
_NAMES = (
    ("Ana 🌸", "ana"),
    ("José Álvarez", "jose_alvarez"),
    ("山田 太郎", "yamada"),
    ("Дмитрий Иванов", "dmitry"),
    ("محمد علي", "mohammed"),
    ("प्रिया शर्मा", "priya"),
    ("김민준", "minjun"),
    ("Chloé ✨", "chloe"),
    ("Lukas Müller", "lukas"),
    ("Zoë 🚀", "zoe"),
    ("Data Bot 🤖", "databot"),
    ("Sam O'Neil", "samoneil"),
    ("Aiko 🎧", "aiko"),
    ("Νίκος Παπαδόπουλος", "nikos"),
    ("Thảo Nguyễn", "thao"),
    ("Mateus 🇧🇷", "mateus"),
    ("Olivia Chen", "olivia"),
    ("Noah Smith", "noah"),
    ("Fatima Zahra", "fatima"),
    ("李伟", "liwei"),
    ("Emma Wilson", "emma_w"),
    ("Liam ☕", "liam"),
    ("Sofia Rossi", "sofia"),
    ("Kwame Mensah", "kwame"),
    ("Ingrid Solberg", "ingrid"),
    ("Raj Patel", "rajpatel"),
    ("🐍 Pythonista", "pythonista"),
    ("Niamh Byrne", "niamh"),
    ("Youssef", "youssef"),
    ("Hana 🌙", "hana"),
)
_DESCRIPTIONS = (
    "",
    "",
    "Data engineer. Opinions my own. 🐍",
    "Coffee ☕ and code",
    "東京在住のエンジニア",
    "Fútbol y música 🎶",
    "Building things at the edge of #data",
    "he/him · 🏳️‍🌈",
    "Dad, runner, 🚀 enthusiast",
    "Ex-journalist. Now: pipelines.",
    "Aquí para aprender 📚",
    "Пишу о данных и городах",
)
_LOCATIONS = ("", "", "", "東京", "São Paulo", "Berlin", "Lagos", "NYC 🗽", "Москва", "Mumbai")


@dataclass(slots=True, eq=False)
class User:
    """One account of the pool, with its v1 and v2 renderings cached (users never change)."""

    id: int
    screen_name: str
    name: str
    description: str
    location: str
    followers_count: int
    friends_count: int
    listed_count: int
    favourites_count: int
    statuses_count: int
    verified: bool
    created_ms: int
    profile_image_url: str
    v1: dict[str, Any] = field(default_factory=dict)
    v2: dict[str, Any] = field(default_factory=dict)


def make_users(rng: random.Random, count: int) -> list[User]:
    """Build the pool of accounts that post and get mentioned."""
    taken_names: set[str] = set()
    taken_ids: set[int] = set()
    users = []
    for _ in range(count):
        name, stem = rng.choice(_NAMES)
        user = _make_user(rng, name, _handle(rng, stem, taken_names), taken_ids)
        user.v1 = _v1_user(user)
        user.v2 = _v2_user(user)
        users.append(user)
    return users


def _handle(rng: random.Random, stem: str, taken: set[str]) -> str:
    """A unique screen name of at most 15 characters."""
    handle = stem
    while handle in taken:
        suffix = str(rng.randint(1, 99999))
        joiner = "_" if rng.random() < 0.3 else ""
        handle = stem[: 15 - len(suffix) - len(joiner)] + joiner + suffix
    taken.add(handle)
    return handle


def _make_user(rng: random.Random, name: str, handle: str, taken_ids: set[int]) -> User:
    """One account with plausible, heavy-tailed counts."""
    created_ms = rng.randint(_USERS_FROM_MS, _USERS_UNTIL_MS) // 1000 * 1000
    user_id = 0
    while user_id == 0 or user_id in taken_ids:
        user_id = _user_id(rng, created_ms)
    taken_ids.add(user_id)
    followers = min(int(rng.paretovariate(1.1) * 40) - 40, 80_000_000)
    image = f"pbs.twimg.com/profile_images/{_user_id(rng, _USERS_UNTIL_MS)}/"
    image += "".join(rng.choices(ALNUM, k=8)) + "_normal.jpg"
    return User(
        id=user_id,
        screen_name=handle,
        name=name,
        description=rng.choice(_DESCRIPTIONS),
        location=rng.choice(_LOCATIONS),
        followers_count=followers,
        friends_count=int(rng.paretovariate(1.5) * 60) - 60,
        listed_count=followers // rng.randint(50, 400),
        favourites_count=rng.randint(0, 120_000),
        statuses_count=rng.randint(1, 90_000),
        verified=followers > 200_000 or rng.random() < 0.02,
        created_ms=created_ms,
        profile_image_url="https://" + image,
    )


def _user_id(rng: random.Random, created_ms: int) -> int:
    """Snowflake ids for recent accounts, small sequential-looking ones for old accounts."""
    if created_ms >= _SNOWFLAKE_USERS_MS:
        return snowflake(created_ms, rng.getrandbits(22))
    share = (created_ms - _USERS_FROM_MS) / (_SNOWFLAKE_USERS_MS - _USERS_FROM_MS)
    return 700_000 + int(share * 4_000_000_000) + rng.randrange(10_000)


def _v1_user(user: User) -> dict[str, Any]:
    """A v1.1 user object."""
    return {
        "id": user.id,
        "id_str": str(user.id),
        "name": user.name,
        "screen_name": user.screen_name,
        "location": user.location or None,
        "url": None,
        "description": user.description,
        "protected": False,
        "verified": user.verified,
        "followers_count": user.followers_count,
        "friends_count": user.friends_count,
        "listed_count": user.listed_count,
        "favourites_count": user.favourites_count,
        "statuses_count": user.statuses_count,
        "created_at": v1_time(user.created_ms),
        "profile_image_url": user.profile_image_url.replace("https://", "http://", 1),
        "profile_image_url_https": user.profile_image_url,
        "default_profile_image": False,
    }


def _v2_user(user: User) -> dict[str, Any]:
    """A v2 user object (``user.fields`` all requested)."""
    rendered: dict[str, Any] = {
        "id": str(user.id),
        "name": user.name,
        "username": user.screen_name,
        "created_at": v2_time(user.created_ms),
        "description": user.description,
        "protected": False,
        "verified": user.verified,
        "profile_image_url": user.profile_image_url,
        "public_metrics": {
            "followers_count": user.followers_count,
            "following_count": user.friends_count,
            "tweet_count": user.statuses_count,
            "listed_count": user.listed_count,
        },
    }
    if user.location:
        rendered["location"] = user.location
    return rendered
