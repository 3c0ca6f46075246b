"""Where the listener hands batches: Celery (via parked Redis batches) or a JSONL file."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson

from pipeline.bus import routes
from pipeline.bus.sender import TaskSender
from pipeline.ingest import parked
from pipeline.ingest.parse.v1 import STUB
from pipeline.stream.batcher import Batch

log = logging.getLogger(__name__)


class EnqueueSink:
    """Parks a batch in Redis and sends one ``tweetfeed.ingest_batch`` task for it (the
    listener's :class:`~pipeline.stream.ledger.HandoffLedger` names the key and keeps the batch
    until it is committed)."""

    def __init__(self, redis: Any, sender: TaskSender, source: str) -> None:
        self.redis = redis
        self.sender = sender
        self.source = source

    def hand_on(self, batch: Batch, key: str) -> None:
        """Park ``batch`` under ``key`` and queue its task."""
        parked.park(self.redis, batch.lines, key)
        try:
            self.queue(batch, key)
        except BaseException:
            _forget(self.redis, key)  # gone, the ledger would take it for committed: raise
            raise

    def queue(self, batch: Batch, key: str) -> None:
        """Queue the task of ``batch``, parked under ``key`` already."""
        payload: dict[str, Any] = {
            "batch": key,
            "source": self.source,
            "received_at": batch.received_at,
        }
        if batch.truncated:
            payload["truncated"] = batch.truncated
        self.sender.send(routes.INGEST_BATCH, payload)

    def restarted(self) -> None:
        """A broker that restarted without its data forgot the queues' bindings too (kombu's
        Redis transport keeps them as keys), and kombu remembers having declared them: a new
        connection declares them again, so a send never goes where no worker looks."""
        self.sender.close()


def _forget(redis: Any, key: str) -> None:
    """Drop a parked batch whose task could not be sent (it is handed on again later)."""
    try:
        redis.delete(key)
    except Exception as exc:  # the send failed; this is only tidying up after it
        log.warning("could not drop parked batch %s: %s", key, exc)


def split_embedded(line: bytes, capture: bool) -> list[bytes]:
    """The ``--to-file`` rewrite of one line, as the original app did it.

    Embedded tweets (v1 ``retweeted_status``/``quoted_status``, v2 ``includes.tweets``) are
    taken out of the message; when capturing they go onto lines of their own, before the line
    that embedded them. A retweet keeps a stub of its original (ids, author, full text,
    entities, marked ``tweetfeed_stub``) because its own text is cut at 140 characters and
    its link would otherwise be lost. Lines that are not JSON objects are written unchanged:
    the worker that reads the file back dead-letters them with the reason.
    """
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return [line]
    if not isinstance(message, dict):
        return [line]
    out: list[bytes] = []
    if isinstance(message.get("data"), dict):
        _split_v2(message, capture, out)
    elif any(k in message for k in ("retweeted_status", "quoted_status")):
        _split_v1(message, capture, out)
    else:
        return [line]
    out.append(orjson.dumps(message))
    return out


def _split_v1(tweet: dict[str, Any], capture: bool, out: list[bytes]) -> None:
    for key in ("retweeted_status", "quoted_status"):
        inner = tweet.pop(key, None)
        if not isinstance(inner, dict) or inner.get(STUB):
            continue
        tweet.setdefault(f"{key}_id_str", str(inner.get("id_str") or inner.get("id")))
        _split_v1(inner, capture, out)
        if capture:
            out.append(orjson.dumps(inner))
        if key == "retweeted_status":
            extended = inner.get("extended_tweet") or {}
            tweet[key] = {
                STUB: True,
                "id_str": tweet[f"{key}_id_str"],
                "user": {k: inner["user"][k] for k in ("id_str", "screen_name")},
                "full_text": extended.get("full_text") or inner.get("full_text") or inner["text"],
                "entities": extended.get("entities") or inner.get("entities") or {},
            }


def _split_v2(message: dict[str, Any], capture: bool, out: list[bytes]) -> None:
    includes = message.get("includes") or {}
    included = includes.pop("tweets", None) or []
    users = {u.get("id"): u for u in includes.get("users", [])}
    retweeted = {
        r["id"] for r in message["data"].get("referenced_tweets", ()) if r["type"] == "retweeted"
    }
    stubs = []
    for tweet in included:
        if tweet.get(STUB):
            continue
        author = users.get(tweet.get("author_id"))
        if capture:
            authors = [author] if author else []
            out.append(orjson.dumps({"data": tweet, "includes": {"users": authors}}))
        if tweet.get("id") in retweeted:
            kept = ("id", "author_id", "text", "note_tweet", "entities")
            stubs.append({STUB: True, **{k: tweet[k] for k in kept if k in tweet}})
    if stubs:
        includes["tweets"] = stubs


class FileSink:
    """Appends raw JSON lines to a file, synced to disk after every batch."""

    def __init__(self, path: str, capture: bool) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.file = Path(path).open("ab")  # noqa: SIM115 - open for the listener's lifetime
        self.rejected_path = Path(path + ".rejected")
        self.capture = capture

    def __call__(self, batch: Batch) -> None:
        cut = {index for index, _ in batch.truncated}
        lines = []
        for index, line in enumerate(batch.lines):
            if index in cut:
                self._reject(line)
                continue
            lines.extend(split_embedded(line, self.capture))
        self.file.write(b"".join(line + b"\n" for line in lines))
        self.file.flush()
        os.fsync(self.file.fileno())

    def _reject(self, sample: bytes) -> None:
        # An oversize line would be dead-lettered on replay anyway; keep its sample beside the
        # file rather than in it, so the file stays a valid stream.
        log.warning("oversize line: its first bytes go to %s", self.rejected_path)
        with self.rejected_path.open("ab") as rejected:
            rejected.write(sample + b"\n")

    def close(self) -> None:
        self.file.close()
