"""Keep the stream's rules equal to the enabled filter terms, in place (tag = term id)."""

from __future__ import annotations

from typing import Any

import tweepy

from pipeline.control.terms import Term


def sync(client: Any, terms: list[Term]) -> tuple[int, int]:
    """Add the rules that are missing and delete the ones that are gone; return the counts."""
    current = client.get_rules().data or []
    wanted = {str(t.id): t.term for t in terms}
    stale = [r.id for r in current if wanted.get(r.tag) != r.value]
    kept = {r.tag for r in current if r.id not in stale}
    missing = [tweepy.StreamRule(value=v, tag=k) for k, v in wanted.items() if k not in kept]
    if stale:
        client.delete_rules(stale)
    if missing:
        client.add_rules(missing)
    return len(missing), len(stale)
