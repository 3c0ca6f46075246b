"""The X API's reconnect rules, as one small state machine.

Network errors back off linearly (+250 ms, at most 16 s), HTTP errors exponentially (5 s doubling
to 320 s), 429 from 60 s doubling; and no more than 5 connection attempts in any 5 minutes.
``scale`` shrinks every wait and the window together, for tests.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

NETWORK_STEP, NETWORK_MAX = 0.25, 16.0
HTTP_START, HTTP_MAX = 5.0, 320.0
RATE_LIMITED_START = 60.0
ATTEMPTS, WINDOW = 5, 300.0


class Backoff:
    def __init__(self, scale: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.scale = scale
        self.clock = clock
        self.wait = 0.0
        self._network = 0.0
        self._http = 0.0
        self._attempts: deque[float] = deque(maxlen=ATTEMPTS)

    def connected(self) -> None:
        """A 200: the next failure starts its schedule from the beginning."""
        self._network = self._http = self.wait = 0.0

    def network_error(self) -> float:
        self._network = min(self._network + NETWORK_STEP, NETWORK_MAX)
        self.wait = self._network * self.scale
        return self.wait

    def http_error(self, status: int) -> float:
        if status in (420, 429):
            self._http = max(self._http * 2, RATE_LIMITED_START)
        else:
            self._http = HTTP_START if self._http == 0 else self._http * 2
        self._http = min(self._http, HTTP_MAX)
        self.wait = self._http * self.scale
        return self.wait

    def delay_before_attempt(self) -> float:
        """Seconds to wait before the next attempt: the backoff, or the 5-in-5-minutes rule."""
        window_wait = 0.0
        if len(self._attempts) == ATTEMPTS:
            window_wait = self._attempts[0] + WINDOW * self.scale - self.clock()
        return max(self.wait, window_wait, 0.0)

    def attempt(self) -> None:
        self._attempts.append(self.clock())
