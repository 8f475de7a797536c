"""The event bus: synchronous, non-blocking publish to callbacks and bounded queues.

The proxy's hot path calls `publish()` and never awaits a subscriber. Callback subscribers (statistics,
the JSONL writer, the headless printer, the dashboard's buffer) must be cheap and non-blocking, and name
the event types they take, so the request path can skip building events nobody reads (`wants()`).
Queue subscribers get a bounded `asyncio.Queue`; when one is full the event is dropped for that
subscriber and counted, and front ends show the count.
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
        self._bus._wanted.clear()

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus:
    def __init__(self) -> None:
        self._callbacks: list[tuple[Callable[[Event], None], tuple[type, ...] | None]] = []
        self._queues: list[QueueSubscription] = []
        self._wanted: dict[type, bool] = {}  # wants() answers, reset when subscriptions change

    @property
    def dropped(self) -> int:
        return sum(q.dropped for q in self._queues)

    def subscribe(
        self, callback: Callable[[Event], None], types: tuple[type, ...] | None = None
    ) -> Callable[[], None]:
        """Register a non-blocking callback, for `types` only (None = every event); returns a function
        that unsubscribes it."""
        entry = (callback, types)
        self._callbacks.append(entry)
        self._wanted.clear()

        def unsubscribe() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._wanted.clear()

        return unsubscribe

    def subscribe_queue(self, maxsize: int = 10_000, types: tuple[type, ...] | None = None) -> QueueSubscription:
        """A bounded queue of events; with `types`, only those are queued, so a consumer is not woken
        for events it would discard."""
        sub = QueueSubscription(self, maxsize, types)
        self._queues.append(sub)
        self._wanted.clear()
        return sub

    def wants(self, event_type: type) -> bool:
        """Whether any subscriber takes `event_type`. The request path asks before building a lifecycle
        event (started, resolved, first token) that, with the usual subscribers, nobody reads."""
        wanted = self._wanted.get(event_type)
        if wanted is None:
            subs = [types for _, types in self._callbacks] + [q.types for q in self._queues]
            wanted = self._wanted[event_type] = any(t is None or issubclass(event_type, t) for t in subs)
        return wanted

    def publish(self, event: Event) -> None:
        for cb, types in self._callbacks:
            if types is not None and not isinstance(event, types):
                continue
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
