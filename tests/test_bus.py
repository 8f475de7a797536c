"""The event bus: never blocks the publisher, filters per subscriber, counts what it drops."""

from __future__ import annotations


async def test_bus_queue_type_filter_and_drop_count() -> None:
    from proxy.bus import EventBus
    from proxy.events import AliasChanged, FirstToken

    bus = EventBus()
    sub = bus.subscribe_queue(2, (AliasChanged,))
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
