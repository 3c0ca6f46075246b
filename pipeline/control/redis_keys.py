"""Every Redis key the control side uses: worker presence, listener counters and rates, and the
channel that tells listeners the filter terms changed."""

from __future__ import annotations

WORKER = "tweetfeed:worker:{hostname}"
RATE = "tweetfeed:rate:{minute}"
LISTENER = "tweetfeed:listener:{keys}"
CONTROL_CHANNEL = "tweetfeed:control"
TERMS_FINGERPRINT = "tweetfeed:terms:fingerprint"


def worker(hostname: str) -> str:
    return WORKER.format(hostname=hostname)


def rate(minute: int) -> str:
    """Tweets counted in one minute (a hash: ``total`` and one field per term)."""
    return RATE.format(minute=minute)


def listener(keys_name: str) -> str:
    return LISTENER.format(keys=keys_name)


def term_field(term_id: int | str) -> str:
    """The field of a :func:`rate` hash that counts one filter term's tweets."""
    return f"term:{term_id}"
