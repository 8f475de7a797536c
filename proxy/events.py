"""Typed, frozen events for the request lifecycle and for runtime changes.

The proxy core publishes these on the `EventBus` (proxy/bus.py); every front end (the dashboard,
the headless `MODEL_RESOLUTION` printer, the JSONL log, the statistics) is only a subscriber.
Exactly one terminal event (`RequestFinished` or `RequestFailed`) is published per request, carrying
the complete `RequestRecord`, so no request is ever missing from a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cost import Cost
from .wire.usage import EMPTY, Usage


@dataclass(unsafe_hash=True)
class Attempt:
    """One upstream try (the failover chain of a request has one per provider tried). Immutable by
    convention, not `frozen=True`, which costs 3× to build (proxy.cost.Cost says why)."""

    provider: str
    upstream_model: str
    status: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True)  # no slots: see Timing
class RouteInfo:
    """What task-aware routing did for a request (proxy.routing)."""

    route: str | None = None
    backend: str | None = None  # "llm", "local", "pinned", …
    latency_ms: float | None = None
    raw: str | None = None  # the router's answer, truncated
    reason: str | None = None  # why routing was skipped / pinned / failed
    # Sessions (proxy.sessions): the session this request belongs to, whether it was warm on its anchor
    # (the decision API's `pinned`), and the routing budget's verdict when a warm session saw a switch.
    session_id: str | None = None
    pinned: bool = False
    switched: bool = False
    decision: str | None = None  # allowed | retained
    decision_reason: str | None = None  # same_anchor | free | within_cap | over_cap | no_pricing
    # Plano's session-router span attributes (plano.cache.idle_ms, plano.session.*, plano.switch.*), as
    # (name, value) pairs; filled only while OTLP tracing is on (proxy.routing: TaskRouter.span_details).
    span_attrs: tuple[tuple[str, Any], ...] = ()

    @property
    def routed(self) -> bool:
        """Whether routing ran at all (a session-only record carries no route step)."""
        return self.route is not None or self.backend is not None or self.reason is not None


# Not frozen: a frozen __init__ sets each field through object.__setattr__, per request. No slots: orjson
# writes a dataclass with a __dict__ 4× faster than a slotted one (~0.16 against ~0.66 µs), and a record
# carries four of them (usage, attempts, cost, timing) to --log-json and every attached dashboard.
@dataclass
class Timing:
    """Where a request's time went (the detail view's waterfall): monotonic marks in ms since it arrived,
    taken with `time.perf_counter()` only (no aiohttp tracing on the request path). None: not reached."""

    parsed: float | None = None  # body read and parsed
    routed: float | None = None  # resolved, routed (the router's call included)
    sent: float | None = None  # the last attempt's upstream request about to go out
    headers: float | None = None  # its response headers arrived (connect + upstream wait: aiohttp gives one)
    first_byte: float | None = None  # the first body chunk from upstream
    translate_ms: float = 0.0  # request and stream translation, summed (0 on a passthrough)


def succeeded(status: int, error: str | None) -> bool:
    """What makes a request a success (`RequestRecord.ok`); the handler asks it before the record exists."""
    return error is None and 200 <= status < 400


@dataclass(frozen=True)
class RequestRecord:
    """Everything known about one request once it ended. One log row, one dashboard row."""

    request_id: str
    started_at: float  # wall clock, epoch seconds
    client_api: str
    path: str
    client_model: str
    stream: bool
    status: int
    latency_ms: float
    provider: str | None = None
    upstream_model: str | None = None
    upstream_api: str | None = None
    upstream_url: str | None = None
    alias: str | None = None
    alias_target: str | None = None
    via: str | None = None
    route: RouteInfo | None = None
    ttft_ms: float | None = None
    usage: Usage = EMPTY
    error: str | None = None
    error_code: str | None = None
    notes: tuple[str, ...] = ()
    session_id: str | None = None
    attempts: tuple[Attempt, ...] = ()
    cost: Cost | None = None  # USD, input/cached/output as Plano prices them (proxy.cost); None: no price
    request_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # redacted
    request_body: bytes | None = field(default=None, repr=False)
    upstream_body: bytes | None = field(default=None, repr=False)  # what was sent upstream, if rewritten
    response_body: bytes | None = field(default=None, repr=False)  # capped capture
    metadata: dict[str, Any] | None = field(default=None, repr=False)
    # False when the proxy skipped headers and bodies for this request (proxy.details: none wanted, or
    # over the dashboard's budget), so a detail view can say why they are missing.
    detailed: bool = field(default=True, repr=False)
    # Turns and tool loops (proxy.turns, issue #17): Codex's `turn_id` (x-codex-turn-metadata); whether
    # this request starts a user turn (its last input item is a user message, not a tool output; None:
    # not known); the tool calls the answer carried, by name; the client's product ("codex_exec",
    # "claude-cli", from originator / User-Agent).
    turn_id: str | None = None
    user_turn: bool | None = None
    tool_calls: tuple[str, ...] = ()
    agent: str | None = None
    timing: Timing | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return succeeded(self.status, self.error)

    @property
    def translation(self) -> str:
        if not self.upstream_api or self.upstream_api == self.client_api:
            return self.client_api
        return f"{self.client_api}→{self.upstream_api}"

    @property
    def tokens_per_s(self) -> float | None:
        out = self.usage.output_tokens
        if not out or self.ttft_ms is None:
            return None
        gen_ms = self.latency_ms - self.ttft_ms
        return out / (gen_ms / 1000) if gen_ms > 1 else None




def record_from_fields(attrs: dict[str, Any]) -> RequestRecord:
    """A `RequestRecord` from a dict holding every field (unchecked: the request path builds one per
    request), without the frozen dataclass `__init__`, which sets each of its 29 fields through
    `object.__setattr__`: one dict update, about 3× faster."""
    record = object.__new__(RequestRecord)
    record.__dict__.update(attrs)
    return record


def without_bodies(r: RequestRecord) -> RequestRecord:
    """`r` minus its request, upstream and response bodies (the dashboard keeps them for recent rows
    only); `dataclasses.replace` here was most of the dashboard's per-request cost at 700 req/s."""
    return record_from_fields({**r.__dict__, "request_body": None, "upstream_body": None, "response_body": None})


@dataclass(frozen=True, slots=True)
class RequestStarted:
    request_id: str
    started_at: float
    client_api: str
    path: str
    client_model: str
    stream: bool
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class ModelResolved:
    request_id: str
    client_model: str
    provider: str
    upstream_model: str
    upstream_api: str
    alias_target: str | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class FirstToken:
    request_id: str
    ttft_ms: float


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    request_id: str
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class RequestFinished:
    record: RequestRecord


@dataclass(frozen=True, slots=True)
class RequestFailed:
    record: RequestRecord


@dataclass(frozen=True, slots=True)
class AliasChanged:
    alias: str
    old_target: str | None
    new_target: str
    source: str = "runtime"  # dashboard | admin | reload


@dataclass(frozen=True, slots=True)
class ConfigReloaded:
    path: str
    ok: bool
    error: str | None = None
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderCooling:
    provider: str
    until: float  # epoch seconds
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceNotice:
    """A warning of the core's (a shared Redis down or back, the OTLP collector refusing spans, a cost feed
    unreachable, a routing step that failed): proxy.notices turns its log warnings into these."""

    at: float  # epoch seconds
    level: str  # warning | error | info (a service is back)
    source: str  # the module that warned: shared_state, tracing, cost, routing.router…
    message: str
    # What is out of service until a notice says it is back (level info, same subject): "redis", "otlp",
    # "models.dev feed". None for a one-off warning. The dashboard's banner holds a subject while it is down.
    subject: str | None = None


Event = (
    RequestStarted
    | ModelResolved
    | FirstToken
    | AttemptFailed
    | RequestFinished
    | RequestFailed
    | AliasChanged
    | ConfigReloaded
    | ProviderCooling
    | ServiceNotice
)
TERMINAL = (RequestFinished, RequestFailed)  # one per request, with its complete record
NOTICES = (AliasChanged, ConfigReloaded, ProviderCooling, ServiceNotice)  # what front ends show besides requests
