"""Tweet texts for the synthetic stream: word lists in five languages, and the composing of a
text of a given length around hashtags, mentions, 4-byte emoji and t.co links.
"""

from __future__ import annotations

import random
from bisect import bisect
from typing import Any

from pipeline.fakes.people import ALNUM, User
from pipeline.fakes.tweets import ELLIPSIS, Link, Span

__all__ = ["Composer", "Token"]

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

# A piece of text, what kind of entity it is (None for plain words) and the entity's value.
Token = tuple[str, str | None, Any]


class Composer:
    """Picks authors, languages, sources and texts for one stream, all from its rng."""

    def __init__(self, rng: random.Random, users: list[User]) -> None:
        self.rng = rng
        self.users = users

    def user(self) -> User:
        """Any account of the pool."""
        return self.rng.choice(self.users)

    def lang(self) -> str:
        """A tweet language, mostly English."""
        return _LANGS[bisect(_LANG_ODDS, self.rng.random())]

    def source(self) -> str:
        """The app a tweet was posted from, as v1.1's HTML link."""
        return _SOURCES[bisect(_SOURCE_ODDS, self.rng.random())]

    def text(
        self, lang: str, lo: int, hi: int, lead: Token | None = None
    ) -> tuple[str, list[Span]]:
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

    def _specials(self) -> tuple[list[Token], list[Token]]:
        """Hashtags, mentions and emoji to scatter in a text, and links to end it with."""
        rng = self.rng
        inline: list[Token] = []
        for _ in range(bisect(_HASHTAG_COUNTS, rng.random())):
            tag = rng.choice(_HASHTAGS)
            inline.append(("#" + tag, "hashtag", tag))
        for _ in range(bisect(_MENTION_COUNTS, rng.random())):
            user = self.user()
            inline.append(("@" + user.screen_name, "mention", user))
        for _ in range(bisect(_EMOJI_COUNTS, rng.random())):
            emoji = rng.choice(_EMOJI)
            inline.append((emoji * 2 if rng.random() < 0.1 else emoji, None, None))
        links: list[Token] = []
        if rng.random() < 0.12:
            link = self._link()
            links.append((link.url, "url", link))
        return inline, links

    def _link(self) -> Link:
        """A t.co link to a made-up page."""
        rng = self.rng
        short = "https://t.co/" + "".join(rng.choices(ALNUM, k=10))
        path = f"{rng.choice(_DOMAINS)}/{rng.choice(_VOCAB['en'])}/{rng.randint(1, 99999)}"
        display = path if len(path) <= 26 else path[:26] + ELLIPSIS
        return Link(short, "https://" + path, display)


def _fill(
    rng: random.Random, vocab: tuple[str, ...], length: int, target: int, hi: int
) -> list[Token]:
    """Words that take a text of `length` code points to at least `target`, never past `hi`."""
    words: list[Token] = []
    while length < target:
        # One choices() call per batch costs far less than one choice() per word.
        for word in rng.choices(vocab, k=max(1, (target - length) // 6)):
            if length + 1 + len(word) > hi:
                return words
            words.append((word, None, None))
            length += 1 + len(word)
    return words


def _length(tokens: list[Token]) -> int:
    """Length of tokens joined by single spaces."""
    return sum(len(text) for text, _, _ in tokens) + max(len(tokens) - 1, 0)


def _assemble(tokens: list[Token]) -> tuple[str, list[Span]]:
    """Join tokens with spaces, recording where each entity lands."""
    parts: list[str] = []
    spans: list[Span] = []
    position = 0
    for text, kind, value in tokens:
        if parts:
            parts.append(" ")
            position += 1
        if kind is not None:
            spans.append(Span(position, position + len(text), kind, value))
        parts.append(text)
        position += len(text)
    return "".join(parts), spans
