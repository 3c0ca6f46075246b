"""The fake X API's filtered-stream rules: checking rules requests, adding, listing and deleting
rules, and the bodies (``data``, ``meta``, ``errors``) the rules endpoint answers with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.fakes.xapi.protocol import now_iso

__all__ = ["Rule", "RuleBook", "parse_rules_request"]

_RULE_ID_BASE = 1_950_000_000_000_000_000  # any 19-digit number will do; rule ids count up


@dataclass(slots=True)
class Rule:
    """One filtered-stream rule; its value is matched as a plain case-insensitive keyword."""

    id: str
    value: str
    tag: str | None

    def as_api(self) -> dict[str, str]:
        """The rule as the API returns it: no ``tag`` key when it has none."""
        body = {"id": self.id, "value": self.value}
        if self.tag is not None:
            body["tag"] = self.tag
        return body


class RuleBook:
    """The current rules and the answers of the rules endpoint; callers hold the fake's lock."""

    def __init__(self, seed: int) -> None:
        self._rules: dict[str, Rule] = {}
        self._next_id = _RULE_ID_BASE + random.Random(seed).randrange(10**15)

    def all(self) -> list[Rule]:
        """The current rules, oldest first."""
        return list(self._rules.values())

    def listing(self, ids: list[str] | None) -> dict[str, Any]:
        """The body of GET /2/tweets/search/stream/rules."""
        rules = [r for r in self._rules.values() if ids is None or r.id in ids]
        body: dict[str, Any] = {}
        if rules:
            body["data"] = [r.as_api() for r in rules]
        body["meta"] = {"sent": now_iso(), "result_count": len(rules)}
        return body

    def add(self, items: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        """Create rules whose value is new; a repeated value is a DuplicateRule, as on X."""
        created: list[Rule] = []
        errors: list[dict[str, Any]] = []
        known = {r.value: r for r in self._rules.values()}
        for item in items:
            if item["value"] in known:
                errors.append(_duplicate(known[item["value"]]))
                continue
            rule = Rule(str(self._next_id), item["value"], item.get("tag"))
            self._next_id += 1
            known[rule.value] = rule
            created.append(rule)
        if not dry_run:
            self._rules.update((r.id, r) for r in created)
        return _add_response(created, errors)

    def delete(self, ids: list[str], values: list[str], dry_run: bool) -> dict[str, Any]:
        """Delete rules by id or value; ones that do not exist are counted as not deleted."""
        by_value = {r.value: r.id for r in self._rules.values()}
        wanted = [*ids, *(by_value.get(v, v) for v in values)]
        found = [i for i in dict.fromkeys(wanted) if i in self._rules]
        if not dry_run:
            for rule_id in found:
                del self._rules[rule_id]
        missing = [i for i in dict.fromkeys(wanted) if i not in found]
        body: dict[str, Any] = {
            "meta": {
                "sent": now_iso(),
                "summary": {"deleted": len(found), "not_deleted": len(missing)},
            }
        }
        if missing:
            body["errors"] = [_rule_not_found(i) for i in missing]
        return body


def parse_rules_request(raw: bytes) -> dict[str, Any]:
    """Check a rules POST body; raises ValueError with the reason when it is malformed."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or len(body.keys() & {"add", "delete"}) != 1:
        raise ValueError("the body must hold exactly one of 'add' or 'delete'")
    if "add" in body:
        _check_add(body["add"])
    else:
        _check_delete(body["delete"])
    return body


def _check_add(items: Any) -> None:
    """Each rule to add needs a non-empty string value and, optionally, a string tag."""
    if not isinstance(items, list):
        raise ValueError("'add' must be a list of rules")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise ValueError(f"each rule needs a string 'value': {item!r}")
        if not item["value"].strip():
            raise ValueError("a rule's 'value' must not be empty")
        if not isinstance(item.get("tag", ""), str | None):
            raise ValueError(f"a rule's 'tag' must be a string: {item!r}")


def _check_delete(delete: Any) -> None:
    """A delete names rules by ``ids`` or ``values``, lists of strings."""
    if not isinstance(delete, dict) or not delete.keys() & {"ids", "values"}:
        raise ValueError("'delete' must hold 'ids' or 'values'")
    for key in ("ids", "values"):
        names = delete.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"'delete.{key}' must be a list of strings")


def _duplicate(existing: Rule) -> dict[str, Any]:
    """The error the X API gives for a rule value that already exists."""
    return {
        "value": existing.value,
        "id": existing.id,
        "title": "DuplicateRule",
        "type": "https://api.twitter.com/2/problems/duplicate-rules",
    }


def _rule_not_found(rule_id: str) -> dict[str, Any]:
    """The error for deleting a rule that does not exist."""
    return {
        "value": rule_id,
        "title": "RuleNotFound",
        "detail": "Rule does not exist",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _add_response(created: list[Rule], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a rules ``add`` request."""
    body: dict[str, Any] = {}
    if created:
        body["data"] = [r.as_api() for r in created]
    summary = {
        "created": len(created),
        "not_created": len(errors),
        "valid": len(created),
        "invalid": len(errors),
    }
    body["meta"] = {"sent": now_iso(), "summary": summary}
    if errors:
        body["errors"] = errors
    return body
