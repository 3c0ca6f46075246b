from __future__ import annotations

import pytest

from pipeline.stream.backoff import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_network_errors_back_off_linearly_by_a_quarter_second_up_to_16_s() -> None:
    backoff = Backoff()
    waits = [backoff.network_error() for _ in range(70)]
    assert waits[:3] == [0.25, 0.5, 0.75]
    assert max(waits) == waits[-1] == 16.0


def test_http_errors_back_off_from_5_s_doubling_up_to_320_s() -> None:
    backoff = Backoff()
    assert [backoff.http_error(503) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]


def test_a_429_waits_at_least_a_minute_and_doubles() -> None:
    backoff = Backoff()
    assert [backoff.http_error(429) for _ in range(3)] == [60, 120, 240]


def test_a_successful_connection_resets_the_schedule() -> None:
    backoff = Backoff()
    backoff.http_error(503)
    backoff.http_error(503)
    backoff.connected()
    assert backoff.delay_before_attempt() == 0
    assert backoff.http_error(503) == 5


def test_no_more_than_five_attempts_in_five_minutes() -> None:
    clock = Clock()
    backoff = Backoff(clock=clock)
    for _ in range(5):
        assert backoff.delay_before_attempt() == 0
        backoff.attempt()
        clock.now += 10
    assert backoff.delay_before_attempt() == pytest.approx(300 - 50)
    clock.now += 250
    assert backoff.delay_before_attempt() == 0


def test_scale_shrinks_every_wait_and_the_window_alike() -> None:
    clock = Clock()
    backoff = Backoff(scale=0.01, clock=clock)
    assert backoff.http_error(429) == pytest.approx(0.6)
    backoff.connected()
    for _ in range(5):
        backoff.attempt()
    assert backoff.delay_before_attempt() == pytest.approx(3.0)
