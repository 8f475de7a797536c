"""Core events → Textual messages, coalesced so a traffic burst costs the UI one message per tick.

The bridge is a queue subscriber on the proxy's `EventBus` (the proxy never waits for it; when the queue
is full the bus drops and counts). It runs as a task in the app's own loop, takes everything waiting,
keeps only the events the dashboard shows, and posts one `ProxyEvents` message — then sleeps
`interval` so at most 1/interval messages per second reach the UI however busy the proxy is.
`post_message` (never `call_from_thread`: we are on the app's thread) is a plain `put_nowait`.

The pause grows with the batch size (up to `max_interval`): at a few requests per second rows appear
within 0.1 s (≈ 9 batches/s at 20 req/s, 5/s at 100 req/s); at 200 req/s and more — when rows scroll by
faster than anyone reads — the requests pane repaints twice a second, so the UI's cost is bounded by
screen size × frame rate, not by traffic (bench/results_ui.md).
"""

from __future__ import annotations

import asyncio

from textual.message import Message
from textual.message_pump import MessagePump

from proxy.bus import EventBus
from proxy.events import AliasChanged, ConfigReloaded, Event, ProviderCooling, RequestFailed, RequestFinished

SHOWN = (RequestFinished, RequestFailed, AliasChanged, ConfigReloaded, ProviderCooling)


class ProxyEvents(Message):
    """A batch of core events, oldest first."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class EventBridge:
    def __init__(self, bus: EventBus, target: MessagePump, *, interval: float = 0.1, max_interval: float = 1.0,
                 queue_size: int = 20_000, max_batch: int = 5_000) -> None:
        self.bus = bus
        self.target = target
        self.interval = interval
        self.max_interval = max_interval
        self.max_batch = max_batch
        # Subscribe at construction, not when the task first runs: no event published after the app
        # exists is missed.
        self.subscription = bus.subscribe_queue(queue_size, SHOWN)
        self.posted = 0

    @property
    def dropped(self) -> int:
        return self.subscription.dropped

    async def run(self) -> None:
        queue = self.subscription.queue
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < self.max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                shown = [e for e in batch if isinstance(e, SHOWN)]
                if shown:
                    self.target.post_message(ProxyEvents(shown))
                    self.posted += 1
                    # Let the next burst accumulate: longer when this one was big.
                    await asyncio.sleep(min(self.max_interval, self.interval + len(shown) / 200))
        finally:
            self.subscription.close()

    def close(self) -> None:
        self.subscription.close()
