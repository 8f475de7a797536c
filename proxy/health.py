"""Provider cooldown: skip a provider that keeps failing, so no request waits on it needlessly.

A provider that failed `threshold` times in a row (connect errors, timeouts, 429, 5xx) is cooled for
`base_s` seconds, doubling each time it is cooled again, up to `cap_s`; a 429's `retry-after` sets
the cooldown directly. Success resets it. The handler still tries a cooled provider when it is the
last candidate. Cooling is published as `ProviderCooling` for the dashboard and the headless log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .bus import EventBus
from .events import ProviderCooling


@dataclass
class _State:
    failures: int = 0
    until: float = 0.0
    next_s: float = 0.0


class ProviderHealth:
    def __init__(self, bus: EventBus, threshold: int = 3, base_s: float = 30.0, cap_s: float = 300.0) -> None:
        self.bus = bus
        self.threshold = threshold
        self.base_s = base_s
        self.cap_s = cap_s
        self._s: dict[str, _State] = {}

    def cooling_until(self, provider: str) -> float | None:
        s = self._s.get(provider)
        if s is None or s.until <= time.time():
            return None
        return s.until

    def snapshot(self) -> dict[str, float]:
        now = time.time()
        return {name: s.until for name, s in self._s.items() if s.until > now}

    def success(self, provider: str) -> None:
        s = self._s.get(provider)
        if s is not None and (s.failures or s.next_s):
            s.failures, s.next_s, s.until = 0, 0.0, 0.0

    def failure(self, provider: str, reason: str, retry_after_s: float | None = None) -> None:
        s = self._s.setdefault(provider, _State())
        s.failures += 1
        if retry_after_s is not None and retry_after_s > 0:
            self._cool(provider, s, min(retry_after_s, self.cap_s), reason)
        elif s.failures >= self.threshold:
            s.next_s = min(self.cap_s, s.next_s * 2 if s.next_s else self.base_s)
            self._cool(provider, s, s.next_s, reason)
            s.failures = 0

    def adopt(self, provider: str, until: float, reason: str) -> None:
        """A cooldown another replica decided (proxy.shared_state): honoured here too, announced, not re-shared."""
        s = self._s.setdefault(provider, _State())
        if until > s.until:
            s.until = until
            self.bus.publish(ProviderCooling(provider, until, reason))

    def _cool(self, provider: str, s: _State, seconds: float, reason: str) -> None:
        s.until = time.time() + seconds
        self.bus.publish(ProviderCooling(provider, s.until, reason))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
