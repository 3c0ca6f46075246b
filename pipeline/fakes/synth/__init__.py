"""Deterministic synthetic X/Twitter stream lines for the demo, the tests and the benchmarks.

Same seed, same bytes: every random choice comes from one ``random.Random(seed)`` and every
timestamp counts up from a fixed epoch, never from the wall clock. The mix (replies, retweets,
quotes, long tweets, deletes, byte-identical re-deliveries, 4-byte emoji, non-Latin hashtags)
is there to exercise the awkward paths of a real stream parser.

Tweets are built once as format-free records (``stream``, ``text``) and then rendered as v1.1
(``statuses``) or v2 (``pipeline.fakes.v2_json``) JSON, so the two formats describe the same
tweets for a given seed; ``lines`` yields them and ``output`` writes them.
"""

from pipeline.fakes.synth.lines import generate
from pipeline.fakes.synth.output import write

__all__ = ["generate", "write"]
