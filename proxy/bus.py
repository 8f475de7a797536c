"""The event bus: synchronous, non-blocking publish to callbacks and bounded queues.

The proxy's hot path calls `publish()` and never awaits a subscriber. Callback subscribers must be
cheap and non-blocking (statistics, the JSONL writer's buffer). Queue subscribers (the dashboard
bridge, the headless printer) get a bounded `asyncio.Queue`; when one is full the event is dropped
for that subscriber and counted, and front ends show the count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .events import Event

log = logging.getLogger(__name__)


class QueueSubscription:
    def __init__(self, bus: EventBus, maxsize: int, types: tuple[type, ...] | None = None) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.types = types  # only these event types are queued (None = all)
        self._bus = bus

    def close(self) -> None:
        self._bus._queues = [q for q in self._bus._queues if q is not self]

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[Event], None]] = []
        self._queues: list[QueueSubscription] = []

    @property
    def dropped(self) -> int:
        return sum(q.dropped for q in self._queues)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Register a non-blocking callback; returns a function that unsubscribes it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def subscribe_queue(self, maxsize: int = 10_000, types: tuple[type, ...] | None = None) -> QueueSubscription:
        """A bounded queue of events; with `types`, only those are queued, so a consumer is not woken
        for events it would discard."""
        sub = QueueSubscription(self, maxsize, types)
        self._queues.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        for cb in self._callbacks:
            try:
                cb(event)
            except Exception:  # a broken subscriber must never break a request
                log.exception("event subscriber failed")
        for sub in self._queues:
            if sub.types is not None and not isinstance(event, sub.types):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1
