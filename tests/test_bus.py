"""The event bus: never blocks the publisher, filters per subscriber, shows what a slow subscriber drops."""

from __future__ import annotations

from .bus_queue import QueueSubscriber


async def test_bus_queue_type_filter_and_drop_count() -> None:
    from proxy.bus import EventBus
    from proxy.events import AliasChanged, FirstToken

    bus = EventBus()
    sub = QueueSubscriber(bus, 2, (AliasChanged,))
    bus.publish(FirstToken("r1", 1.0))  # filtered: never queued, never counted
    for i in range(3):
        bus.publish(AliasChanged("a", None, f"t{i}"))
    assert sub.queue.qsize() == 2 and sub.dropped == 1 and bus.dropped == 1
    assert (await sub.get()).new_target == "t0"


def test_a_broken_callback_never_breaks_publishing() -> None:
    from proxy.bus import EventBus
    from proxy.events import AliasChanged

    bus = EventBus()
    got: list = []
    bus.subscribe(lambda e: 1 / 0)
    bus.subscribe(got.append)
    bus.publish(AliasChanged("a", None, "b"))
    assert len(got) == 1


def test_typed_callbacks_and_wants() -> None:
    """Callbacks name their event types; `wants()` tells the request path whether building a lifecycle
    event is worth it (statistics, the JSONL log and the front ends only read finished requests)."""
    from proxy.bus import EventBus
    from proxy.events import AliasChanged, FirstToken, RequestStarted

    bus = EventBus()
    got: list = []
    bus.subscribe(got.append, (AliasChanged,))
    assert bus.wants(AliasChanged) and not bus.wants(FirstToken) and not bus.wants(RequestStarted)
    bus.publish(FirstToken("r1", 1.0))
    bus.publish(AliasChanged("a", None, "b"))
    assert [type(e) for e in got] == [AliasChanged]

    everything: list = []
    unsubscribe = bus.subscribe(everything.append)  # no types: every event
    assert bus.wants(FirstToken)
    bus.publish(FirstToken("r2", 1.0))
    assert len(everything) == 1 and len(got) == 1
    unsubscribe()
    assert not bus.wants(FirstToken)
    sub = QueueSubscriber(bus, 10, (FirstToken,))
    assert bus.wants(FirstToken)
    sub.close()
    assert not bus.wants(FirstToken)
