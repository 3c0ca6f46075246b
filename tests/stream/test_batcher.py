from __future__ import annotations

import pytest

from pipeline.stream.batcher import Batch, Batcher
from tests.helpers import wait_until


def test_a_full_batch_is_handed_on_at_once() -> None:
    got: list[Batch] = []
    batcher = Batcher(got.append, size=3, wait=60)
    for line in (b"a", b"b", b"c", b"d"):
        batcher.add(line)
    assert [b.lines for b in got] == [[b"a", b"b", b"c"]]
    batcher.close()
    assert [b.lines for b in got] == [[b"a", b"b", b"c"], [b"d"]]
    assert batcher.handed_on == 4


def test_a_partial_batch_is_handed_on_when_its_time_is_up() -> None:
    got: list[Batch] = []
    batcher = Batcher(got.append, size=1000, wait=0.05)
    batcher.add(b"lonely")
    wait_until(lambda: got, 5, "the timer to flush")
    assert got[0].lines == [b"lonely"] and got[0].received_at > 0
    batcher.close()


def test_truncated_lines_are_marked_with_their_index_and_length() -> None:
    got: list[Batch] = []
    batcher = Batcher(got.append, size=10, wait=60)
    batcher.add(b"fine")
    batcher.add(b"sample", full_length=9_000_000)
    batcher.close()
    assert got[0].truncated == [[1, 9_000_000]]


def test_a_failing_sink_is_reported_and_its_lines_are_not_counted() -> None:
    def broken(batch: Batch) -> None:
        raise ConnectionError("broker down")

    batcher = Batcher(broken, size=2, wait=60)
    batcher.add(b"a")
    with pytest.raises(ConnectionError):
        batcher.add(b"b")
    with pytest.raises(RuntimeError, match="could not be handed on"):
        batcher.add(b"c")
    assert batcher.handed_on == 0
