"""A bounded-queue subscriber for tests: a slow reader whose overflow it reports to the bus.

The product's subscribers are callbacks that never shed; this one stands for a front end that cannot
keep up, so tests can check that the bus never waits on it and that `EventBus.dropped` shows the loss.
"""

from __future__ import annotations

import asyncio

from proxy.bus import EventBus
from proxy.events import Event


class QueueSubscriber:
    def __init__(self, bus: EventBus, maxsize: int, types: tuple[type, ...] | None = None) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._bus = bus
        self.close = bus.subscribe(self._put, types) if types is not None else bus.subscribe(self._put)

    def _put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self._bus.dropped += 1

    async def get(self) -> Event:
        return await self.queue.get()
