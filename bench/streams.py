"""The synthetic input of the ingest and read benchmarks, and what storing it must leave."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

from bench.harness import WORK
from pipeline.fakes import synth


@dataclass(frozen=True)
class Stream:
    """A synthetic file and what storing it must leave behind."""

    path: Path
    lines: int  # non-empty lines
    tweets: frozenset[int]  # distinct status ids
    deleted: frozenset[int]  # ids a delete notice names
    authors: frozenset[int]

    @property
    def average(self) -> float:
        return self.path.stat().st_size / self.lines


@cache
def stream(size: int) -> Stream:
    """The synthetic file of ``size`` lines (written once, under ``var/bench/``), read back."""
    path = WORK / f"stream-{size}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        synth.write(partial, size, "v1", seed=7)
        partial.rename(path)
    lines, tweets, deleted, authors = 0, set(), set(), set()
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        lines += 1
        message = orjson.loads(line)
        if "delete" in message:
            deleted.add(int(message["delete"]["status"]["id"]))
        elif "id" in message and "text" in message:
            tweets.add(int(message["id"]))
            authors.add(int(message["user"]["id"]))
    return Stream(path, lines, frozenset(tweets), frozenset(deleted), frozenset(authors))
