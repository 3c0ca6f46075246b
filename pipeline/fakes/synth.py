"""Deterministic synthetic X/Twitter stream lines for the demo, the tests and the benchmarks.

Same seed, same bytes: every random choice comes from one ``random.Random(seed)`` and every
timestamp counts up from a fixed epoch, never from the wall clock. The mix (replies, retweets,
quotes, long tweets, deletes, byte-identical re-deliveries, 4-byte emoji, non-Latin hashtags)
is there to exercise the awkward paths of a real stream parser.

Tweets are built once as format-free records and then rendered as v1.1 or v2 JSON, so the two
formats describe the same tweets for a given seed.
"""

from __future__ import annotations

import gzip
import io
import os
import random
from bisect import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

import orjson

__all__ = ["generate", "write"]

_SEPARATORS = {"v1": b"\r\n", "v2": b"\n"}
_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
_TWEPOCH_MS = 1_288_834_974_657  # the snowflake epoch, so ids decode to real times
_DAY_MS = 86_400_000
_USERS_FROM_MS = 1_172_707_200_000  # 2007-03-01
_USERS_UNTIL_MS = 1_751_241_600_000  # 2025-06-30
_SNOWFLAKE_USERS_MS = 1_451_606_400_000  # accounts from 2016 on got 64-bit snowflake ids
_V1_LIMIT = 140
_V2_LIMIT = 280
_ELLIPSIS = "…"

# Windows that bound memory however many lines are asked for.
_TARGET_WINDOW = 1_000
_DELETE_WINDOW = 2_000
_REDELIVERY_WINDOW = 200
_OLDER_POOL = 64
_WRITE_BATCH = 1_024

# Cumulative thresholds: 55% plain, 15% replies, 15% retweets, 7% quotes, 4% long, 2% deletes,
# 2% re-deliveries.
_KINDS = (
    (0.55, "plain"),
    (0.70, "reply"),
    (0.85, "retweet"),
    (0.92, "quote"),
    (0.96, "long"),
    (0.98, "delete"),
    (1.00, "duplicate"),
)
_OLDER_SHARE = 0.2

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

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
_SOURCES = (
    '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
    '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
    '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
    '<a href="https://help.twitter.com/en/using-twitter/how-to-tweet#source-labels" '
    'rel="nofollow">TweetDeck Web App</a>',
    '<a href="https://buffer.com" rel="nofollow">Buffer</a>',
)
_SOURCE_ODDS = (0.40, 0.70, 0.90, 0.96)  # cumulative: index = bisect(odds, random())
_LANGS = ("en", "es", "ja", "pt", "fr")
_LANG_ODDS = (0.65, 0.77, 0.89, 0.95)
# How many of each entity a text gets: P(0) = first threshold, P(1) = the next gap, and so on.
_HASHTAG_COUNTS = (0.35, 0.75, 0.93)
_MENTION_COUNTS = (0.70, 0.92)
_EMOJI_COUNTS = (0.50, 0.85)


def _words(text: str) -> tuple[str, ...]:
    """Split a space-separated word list (easier to read and edit than a tuple literal)."""
    return tuple(text.split())


_VOCAB = {
    "en": _words(
        "just shipped the new pipeline today and it works data stream coffee morning thread "
        "thoughts on why latency matters deploy friday again weekend team amazing learning "
        "every day love this open source community finally fixed that bug build green release "
        "notes read more here big news tonight game what a match so excited for the conference "
        "talk slides are up who else is watching"
    ),
    "es": _words(
        "hoy por fin terminé el proyecto qué partido increíble mañana café datos gracias a "
        "todos nuevo artículo aquí semana larga vamos música en vivo"
    ),
    "ja": _words(
        "今日 は 新しい データ パイプライン を 公開 しました 東京 ラーメン 美味しい 週末 勉強 中 "
        "楽しい ありがとう です 明日 発表 します"
    ),
    "pt": _words(
        "bom dia hoje lançamos o novo projeto que jogo incrível obrigado pessoal dados em tempo "
        "real"
    ),
    "fr": _words(
        "bonjour à tous nouvelle version du projet café données en temps réel merci beaucoup "
        "très content"
    ),
}
_HASHTAGS = (
    "python",
    "data",
    "日本",
    "AI",
    "opensource",
    "100DaysOfCode",
    "MachineLearning",
    "東京",
    "fútbol",
    "café",
    "ClimateAction",
    "rustlang",
    "DevOps",
    "NBA",
    "kpop",
    "BigData",
    "données",
    "Олимпиада",
)
# Mostly astral-plane (4-byte UTF-8) emoji, plus a variation selector, a skin tone, a flag and a
# ZWJ sequence, because each of those breaks a different naive length or slicing assumption.
_EMOJI = (
    "😀",
    "🚀",
    "🎉",
    "🔥",
    "😂",
    "🙏",
    "💯",
    "🤖",
    "🐍",
    "📊",
    "🌸",
    "✨",
    "☕",
    "❤️",
    "👍🏽",
    "🇯🇵",
    "👩‍💻",
)
_DOMAINS = ("example.com", "blog.example.org", "news.example.net", "github.com", "youtu.be")
_RULES = (
    {"id": "1866105389405917184", "tag": "python and data"},
    {"id": "1866105389405917185", "tag": "japanese tech"},
    {"id": "1866105389405917186", "tag": "sample 1%"},
)
# Weighted by repetition: most tweets match one rule, some match two.
_RULE_SETS = (
    [_RULES[0]],
    [_RULES[1]],
    [_RULES[2]],
    [_RULES[2]],
    [_RULES[0], _RULES[2]],
    [_RULES[1], _RULES[2]],
)


@dataclass(slots=True, eq=False)
class _User:
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


@dataclass(slots=True, frozen=True)
class _Span:
    """An entity's [start, end) in code points; value is a tag, a _User or a _Link."""

    start: int
    end: int
    kind: str
    value: Any


@dataclass(slots=True, frozen=True)
class _Link:
    """A t.co link with what it expands to."""

    url: str
    expanded_url: str
    display_url: str


@dataclass(slots=True, eq=False)
class _Tweet:
    """A format-free tweet; its counters grow as later tweets reply to, retweet or quote it."""

    id: int
    ms: int
    user: _User
    text: str
    spans: list[_Span]
    lang: str
    source: str
    conversation_id: int
    reply_to: _Tweet | None = None
    retweet_of: _Tweet | None = None
    quote_of: _Tweet | None = None
    retweet_count: int = 0
    reply_count: int = 0
    quote_count: int = 0
    favorite_count: int = 0
    deleted: bool = False


@dataclass(slots=True, frozen=True)
class _Delete:
    """A deletion notice for an earlier top-level tweet."""

    tweet: _Tweet


_Token = tuple[str, str | None, Any]


def generate(count: int, fmt: str = "v1", seed: int = 0, users: int = 500) -> Iterator[bytes]:
    """Yield `count` stream lines (bytes, JSON, no trailing newline) in format "v1" or "v2".

    Arguments are checked at call time, not at the first ``next()``.
    """
    if fmt not in _SEPARATORS:
        raise ValueError(f"unknown format {fmt!r}; expected 'v1' or 'v2'")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    return _lines(count, fmt, seed, users)


def write(
    path_or_stream: str | os.PathLike[str] | IO[bytes] | io.BufferedIOBase,
    count: int,
    fmt: str = "v1",
    seed: int = 0,
) -> int:
    """Write `count` lines, each ended by b"\\r\\n" (v1) or b"\\n" (v2); return lines written.

    A path ending in ``.gz`` is gzip-compressed (with a zero mtime so the bytes stay
    reproducible); any other object is treated as a binary stream and left open.
    """
    lines = generate(count, fmt, seed)  # validates before any file is created
    separator = _SEPARATORS[fmt]
    if isinstance(path_or_stream, str | os.PathLike):
        with _open(path_or_stream) as out:
            return _dump(lines, separator, out)
    return _dump(lines, separator, path_or_stream)


def _open(path: str | os.PathLike[str]) -> io.BufferedIOBase:
    """Open a path for binary writing, through gzip when it ends in ``.gz``."""
    if os.fspath(path).endswith(".gz"):
        # Level 6 is gzip(1)'s default and twice as fast as Python's 9 for nearly the same size.
        return gzip.GzipFile(path, mode="wb", compresslevel=6, mtime=0)
    return open(path, "wb")


def _dump(lines: Iterable[bytes], separator: bytes, out: IO[bytes] | io.BufferedIOBase) -> int:
    """Write lines in batches, since one write per line dominates the cost for small lines."""
    written = 0
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) == _WRITE_BATCH:
            written += _flush(batch, separator, out)
    return written + _flush(batch, separator, out)


def _flush(batch: list[bytes], separator: bytes, out: IO[bytes] | io.BufferedIOBase) -> int:
    """Write and empty a batch; return how many lines it held."""
    if not batch:
        return 0
    batch.append(b"")  # so the join also ends the last line
    out.write(separator.join(batch))
    size = len(batch) - 1
    batch.clear()
    return size


def _lines(count: int, fmt: str, seed: int, users: int) -> Iterator[bytes]:
    """Drive the stream and render each event in the chosen format."""
    stream = _Stream(seed, users)
    render, render_delete = (_v1_line, _v1_delete) if fmt == "v1" else (_v2_line, _v2_delete)
    sent: list[bytes] = []  # recent tweet lines, for byte-identical re-delivery
    for _ in range(count):
        event = stream.step(can_redeliver=bool(sent))
        if event is None:
            yield _pick_recent(stream.rng, sent, _REDELIVERY_WINDOW)
            continue
        if isinstance(event, _Delete):
            yield render_delete(event.tweet, stream.ms)
            continue
        line = render(event)
        _remember(sent, line, _REDELIVERY_WINDOW)
        yield line


def _remember(items: list[Any], item: Any, window: int) -> None:
    """Append to a list that only ever needs its last `window` items."""
    items.append(item)
    if len(items) > 2 * window:
        del items[:window]


def _pick_recent(rng: random.Random, items: list[Any], window: int) -> Any:
    """Pick uniformly among the last `window` items."""
    return items[rng.randrange(max(0, len(items) - window), len(items))]


class _Stream:
    """The format-free state of one synthetic stream: users, clock and earlier tweets."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = random.Random(seed)
        self.users = _make_users(self.rng, users)
        self.ms = _EPOCH_MS
        self.sequence = 0
        self.originals: list[_Tweet] = []  # plain, reply and long tweets: any reference target
        self.quotes: list[_Tweet] = []  # quoted in turn, never retweeted (keeps nesting shallow)
        self.posted: list[_Tweet] = []  # every top-level tweet, for deletes
        self.older: list[_Tweet] = []  # originals from before the stream, never top-level

    def step(self, can_redeliver: bool) -> _Tweet | _Delete | None:
        """Advance the clock; return a new tweet, a deletion, or None for a re-delivery."""
        self.ms += self.rng.randint(1, 19)  # ~10 ms apart, strictly increasing ids
        roll = self.rng.random()
        kind = next(name for limit, name in _KINDS if roll < limit)
        if kind == "duplicate":
            return None if can_redeliver else self._plain()
        if kind == "delete":
            victim = self._delete_target()
            return _Delete(victim) if victim else self._plain()
        make = {
            "plain": self._plain,
            "reply": self._reply,
            "retweet": self._retweet,
            "quote": self._quote,
            "long": self._long,
        }[kind]
        return make()

    def _next_id(self, ms: int) -> int:
        """A snowflake id: timestamp, then 10 worker bits, then a 12-bit sequence."""
        self.sequence = (self.sequence + 1) & 0xFFF
        return ((ms - _TWEPOCH_MS) << 22) | (self.rng.getrandbits(10) << 12) | self.sequence

    def _user(self) -> _User:
        """Any account of the pool."""
        return self.rng.choice(self.users)

    def _lang(self) -> str:
        """A tweet language, mostly English."""
        return _LANGS[bisect(_LANG_ODDS, self.rng.random())]

    def _new(
        self, user: _User, text: str, spans: list[_Span], lang: str, ms: int | None = None
    ) -> _Tweet:
        """Build a tweet stamped now (or at `ms`) that starts its own conversation."""
        ms = self.ms if ms is None else ms
        tweet_id = self._next_id(ms)
        source = _SOURCES[bisect(_SOURCE_ODDS, self.rng.random())]
        return _Tweet(tweet_id, ms, user, text, spans, lang, source, tweet_id)

    def _post(self, tweet: _Tweet, target_list: list[_Tweet] | None) -> _Tweet:
        """Record a top-level tweet so later lines can reference or delete it."""
        _remember(self.posted, tweet, _DELETE_WINDOW)
        if target_list is not None:
            _remember(target_list, tweet, _TARGET_WINDOW)
        return tweet

    def _plain(self) -> _Tweet:
        """A short original tweet."""
        lang = self._lang()
        text, spans = self._text(lang, 12, _V1_LIMIT)
        return self._post(self._new(self._user(), text, spans, lang), self.originals)

    def _long(self) -> _Tweet:
        """An original longer than v1.1's 140 code points."""
        # Half fit v2's 280 but not v1.1's 140; half are v2 "note tweets" beyond 280.
        lo, hi = (141, _V2_LIMIT) if self.rng.random() < 0.5 else (_V2_LIMIT + 1, 900)
        lang = self._lang()
        text, spans = self._text(lang, lo, hi)
        return self._post(self._new(self._user(), text, spans, lang), self.originals)

    def _reply(self) -> _Tweet:
        """A reply to an earlier top-level tweet, opening with its author's handle."""
        target = self._stream_target(self.originals)
        if target is None:
            return self._plain()
        lead: _Token = ("@" + target.user.screen_name, "mention", target.user)
        text, spans = self._text(target.lang, 12, _V1_LIMIT, lead)
        tweet = self._new(self._user(), text, spans, target.lang)
        tweet.reply_to = target
        tweet.conversation_id = target.conversation_id
        target.reply_count += 1
        return self._post(tweet, self.originals)

    def _retweet(self) -> _Tweet:
        """A retweet: "RT @author: " and the original clipped to 140 code points."""
        original = self._original(self.originals)
        prefix = f"RT @{original.user.screen_name}: "
        body, body_spans = _clip(original.text, original.spans, _V1_LIMIT)
        spans = [_Span(3, len(prefix) - 2, "mention", original.user)]
        spans += [
            _Span(s.start + len(prefix), s.end + len(prefix), s.kind, s.value) for s in body_spans
        ]
        tweet = self._new(self._user(), prefix + body, spans, original.lang)
        tweet.retweet_of = original
        original.retweet_count += 1
        return self._post(tweet, None)

    def _quote(self) -> _Tweet:
        """A comment quoting an earlier tweet, occasionally itself a quote."""
        pool = self.quotes if self.quotes and self.rng.random() < 0.1 else self.originals
        quoted = self._original(pool)
        lang = self._lang()
        text, spans = self._text(lang, 12, _V1_LIMIT)
        tweet = self._new(self._user(), text, spans, lang)
        tweet.quote_of = quoted
        quoted.quote_count += 1
        return self._post(tweet, self.quotes)

    def _stream_target(self, pool: list[_Tweet]) -> _Tweet | None:
        """An earlier top-level tweet that is still there, or None."""
        if not pool:
            return None
        target = _pick_recent(self.rng, pool, _TARGET_WINDOW)
        return None if target.deleted else target

    def _original(self, pool: list[_Tweet]) -> _Tweet:
        """What a retweet or quote embeds: mostly from this stream, sometimes from before it."""
        original = None if self.rng.random() < _OLDER_SHARE else self._stream_target(pool)
        if original is None:
            original = self._older()
        original.favorite_count += self.rng.randint(0, 3)
        return original

    def _older(self) -> _Tweet:
        """An original from before the stream began, so it never appears as a line itself."""
        if self.older and self.rng.random() < 0.5:
            return self.rng.choice(self.older)  # viral: retweeted again and again
        user = self._user()
        earliest = max(_EPOCH_MS - 730 * _DAY_MS, user.created_ms + _DAY_MS)
        ms = self.rng.randint(earliest, _EPOCH_MS - 3_600_000)
        lang = self._lang()
        lo, hi = (141, 600) if self.rng.random() < 0.15 else (12, _V1_LIMIT)
        text, spans = self._text(lang, lo, hi)
        tweet = self._new(user, text, spans, lang, ms)
        tweet.retweet_count = int(self.rng.paretovariate(1.1) * 20)
        tweet.favorite_count = tweet.retweet_count * self.rng.randint(2, 8)
        tweet.reply_count = self.rng.randint(0, 50)
        tweet.quote_count = self.rng.randint(0, 20)
        _remember(self.older, tweet, _OLDER_POOL)
        return tweet

    def _delete_target(self) -> _Tweet | None:
        """An earlier top-level tweet to delete, marked so nothing references it afterwards."""
        victim = self._stream_target(self.posted)
        if victim is not None:
            victim.deleted = True
        return victim

    def _text(
        self, lang: str, lo: int, hi: int, lead: _Token | None = None
    ) -> tuple[str, list[_Span]]:
        """Compose lo..hi code points of words around hashtags, mentions, emoji and links."""
        rng = self.rng
        inline, links = self._specials()
        fixed = [lead] if lead else []
        while inline or links:  # a short tweet cannot always hold every special
            if _length(fixed + inline + links) <= hi:
                break
            (links or inline).pop()
        length = _length(fixed + inline + links)
        target = rng.randint(max(lo, length), max(lo, length, hi))
        words = _fill(rng, _VOCAB[lang], length, target, hi)
        for token in inline:
            words.insert(rng.randint(0, len(words)), token)
        return _assemble(fixed + words + links)

    def _specials(self) -> tuple[list[_Token], list[_Token]]:
        """Hashtags, mentions and emoji to scatter in a text, and links to end it with."""
        rng = self.rng
        inline: list[_Token] = []
        for _ in range(bisect(_HASHTAG_COUNTS, rng.random())):
            tag = rng.choice(_HASHTAGS)
            inline.append(("#" + tag, "hashtag", tag))
        for _ in range(bisect(_MENTION_COUNTS, rng.random())):
            user = self._user()
            inline.append(("@" + user.screen_name, "mention", user))
        for _ in range(bisect(_EMOJI_COUNTS, rng.random())):
            emoji = rng.choice(_EMOJI)
            inline.append((emoji * 2 if rng.random() < 0.1 else emoji, None, None))
        links: list[_Token] = []
        if rng.random() < 0.12:
            link = self._link()
            links.append((link.url, "url", link))
        return inline, links

    def _link(self) -> _Link:
        """A t.co link to a made-up page."""
        rng = self.rng
        short = "https://t.co/" + "".join(rng.choices(_ALNUM, k=10))
        path = f"{rng.choice(_DOMAINS)}/{rng.choice(_VOCAB['en'])}/{rng.randint(1, 99999)}"
        display = path if len(path) <= 26 else path[:26] + _ELLIPSIS
        return _Link(short, "https://" + path, display)


def _fill(
    rng: random.Random, vocab: tuple[str, ...], length: int, target: int, hi: int
) -> list[_Token]:
    """Words that take a text of `length` code points to at least `target`, never past `hi`."""
    words: list[_Token] = []
    while length < target:
        # One choices() call per batch costs far less than one choice() per word.
        for word in rng.choices(vocab, k=max(1, (target - length) // 6)):
            if length + 1 + len(word) > hi:
                return words
            words.append((word, None, None))
            length += 1 + len(word)
    return words


def _length(tokens: list[_Token]) -> int:
    """Length of tokens joined by single spaces."""
    return sum(len(text) for text, _, _ in tokens) + max(len(tokens) - 1, 0)


def _assemble(tokens: list[_Token]) -> tuple[str, list[_Span]]:
    """Join tokens with spaces, recording where each entity lands."""
    parts: list[str] = []
    spans: list[_Span] = []
    position = 0
    for text, kind, value in tokens:
        if parts:
            parts.append(" ")
            position += 1
        if kind is not None:
            spans.append(_Span(position, position + len(text), kind, value))
        parts.append(text)
        position += len(text)
    return "".join(parts), spans


def _clip(text: str, spans: list[_Span], limit: int) -> tuple[str, list[_Span]]:
    """Cut text to `limit` code points ending in "…", keeping only entities that still fit."""
    if len(text) <= limit:
        return text, spans
    cut = limit - 1
    return text[:cut] + _ELLIPSIS, [s for s in spans if s.end <= cut]


def _make_users(rng: random.Random, count: int) -> list[_User]:
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


def _make_user(rng: random.Random, name: str, handle: str, taken_ids: set[int]) -> _User:
    """One account with plausible, heavy-tailed counts."""
    created_ms = rng.randint(_USERS_FROM_MS, _USERS_UNTIL_MS) // 1000 * 1000
    user_id = 0
    while user_id == 0 or user_id in taken_ids:
        user_id = _user_id(rng, created_ms)
    taken_ids.add(user_id)
    followers = min(int(rng.paretovariate(1.1) * 40) - 40, 80_000_000)
    image = f"pbs.twimg.com/profile_images/{_user_id(rng, _USERS_UNTIL_MS)}/"
    image += "".join(rng.choices(_ALNUM, k=8)) + "_normal.jpg"
    return _User(
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
        return ((created_ms - _TWEPOCH_MS) << 22) | rng.getrandbits(22)
    share = (created_ms - _USERS_FROM_MS) / (_SNOWFLAKE_USERS_MS - _USERS_FROM_MS)
    return 700_000 + int(share * 4_000_000_000) + rng.randrange(10_000)


def _v1_time(ms: int) -> str:
    """v1.1's "Wed Oct 10 20:19:24 +0000 2018"."""
    return _v1_second(ms // 1000)


def _v2_time(ms: int) -> str:
    """v2's "2026-01-01T00:00:00.000Z"."""
    return f"{_v2_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=1024)  # ~100 lines share each second of the stream
def _v1_second(seconds: int) -> str:
    """Format one UTC second the v1.1 way, spelled out so no locale can change it."""
    t = datetime.fromtimestamp(seconds, UTC)
    day = _DAYS[t.weekday()]
    month = _MONTHS[t.month - 1]
    return f"{day} {month} {t.day:02d} {t:%H:%M:%S} +0000 {t.year}"


@lru_cache(maxsize=1024)
def _v2_second(seconds: int) -> str:
    """Format one UTC second as ISO 8601 without the fraction."""
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"


def _v1_user(user: _User) -> dict[str, Any]:
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
        "created_at": _v1_time(user.created_ms),
        "profile_image_url": user.profile_image_url.replace("https://", "http://", 1),
        "profile_image_url_https": user.profile_image_url,
        "default_profile_image": False,
    }


def _v2_user(user: _User) -> dict[str, Any]:
    """A v2 user object (``user.fields`` all requested)."""
    rendered: dict[str, Any] = {
        "id": str(user.id),
        "name": user.name,
        "username": user.screen_name,
        "created_at": _v2_time(user.created_ms),
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


def _v1_line(tweet: _Tweet) -> bytes:
    """One v1.1 stream line for a tweet."""
    return orjson.dumps(_v1_status(tweet, top=True))


def _v1_delete(tweet: _Tweet, ms: int) -> bytes:
    """A v1.1 status deletion notice."""
    status = {
        "id": tweet.id,
        "id_str": str(tweet.id),
        "user_id": tweet.user.id,
        "user_id_str": str(tweet.user.id),
    }
    return orjson.dumps({"delete": {"status": status, "timestamp_ms": str(ms)}})


def _v1_status(tweet: _Tweet, top: bool) -> dict[str, Any]:
    """A v1.1 status; embedded ones (top=False) carry no timestamp_ms or nested quote."""
    # A retweet's text is already "RT @x: " + a clipped original and stays untruncated.
    long = tweet.retweet_of is None and len(tweet.text) > _V1_LIMIT
    text, spans = _clip(tweet.text, tweet.spans, _V1_LIMIT) if long else (tweet.text, tweet.spans)
    parent = tweet.reply_to
    status: dict[str, Any] = {
        "created_at": _v1_time(tweet.ms),
        "id": tweet.id,
        "id_str": str(tweet.id),
        "text": text,
        "source": tweet.source,
        "truncated": long,
        "in_reply_to_status_id": parent.id if parent else None,
        "in_reply_to_status_id_str": str(parent.id) if parent else None,
        "in_reply_to_user_id": parent.user.id if parent else None,
        "in_reply_to_user_id_str": str(parent.user.id) if parent else None,
        "in_reply_to_screen_name": parent.user.screen_name if parent else None,
        "user": tweet.user.v1,
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
    }
    if tweet.retweet_of is not None:
        status["retweeted_status"] = _v1_status(tweet.retweet_of, top=False)
    quoted = tweet.quote_of
    if quoted is not None:
        status["quoted_status_id"] = quoted.id
        status["quoted_status_id_str"] = str(quoted.id)
        if top:  # like the real stream, a quoted quote names its own quote but does not embed it
            status["quoted_status"] = _v1_status(quoted, top=False)
    status["is_quote_status"] = quoted is not None
    if long:
        status["extended_tweet"] = {
            "full_text": tweet.text,
            "display_text_range": [0, len(tweet.text)],
            "entities": _v1_entities(tweet.spans),
        }
    status["quote_count"] = tweet.quote_count
    status["reply_count"] = tweet.reply_count
    status["retweet_count"] = tweet.retweet_count
    status["favorite_count"] = tweet.favorite_count
    status["entities"] = _v1_entities(spans)
    status["favorited"] = False
    status["retweeted"] = False
    if any(s.kind == "url" for s in spans):
        status["possibly_sensitive"] = False
    status["filter_level"] = "low"
    status["lang"] = tweet.lang
    if top:
        status["timestamp_ms"] = str(tweet.ms)
    return status


def _v1_entities(spans: list[_Span]) -> dict[str, list[dict[str, Any]]]:
    """v1.1 entities, every list present even when empty."""
    entities: dict[str, list[dict[str, Any]]] = {
        "hashtags": [],
        "urls": [],
        "user_mentions": [],
        "symbols": [],
    }
    for span in spans:
        indices = [span.start, span.end]
        if span.kind == "hashtag":
            entities["hashtags"].append({"text": span.value, "indices": indices})
        elif span.kind == "mention":
            user = span.value
            entities["user_mentions"].append(
                {
                    "screen_name": user.screen_name,
                    "name": user.name,
                    "id": user.id,
                    "id_str": str(user.id),
                    "indices": indices,
                }
            )
        else:
            link = span.value
            entities["urls"].append(
                {
                    "url": link.url,
                    "expanded_url": link.expanded_url,
                    "display_url": link.display_url,
                    "indices": indices,
                }
            )
    return entities


def _v2_line(tweet: _Tweet) -> bytes:
    """One v2 filtered-stream line: the tweet, its expansions and the rules it matched."""
    referenced = [t for t in (tweet.retweet_of, tweet.quote_of, tweet.reply_to) if t is not None]
    users = [tweet.user.v2]
    for other in referenced:
        if all(other.user.v2 is not u for u in users):
            users.append(other.user.v2)
    includes: dict[str, Any] = {"users": users}
    if referenced:
        includes["tweets"] = [_v2_tweet(t) for t in referenced]
    # Rules come from the id's random worker bits, not the rng, so v1 and v2 stay in step.
    rules = _RULE_SETS[(tweet.id >> 12) % len(_RULE_SETS)]
    return orjson.dumps({"data": _v2_tweet(tweet), "includes": includes, "matching_rules": rules})


def _v2_delete(tweet: _Tweet, ms: int) -> bytes:
    """A v2 compliance-style delete event."""
    deleted = {"tweet": {"id": str(tweet.id), "author_id": str(tweet.user.id)}}
    return orjson.dumps({"data": {"delete": {**deleted, "event_at": _v2_time(ms)}}})


def _v2_tweet(tweet: _Tweet) -> dict[str, Any]:
    """A v2 tweet object; like the real API it leaves out empty fields."""
    long = tweet.retweet_of is None and len(tweet.text) > _V2_LIMIT
    text, spans = _clip(tweet.text, tweet.spans, _V2_LIMIT) if long else (tweet.text, tweet.spans)
    data: dict[str, Any] = {
        "id": str(tweet.id),
        "text": text,
        "author_id": str(tweet.user.id),
        "created_at": _v2_time(tweet.ms),
        "conversation_id": str(tweet.conversation_id),
        "edit_history_tweet_ids": [str(tweet.id)],
        "lang": tweet.lang,
        "possibly_sensitive": False,
    }
    entities = _v2_entities(spans)
    if entities:
        data["entities"] = entities
    references = _v2_references(tweet)
    if references:
        data["referenced_tweets"] = references
    if tweet.reply_to is not None:
        data["in_reply_to_user_id"] = str(tweet.reply_to.user.id)
    if long:
        note: dict[str, Any] = {"text": tweet.text}
        full_entities = _v2_entities(tweet.spans)
        if full_entities:
            note["entities"] = full_entities
        data["note_tweet"] = note
    data["public_metrics"] = {
        "retweet_count": tweet.retweet_count,
        "reply_count": tweet.reply_count,
        "like_count": tweet.favorite_count,
        "quote_count": tweet.quote_count,
        "bookmark_count": 0,
        "impression_count": 0,
    }
    return data


def _v2_references(tweet: _Tweet) -> list[dict[str, str]]:
    """v2 referenced_tweets for a retweet, quote or reply."""
    references = []
    if tweet.retweet_of is not None:
        references.append({"type": "retweeted", "id": str(tweet.retweet_of.id)})
    if tweet.quote_of is not None:
        references.append({"type": "quoted", "id": str(tweet.quote_of.id)})
    if tweet.reply_to is not None:
        references.append({"type": "replied_to", "id": str(tweet.reply_to.id)})
    return references


def _v2_entities(spans: list[_Span]) -> dict[str, list[dict[str, Any]]]:
    """v2 entities, leaving out empty lists like the real API."""
    entities: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        if span.kind == "hashtag":
            entity = {"start": span.start, "end": span.end, "tag": span.value}
            entities.setdefault("hashtags", []).append(entity)
        elif span.kind == "mention":
            user = span.value
            entity = {
                "start": span.start,
                "end": span.end,
                "username": user.screen_name,
                "id": str(user.id),
            }
            entities.setdefault("mentions", []).append(entity)
        else:
            link = span.value
            entity = {
                "start": span.start,
                "end": span.end,
                "url": link.url,
                "expanded_url": link.expanded_url,
                "display_url": link.display_url,
            }
            entities.setdefault("urls", []).append(entity)
    return entities
