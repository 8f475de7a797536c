"""Which requests keep their details (redacted headers, request and response bodies) on their record.

Only a detail view reads them — the dashboard's, for its newest rows. Keeping them is not free: a
record that carries a dozen header tuples and three body buffers keeps all of that alive until the
dashboard drops it. A proxy that merely buffered and stored records the way the dashboard does lost
4.8 % of its throughput with them and 2.1 % without (at half a core, bench/RESULTS.md). So the front end
says how many it can use:

- `ProxyState.details is None`: no request keeps details (`planoai tui --no-ui`: nothing shows them);
- a `DetailBudget`: a token bucket. At a coding agent's pace (a few requests a second) every request
  keeps them; under a sustained flood, `rate` requests a second do, which is still more than the
  dashboard's newest-rows window holds.

A failed request keeps its details whatever the budget: that is the one someone opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class DetailBudget:
    """`take()` is True for the requests that keep their details: all of them while the rate stays
    under `rate` per second (after a burst of `burst`); `rate=None` means every request."""

    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(self, rate: float | None = None, burst: float = 50.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        if self.rate is None:
            return True
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
