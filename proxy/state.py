"""The proxy's shared runtime state: current config and resolver, aliases, bus, stats, options.

One `ProxyState` per server. Hot reload swaps `config`/`resolver` in one assignment; a request reads
them once at its start, so in-flight requests finish on the config they started with.
"""

from __future__ import annotations

import collections
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .budget import Budget
from .bus import EventBus
from .caching import CachePolicy
from .config import Alias, Config, find_provider, seconds
from .cost import PriceBook, _base_dir, sources_from
from .details import DetailBudget
from .events import TERMINAL, AliasChanged, RouteInfo, ServiceNotice
from .frontend import CAPTURE_BYTES
from .health import ProviderHealth
from .resolve import AliasTable, Resolution, Resolver
from .sessions import SessionStore
from .stats import Stats
from .turns import SessionLog, WindowBook
from .wire.models import caps_of
from .wire.providers import Api


@dataclass
class ProxyOptions:
    connect_timeout_s: float = 5.0
    idle_timeout_s: float = 300.0  # longest gap between upstream bytes (Codex's own default)
    max_body_bytes: int = 32 * 1024 * 1024
    capture_bytes: int = CAPTURE_BYTES  # response bytes kept per request for the detail view
    keep_request_bodies: bool = True
    drain_s: float = 2.0
    heartbeat_s: float = 10.0
    admin_token: str | None = None

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> ProxyOptions:
        """Options from the config's `overrides` section (Plano's `upstream_connect_timeout`, plus ours:
        `upstream_idle_timeout`, `heartbeat_interval`, `max_request_body_mb`), then explicit values."""
        o = config.overrides
        opts = cls(
            connect_timeout_s=seconds(o.get("upstream_connect_timeout"), cls.connect_timeout_s),
            idle_timeout_s=seconds(o.get("upstream_idle_timeout"), cls.idle_timeout_s),
            heartbeat_s=seconds(o.get("heartbeat_interval"), cls.heartbeat_s),
        )
        mb = o.get("max_request_body_mb")
        if isinstance(mb, int | float) and mb > 0:
            opts.max_body_bytes = int(mb * 1024 * 1024)
        for k, v in overrides.items():
            setattr(opts, k, v)
        return opts


# The Protocols below are what the core and the front ends use of parts installed on the state by modules
# that import this one (proxy.routing, proxy.reload, proxy.tracing, proxy.shared_state): typed here, so
# nobody reaches them through getattr, and no import cycle.


class Router(Protocol):
    """Task-aware routing (proxy.routing). May replace the resolution's provider."""

    budget: Budget | None  # the routing budget, None without one (the sessions screen shows it)
    span_details: bool  # compute Plano's session span attributes (OTLP tracing is on)

    async def route(
        self,
        client_api: Api,
        body: dict[str, Any],
        headers: Any,
        resolution: Resolution,
        resolver: Resolver,
        inline_preferences: Any,
    ) -> tuple[Resolution, RouteInfo | None]: ...


class Reloader(Protocol):
    """Re-reads the config file (proxy.reload.ConfigReloader)."""

    def reload_now(self) -> tuple[bool, str]: ...


class Tracer(Protocol):
    """OTLP tracing (proxy.tracing.Tracing)."""

    def note_request(self, headers: Any, request_id: str, client_api: Api, body: dict[str, Any]) -> str:
        """The request's trace begins (a client's `traceparent` continued); its request attributes are read
        from the parsed body at once, not kept. Returns the `traceparent` naming the request's LLM span."""
        ...

    def routing_call(self, headers: Any, call: Any) -> str:
        """A `/routing/v1/*` decision traced; returns the trace id the decision answers with."""
        ...


class SharedStatus(Protocol):
    """Pins and cooldowns shared through Redis (proxy.shared_state.SharedState)."""

    @property
    def up(self) -> bool: ...


RECENT_NOTICES = 20  # warnings kept for a dashboard that starts or attaches later


class ProxyState:
    def __init__(self, config: Config, bus: EventBus | None = None, options: ProxyOptions | None = None) -> None:
        self.bus = bus or EventBus()
        self.stats = Stats()
        self.bus.subscribe(self.stats, Stats.TYPES)
        # The core's latest warnings (proxy.notices), for front ends that start or attach after them, and
        # what is out of service now (a notice naming a subject, until one says it is back).
        self.notices: collections.deque[ServiceNotice] = collections.deque(maxlen=RECENT_NOTICES)
        self.degraded: dict[str, ServiceNotice] = {}
        self.degraded_version = 0
        self.bus.subscribe(self._notice, (ServiceNotice,))
        self.options = options or ProxyOptions()
        self.aliases = AliasTable(config.aliases)
        self.config = config
        self.resolver = Resolver(config, self.aliases)
        self.router: Router | None = None
        self.sessions = SessionStore()  # proxy.sessions: shared by the proxy path and /routing/v1/*
        self.prices, self.price_warnings = PriceBook.from_config(config)  # proxy.cost
        self.caching = CachePolicy.from_config(config.raw)  # proxy.caching: Anthropic breakpoints
        self.bus.subscribe(self._settle_session, TERMINAL)
        # proxy.turns (issue #17): turns and tool loops per session, and each model's context window.
        self.windows = WindowBook(caps_of, self.prices.window, lambda: (self.prices.generation, self.config),
                                  lambda name: next((p for p in self.config.providers if p.name == name), None))
        self.turns = SessionLog(self.windows)
        self.bus.subscribe(self.turns, TERMINAL)
        self.tracer: Tracer | None = None  # while OTLP tracing is on (the handler asks it for traceparents)
        self.shared_state: SharedStatus | None = None  # while replicas share state (metrics report whether it is up)
        # Which requests keep headers and bodies on their record (proxy.details): every one unless a
        # front end says otherwise (the headless CLI keeps none, the dashboard a budget).
        self.details: DetailBudget | None = DetailBudget()
        # Codex model catalog (proxy.catalog): slug → note on the metadata last served for it.
        self.catalog_served: dict[str, str] = {}
        # (provider name, model) pairs that answered "not a chat model": never sent to chat again.
        self.not_chat_models: set[tuple[str, str]] = set()
        self.health = ProviderHealth(
            self.bus,
            threshold=int(config.overrides.get("cooldown_failures", 3)),
            base_s=float(config.overrides.get("cooldown_seconds", 30)),
            cap_s=float(config.overrides.get("cooldown_max_seconds", 300)),
        )
        self.started_at = time.time()
        self.in_flight = 0
        self.draining = False
        self.reload_error: str | None = None
        self.reloader: Reloader | None = None  # set by whoever watches the config file
        self.on_config: list[Callable[[Config], None]] = []
        # Short, sortable, unique-per-process request ids.
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(2).hex()
        self._catalog_version = 0
        self._etag: tuple[int, str] = (-1, "")

    def _notice(self, n: ServiceNotice) -> None:
        self.notices.append(n)
        if n.subject is None:
            return
        if n.level != "info":
            self.degraded[n.subject] = n
        elif self.degraded.pop(n.subject, None) is None:
            return
        self.degraded_version += 1

    def _settle_session(self, event: Any) -> None:
        r = event.record
        if r.session_id and r.usage:
            self.sessions.settle_later(r)

    @property
    def models_etag(self) -> str:
        """Changes whenever the model catalog would (alias retarget, reload). Codex refetches its
        catalog when a `/responses` answer carries a new `x-models-etag` (docs/codex-wire.md §2)."""
        if self._etag[0] != self._catalog_version:  # formatted once per catalog change, not per request
            self._etag = (self._catalog_version, f"{self._id_prefix}-{self._catalog_version}")
        return self._etag[1]

    def next_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):06x}"

    def set_alias(self, alias: str, target: str, source: str = "runtime") -> str | None:
        """Retarget an alias at runtime (dashboard, admin API). Validates the target."""
        if find_provider(target, self.config.providers) is None:
            raise ValueError(f"'{target}' is not a configured model")
        old = self.aliases.set(alias, target)
        self._catalog_version += 1
        self.bus.publish(AliasChanged(alias, old, target, source))
        return old

    def apply_config(self, config: Config, runtime_overrides: dict[str, str] | None = None) -> None:
        """Swap in a new config. `runtime_overrides` are alias targets set at runtime that survive."""
        keep = {n: t for n, t in (runtime_overrides or {}).items() if find_provider(t, config.providers)}
        self.aliases.replace_all(Alias(a.name, keep.get(a.name, a.target), a.fallbacks) for a in config.aliases)
        self.config = config
        self.resolver = Resolver(config, self.aliases)
        self._catalog_version += 1
        sources, self.price_warnings = sources_from(config.raw.get("model_metrics_sources"), _base_dir(config))
        self.prices.configure(sources)
        self.caching = CachePolicy.from_config(config.raw)
        for cb in self.on_config:
            cb(config)
