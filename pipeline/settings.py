"""One frozen settings object, read from ``TWEETFEED_*`` environment variables once.

A bad value fails at start with an error that names the variable, so a typo in a deployment is
caught before the first tweet rather than in the middle of the night.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

PREFIX = "TWEETFEED_"
SECRET_SETTINGS = frozenset({"api_token", "flower_auth", "secret_key"})
T = TypeVar("T")


class SettingsError(ValueError):
    """A ``TWEETFEED_*`` variable holds a value that cannot be used."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false, yes/no, on/off or 1/0")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected 0 or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("expected a positive number")
    return value


def _url(raw: str) -> str:
    if "://" not in raw:
        raise ValueError("expected a URL such as scheme://host/…")
    return raw


def _text(raw: str) -> str | None:
    return raw or None


def _dotted(raw: str) -> str | None:
    if not raw:
        return None
    if not re.fullmatch(r"[\w.]+:[\w.]+", raw):
        raise ValueError("expected 'package.module:ClassName'")
    return raw


def _backend(raw: str) -> str:
    if raw not in {"redis", "sql"}:
        raise ValueError("expected 'redis' or 'sql'")
    return raw


def _lengths(raw: str) -> tuple[tuple[str, int], ...]:
    lengths: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        slug, _, value = part.partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", slug.strip()):
            raise ValueError(f"expected slug=length pairs, got {part!r}")
        lengths[slug.strip()] = _positive_int(value.strip())
    return tuple(sorted(lengths.items()))


AGGREGATION_PARTS = ("actor", "verb", "object", "target", "hour", "day", "week", "month")


def _aggregation_keys(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    keys: dict[str, tuple[str, ...]] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        slug, _, value = (x.strip() for x in item.partition("="))
        if slug != "notification" and not re.fullmatch(r"[a-z][a-z0-9_]*_aggregated", slug):
            raise ValueError(f"{slug!r} is not an aggregated slug (notification, *_aggregated)")
        parts = tuple(p.strip() for p in value.split("+"))
        unknown = [p for p in parts if p not in AGGREGATION_PARTS]
        if unknown or not value or len(set(parts)) != len(parts):
            raise ValueError(f"expected slug=part+part… of {', '.join(AGGREGATION_PARTS)}, "
                             f"each once; got {item!r}")  # fmt: skip
        keys[slug] = parts
    return tuple(sorted(keys.items()))


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", n)]
    if bad:
        raise ValueError(f"expected names of letters, digits and '_', got {bad[0]!r}")
    return names


def _flower_auth(raw: str) -> str | None:
    if raw and ":" not in raw:
        raise ValueError("expected user:password")
    return raw or None


def redact_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***``, safe for logs and ``repr()``."""
    if url is None:
        return None
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _setting(default: Any, parse: Callable[[str], Any], doc: str) -> Any:
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every knob of tweetfeed; see the README's configuration table."""

    database_url: str = _setting(
        "sqlite:///var/tweetfeed.sqlite3", _url, "SQLAlchemy URL of the SQL store"
    )
    redis_url: str = _setting("redis://127.0.0.1:6379/0", _url, "Redis for feeds and batches")
    broker_url: str | None = _setting(None, _url, "Celery broker (defaults to REDIS_URL)")
    poll_interval: float = _setting(10.0, _positive_float, "seconds between filter-term polls")
    capture_embedded: bool = _setting(False, _bool, "store retweeted/quoted tweets as tweets")
    default_keys_name: str | None = _setting(None, _text, "API keys the listener uses")
    prevent_exit: bool = _setting(False, _bool, "restart the stream after fatal errors")
    batch_size: int = _setting(500, _positive_int, "lines per ingest task")
    batch_wait_ms: int = _setting(250, _positive_int, "longest a line waits for its batch")
    max_line_bytes: int = _setting(8 << 20, _positive_int, "longer lines are dead-lettered")
    feed_max_length: int = _setting(1000, _positive_int, "items kept per feed")
    feed_max_lengths: tuple[tuple[str, int], ...] = _setting(
        (), _lengths, "per feed type, e.g. notification=200,hashtag=5000"
    )
    aggregation_keys: tuple[tuple[str, tuple[str, ...]], ...] = _setting(
        (), _aggregation_keys,
        "what groups an aggregated feed, per slug, e.g. notification=actor+verb+hour "
        "(default verb+object+day)",
    )  # fmt: skip
    enrich_fields: tuple[str, ...] = _setting(
        (), _names, "activity extra fields holding references to enrich, e.g. parent_tweet"
    )
    feed_backend: str = _setting("redis", _backend, "where feeds are read: redis or sql")
    fanout_chunk_size: int = _setting(5000, _positive_int, "feeds written per fan-out task")
    visibility_timeout: int = _setting(
        120, _positive_int, "seconds before a task whose worker died is delivered again"
    )
    removal_memory_seconds: int = _setting(
        3600, _positive_int, "how long Redis remembers removed activities, to refuse late writes"
    )
    celebrity_threshold: int = _setting(10_000, _positive_int, "followers above: merge on read")
    retweet_falloff: int = _setting(
        0, _non_negative_int, "a retweet whose original is among a timeline's newest N items "
        "is not put in it (Mastodon: 40); 0: off",
    )  # fmt: skip
    active_days: float | None = _setting(
        None, _positive_float, "follower feeds not read for this many days get no fan-out writes"
    )
    tweet_model: str | None = _setting(None, _dotted, "swap in a subclass of AbstractTweet")
    disable_fanout: bool = _setting(False, _bool, "turn fan-out off")
    x_api_base_url: str = _setting("https://api.twitter.com", _url, "X API base URL")
    var_dir: str = _setting("var", _text, "where embedded Redis, SQLite and spools live")
    stream_keepalive_seconds: float = _setting(
        20.0, _positive_float, "the stream's keep-alive interval; 3 missed = stall"
    )
    heartbeat_seconds: float = _setting(5.0, _positive_float, "listener heartbeat and lock renewal")
    backoff_scale: float = _setting(1.0, _positive_float, "multiplies every reconnect wait")
    web_host: str = _setting("127.0.0.1", _text, "address `tweetfeed web` listens on")
    web_port: int = _setting(8000, _positive_int, "port `tweetfeed web` listens on")
    web_workers: int | None = _setting(None, _positive_int, "web processes (default: one a core)")
    web_access_log: bool = _setting(False, _bool, "log every HTTP request (costs p99 latency)")
    read_cache_seconds: int = _setting(
        86_400, _non_negative_int, "how long feed reads cache activities, tweets, users; 0: off"
    )
    api_token: str | None = _setting(None, _text, "bearer token for the web API's writes")
    secret_key: str | None = _setting(
        None, _text, "encrypts stored API keys (default: a key made in VAR_DIR/secret.key)"
    )
    template_dir: str | None = _setting(None, _text, "your templates, tried before the built-in")
    flower_url: str = _setting("http://127.0.0.1:5555", _url, "where the status page links Flower")
    flower_auth: str | None = _setting(None, _flower_auth, "user:password for Flower's basic auth")

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_url"):
                value = redact_url(value)
            elif f.name in SECRET_SETTINGS and value is not None:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``TWEETFEED_*`` variable; raise SettingsError naming the first bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None:
                continue
            try:
                values[f.name] = f.metadata["parse"](raw.strip())
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from None
        return cls(**values)

    @classmethod
    def documentation(cls) -> list[tuple[str, Any, str]]:
        """(variable, default, meaning) for every setting, for ``tweetfeed settings``."""
        return [(PREFIX + f.name.upper(), f.default, f.metadata["doc"]) for f in fields(cls)]


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()
