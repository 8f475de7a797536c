"""Core events → the dashboard, in batches the app takes on its own clock.

The bridge is a synchronous callback on the proxy's `EventBus`: the proxy's request task hands it each
event and goes on. The callback keeps only the events the dashboard shows and appends them to a pending
list, bounded: past `capacity` it drops and counts, and it never blocks the proxy.

The app takes the list on its tick (`DashboardApp.tick`, 4×/s), so every repaint happens in the tick's
frame and the screen is redrawn at most 4 times a second however busy the proxy is. `log_pause()` spaces
the requests pane's updates by batch size: with a few requests per second every tick takes them (rows
appear within 0.25 s); at 50 req/s every other tick; from about 100 req/s on, when rows scroll by faster
than anyone reads, every two seconds. A repaint of that pane is a large part of what the dashboard costs
(every new visible row is a fresh line through Textual's compositor), so its cost is bounded by screen
size × one frame every two seconds, not by traffic (bench/RESULTS.md). Notices (alias changes, reloads,
cooling providers) do not wait for the pause.

Bodies are what makes a record heavy (Codex requests are 40–70 KB). The store keeps them for its newest
`keep_bodies` rows only, so the bridge applies the same rule as events arrive: a pending request event
older than the newest `keep_bodies` loses its bodies at once, not a second later when its batch is
ingested.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from proxy.events import (
    NOTICES,
    TERMINAL,
    Event,
    without_bodies,
)

from .store import KEEP_BODIES, has_bodies

SHOWN = (*TERMINAL, *NOTICES)
PAUSE_PER_EVENT = 0.02  # seconds between requests-pane updates per event in the last batch …
MAX_PAUSE = 2.0  # … up to this (top refreshes every 3 s, htop every 1.5 s)


@dataclass(slots=True)
class Batch:
    """Core events, oldest first, and the ids of the requests whose bodies the bridge dropped on the
    way (the detail view says why they are missing)."""

    events: list[Event]
    stripped: frozenset[str] = field(default_factory=frozenset)


class EventSource(Protocol):
    """Where events come from: a `FrontEndLink` (proxy.frontend), or an `EventBus` in tests."""

    def subscribe(self, callback: Callable[[Event], None], types: tuple[type, ...]) -> Callable[[], None]: ...


def log_pause(batch_size: int) -> float:
    """How long the requests pane waits before taking the next batch, after one of `batch_size`."""
    return min(MAX_PAUSE, batch_size * PAUSE_PER_EVENT)


class EventBridge:
    def __init__(self, source: EventSource, *, capacity: int = 20_000, keep_bodies: int = KEEP_BODIES) -> None:
        self.capacity = capacity
        self.keep_bodies = keep_bodies
        self.batches = 0  # taken so far
        self.dropped = 0
        self.urgent = False  # a notice is pending: take it without waiting for the pause
        self._pending: list[Event] = []
        self._bodied: deque[int] = deque()  # indexes in _pending of request events that still carry bodies
        self._stripped: set[str] = set()  # request ids whose bodies were dropped while pending
        # Subscribe at construction: no event published after the app exists is missed.
        self._unsubscribe = source.subscribe(self._on_event, SHOWN)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _on_event(self, event: Event) -> None:
        """Called by the bus (for SHOWN events only) inside the proxy's request path: O(1), never
        blocks, never raises."""
        pending = self._pending
        if len(pending) >= self.capacity:
            self.dropped += 1
            return
        if isinstance(event, TERMINAL):
            if has_bodies(event.record):
                self._bodied.append(len(pending))
                if len(self._bodied) > self.keep_bodies:
                    i = self._bodied.popleft()
                    old = pending[i]
                    assert isinstance(old, TERMINAL)  # _bodied indexes terminal events only
                    pending[i] = type(old)(without_bodies(old.record))
                    self._stripped.add(old.record.request_id)
        else:
            self.urgent = True
        pending.append(event)

    def take(self) -> Batch:
        """Everything pending (and an empty buffer)."""
        batch = Batch(self._pending, frozenset(self._stripped))
        self._pending = []
        self._bodied.clear()
        self._stripped.clear()
        self.urgent = False
        self.batches += 1
        return batch

    def close(self) -> None:
        self._unsubscribe()
