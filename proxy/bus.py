"""The event bus: synchronous, non-blocking publish to callbacks.

The proxy's hot path calls `publish()` and never awaits a subscriber. Subscribers (statistics, the
JSONL writer, the headless printer, the dashboard's buffer, an attached front end's viewer) must be
cheap and non-blocking, and name the event types they take, so the request path can skip building
events nobody reads (`wants()`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class EventBus:
    def __init__(self) -> None:
        self._callbacks: list[tuple[Callable[[Any], None], tuple[type, ...] | None]] = []
        # Per concrete event type: the callbacks that take it, in subscription order. Built at the first
        # publish of a type and reset when subscriptions change, so a publish is one dict lookup and the
        # calls (it ran an isinstance check per subscriber, five of them per request in --no-ui).
        self._routes: dict[type, tuple[Callable[[Any], None], ...]] = {}
        # Events a subscriber shed because it could not keep up: such a subscriber adds them here, and
        # the front ends and /metrics show the total. The subscribers in the product never shed.
        self.dropped = 0

    @overload
    def subscribe(self, callback: Callable[[Event], None], types: None = None) -> Callable[[], None]: ...
    @overload
    def subscribe(self, callback: Callable[[E], None], types: tuple[type[E], ...]) -> Callable[[], None]: ...

    def subscribe(
        self, callback: Callable[[Any], None], types: tuple[type, ...] | None = None
    ) -> Callable[[], None]:
        """Register a non-blocking callback, for `types` only (None = every event); returns a function
        that unsubscribes it."""
        entry = (callback, types)
        self._callbacks.append(entry)
        self._routes.clear()

        def unsubscribe() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._routes.clear()

        return unsubscribe

    def wants(self, event_type: type) -> bool:
        """Whether any subscriber takes `event_type`. The request path asks before building a lifecycle
        event (started, resolved, first token) that, with the usual subscribers, nobody reads."""
        route = self._routes.get(event_type)
        if route is None:
            route = self._route(event_type)
        return bool(route)

    def _route(self, event_type: type) -> tuple[Callable[[Any], None], ...]:
        route = self._routes[event_type] = tuple(
            cb for cb, types in self._callbacks if types is None or issubclass(event_type, types)
        )
        return route

    def publish(self, event: Event) -> None:
        route = self._routes.get(type(event))
        if route is None:
            route = self._route(type(event))
        for cb in route:
            try:
                cb(event)
            except Exception:  # a broken subscriber must never break a request
                log.exception("event subscriber failed")
