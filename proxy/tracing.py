"""OTLP traces as Plano's brightstaff sends them, for `planoai trace`, `planoai obs` or any OTLP collector.

Config (Plano's `tracing:` section): `random_sampling` (percent; 0 or absent = off),
`opentracing_grpc_endpoint` (else env `OTEL_TRACING_GRPC_ENDPOINT`, else 127.0.0.1:4317, Plano's
localhost default pinned to IPv4), `span_attributes: {static: {k: v}, header_prefixes: [x-team-]}`.

Per LLM request: a span of service `plano(llm)` named `POST <path> <model>` (`… <requested> -> <resolved>`
when routing or an alias changed it) with Plano's `llm.*` / `plano.*` attributes (docs/plano-compat.md §4.7,
docs/plano-sessions.md §5.2), and, when routing ran, a child span of service `plano(routing)`. Each
`/routing/v1/*` decision is a `plano(routing)` span of its own (Plano traces its routing API too).

W3C trace context: a client's `traceparent` makes the LLM span its child (and its sampled flag is
honoured); the upstream call and the client's response carry a `traceparent` naming the LLM span.
The ids are chosen once the request's body is parsed (the handler asks `state.tracer`).

Cost: the request path only appends (terminal record, ids) to a bounded deque. An export thread turns a
second's worth of records into one OTLP `ExportTraceServiceRequest` written as protobuf bytes
(proxy.span_encoding: ~3× cheaper than the protobuf library's message objects), and sends
those bytes through the OTLP exporter library's own `_export` (its channel, retries and reconnects). The SDK's
span objects and its encoder are skipped: they cost ~130 µs per span (bench/RESULTS.md, session 4),
against ~200 µs of proxy work per small request. A slow or dead collector only fills (then overflows)
the bounded queue, never a request.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from .cost_hook import Pricer
from .events import RequestFailed, RequestFinished, RequestRecord
from .redaction import without_credentials
from .routing.conversation import recent_user_message, tool_names
from .span_encoding import SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SpanEncoder, export_request, field
from .state import ProxyState
from .trace_settings import TraceSettings, parse_traceparent
from .wire.providers import Api

log = logging.getLogger(__name__)
SERVICE_LLM = "plano(llm)"
SERVICE_ROUTING = "plano(routing)"
PREVIEW_CHARS = 50  # llm.user_message_preview, as Plano
MAX_QUEUE = 8192  # records waiting for the export thread; beyond it spans are dropped (and counted)
BATCH = 512  # spans per export call
SCHEDULE_S = 1.0  # export period, as the SDK's BatchSpanProcessor default


class _Trace:
    """The ids chosen when a request starts, and what the spans need from the request itself. A plain
    slotted class: one is built for every request while tracing is on, sampled or not."""

    __slots__ = ("custom", "facts", "parent_span_id", "sampled", "span_id", "trace_id", "traceparent")

    def __init__(
        self, trace_id: int, span_id: int, parent_span_id: int | None, sampled: bool, custom: Mapping[str, str]
    ) -> None:
        self.trace_id, self.span_id, self.parent_span_id = trace_id, span_id, parent_span_id
        self.sampled, self.custom = sampled, custom
        self.facts: dict[str, str] | None = None  # what the request asked (sampled requests only)
        # Formatted once: the upstream call and the response both send it (`to_bytes().hex()`: half the cost
        # of the `:032x` format spec, on every request while tracing is on).
        self.traceparent = (
            f"00-{trace_id.to_bytes(16, 'big').hex()}-{span_id.to_bytes(8, 'big').hex()}-{'01' if sampled else '00'}"
        )


@dataclass(frozen=True, slots=True)
class RoutingCall:
    """One `/routing/v1/*` decision, as the routing API hands it to the tracer (proxy.routing.api)."""

    path: str
    started_at: float  # epoch seconds
    duration_ms: float
    status: int
    requested: str
    alias_target: str | None
    selected: str | None  # the first ranked model, None when no route matched
    route: str | None
    session_id: str | None
    pinned: bool
    backend: str | None
    determination_ms: float | None
    reason: str | None
    span_attrs: tuple[tuple[str, Any], ...] = ()  # the session router's (RouteInfo.span_attrs)


# Numbers vary per request (durations, tokens, cost) and are built per span; strings and flags come from
# small vocabularies (paths, models, routes, session ids, custom attributes) and are serialized once.
_FRESH_STRINGS = frozenset({"request_id", "error.message", "routing.selection_reason"})


_TOOL_LISTS: dict[tuple[str, ...], str] = {}  # tool names → `llm.tools` as written


def request_facts(api: Api, body: dict[str, Any]) -> dict[str, str]:
    """`llm.temperature`, `llm.tools` ("name(...)" per line) and `llm.user_message_preview` (50 characters,
    then "..."), each when the request has it, formatted as brightstaff records them."""
    out: dict[str, str] = {}
    temp = body.get("temperature")
    if isinstance(temp, int | float) and not isinstance(temp, bool):
        out["llm.temperature"] = format(temp, "g")
    names = tool_names(body)
    if names:
        listed = _TOOL_LISTS.get(names)  # a coding agent sends the same dozen tools every request
        if listed is None:
            if len(_TOOL_LISTS) >= 256:
                _TOOL_LISTS.clear()
            listed = _TOOL_LISTS[names] = "\n".join(f"{n}(...)" for n in names)
        out["llm.tools"] = listed
    text = recent_user_message(api, body)
    if text is not None:
        out["llm.user_message_preview"] = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."
    return out


def _resource(service: str) -> bytes:
    """A serialized `Resource` (its attributes are field 1, as a span's are field 9)."""
    enc = SpanEncoder()
    attrs = (("service.name", service), ("telemetry.sdk.language", "python"), ("telemetry.sdk.name", "planoai-tui"))
    return b"".join(field(b"\x0a", enc.key_value(k, v)) for k, v in attrs)


EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class _RawTraceService:
    """The trace service's stub, sending an `ExportTraceServiceRequest` that is already protobuf bytes (a
    gRPC method without a request serializer takes bytes as they are)."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(EXPORT_METHOD, request_serializer=None,
                                          response_deserializer=ExportTraceServiceResponse.FromString)  # fmt: skip


class _Exporter(OTLPSpanExporter):
    """The OTLP/gRPC exporter library, fed a ready request (proxy.span_encoding's bytes) instead of SDK
    spans: its channel, retry with backoff and reconnect logic are kept as they are. The bytes go out as
    encoded: parsing them into the library's message only for gRPC to serialize it again cost ~2.5 µs per
    span (tests/test_span_encoding.py checks the encoding against the library's own serializer)."""

    def _initialize_channel_and_stub(self) -> None:  # at start, and on every reconnect
        super()._initialize_channel_and_stub()  # type: ignore[no-untyped-call]
        self._client = _RawTraceService(self._channel)  # type: ignore[assignment]

    def _translate_data(self, data: Any) -> Any:
        raw: bytes = data[0]
        if isinstance(getattr(self, "_client", None), _RawTraceService):
            return raw
        # An exporter version whose channel set-up this class no longer hooks: its own stub serializes.
        return ExportTraceServiceRequest.FromString(raw)

    def _count_data(self, data: Any) -> int:
        return int(data[1])


class Tracing:
    TYPES: tuple[type[RequestFinished | RequestFailed], ...] = (RequestFinished, RequestFailed)

    def __init__(self, state: ProxyState, settings: TraceSettings, pricer: Pricer | None = None) -> None:
        self.state = state
        self.settings = settings
        self.pricer = pricer  # only for records that carry no cost (the handler prices them: proxy.cost)
        # The exporter logs every retry of a dead collector; ours says it once and counts the rest.
        logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").setLevel(logging.CRITICAL)
        self.exporter = _Exporter(
            endpoint=settings.endpoint, insecure=not settings.endpoint.startswith("https"), timeout=5
        )
        self._resources = {SERVICE_LLM: _resource(SERVICE_LLM), SERVICE_ROUTING: _resource(SERVICE_ROUTING)}
        self._encoder = SpanEncoder(_FRESH_STRINGS)
        self._shapes: dict[tuple[Any, ...], tuple[bytes, str]] = {}  # export thread only
        # deque append/popleft are atomic: the request path and the export thread share it without a lock.
        self._queue: collections.deque[tuple[Any, _Trace]] = collections.deque()
        self.spans = 0  # spans handed to the export thread
        self.exported = 0
        self.failed = 0  # spans the collector did not take (down, slow, refused)
        self._failing = False  # the last export failed (warned once; a success says it is back)
        self._shown_endpoint = without_credentials(settings.endpoint)
        self.overflow = 0  # spans dropped because the queue was full
        self._live: dict[str, _Trace] = {}  # request id → its trace, from its first upstream call to its end
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="otlp-export", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self.failed + self.overflow

    # ------------------------------------------------------------------ request start
    def _begin(self, headers: Mapping[str, str] | None) -> _Trace:
        parent = parse_traceparent(headers.get("traceparent")) if headers is not None else None
        if parent is not None:
            tid, psid, sampled = parent
        else:
            tid, psid = random.getrandbits(128) or 1, None
            sampled = random.random() < self.settings.sampling
        custom = self._custom(headers) if headers is not None else self.settings.static_attributes
        return _Trace(tid, random.getrandbits(64) or 1, psid, sampled, custom)

    def note_request(self, headers: Mapping[str, str], request_id: str, client_api: Api, body: dict[str, Any]) -> str:
        """The request's trace begins: ids chosen (a client's trace continued) and, for sampled requests,
        the facts Plano puts on its LLM span (temperature, tools, a preview of the user's message), read
        from the parsed body while the handler holds it. Returns the `traceparent` the handler sends
        upstream and back to the client."""
        t = self._live[request_id] = self._begin(headers)
        if t.sampled:
            t.facts = request_facts(client_api, body)
        return t.traceparent

    def _custom(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """`span_attributes`: static pairs, plus headers with a listed prefix as `suffix.with.dots`."""
        if not self.settings.header_prefixes:
            return self.settings.static_attributes  # shared, never mutated
        out = dict(self.settings.static_attributes)
        for name, value in headers.items():
            low = name.lower()
            for prefix in self.settings.header_prefixes:
                if low.startswith(prefix):
                    key = low[len(prefix) :].lstrip("-").replace("-", ".")
                    if key:
                        out[key] = value.strip()
                    break
        return out

    # ------------------------------------------------------------------ request end (bus): the request path
    def __call__(self, event: RequestFinished | RequestFailed) -> None:
        r = event.record
        # Exactly one terminal event per request, so `_live` never keeps an entry. A request that failed
        # before any upstream call (bad JSON, unknown model) gets its ids now, still traced if sampled.
        t = self._live.pop(r.request_id, None) or self._begin(None)
        if t.sampled:
            self._enqueue(r, t, 2 if r.route is not None else 1)

    def _enqueue(self, item: Any, t: _Trace, spans: int) -> None:
        if len(self._queue) >= MAX_QUEUE:  # the collector is not keeping up: drop, never wait
            self.overflow += spans
            return
        self._queue.append((item, t))
        self.spans += spans

    def routing_call(self, headers: Mapping[str, str], call: RoutingCall) -> str:
        """A `/routing/v1/*` decision: its span is queued (when sampled); returns the trace id it belongs
        to (a client's `traceparent` continued), which the decision API answers as `trace_id`."""
        t = self._begin(headers)
        if t.sampled:
            self._enqueue(call, t, 1)
        return f"{t.trace_id:032x}"

    # ------------------------------------------------------------------ the export thread
    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(SCHEDULE_S)
            self._wake.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        q = self._queue
        while q:
            items = [q.popleft() for _ in range(min(BATCH, len(q)))]
            try:
                request, n = self._encode(items)
            except Exception:  # a bug here must cost the spans, never the proxy
                log.exception("building OTLP spans failed")
                self.failed += len(items)
                continue
            try:
                result = self.exporter._export(cast(Any, (request, n)))  # _translate_data unpacks it
            except Exception:
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self.exported += n
                if self._failing:
                    self._failing = False
                    log.warning("OTLP traces: the collector at %s takes spans again", self._shown_endpoint,
                                extra={"back": "otlp"})  # fmt: skip
            else:
                if not self._failing:  # once per outage: planoai_trace_spans_dropped in /metrics counts the rest
                    self._failing = True
                    # Said so a newcomer on Plano's bundled config (100 % sampling, no collector) knows what to do.
                    log.warning("OTLP traces dropped: no collector at %s (Plano's `planoai trace listen` is one; "
                                "or set tracing.random_sampling: 0)", self._shown_endpoint,
                                extra={"down": "otlp"})  # fmt: skip
                self.failed += n

    def _encode(self, items: list[tuple[Any, _Trace]]) -> tuple[bytes, int]:
        llm: list[bytes] = []
        routing: list[bytes] = []
        for item, t in items:
            if isinstance(item, RoutingCall):
                routing.append(self._routing_call_span(item, t))
            else:
                self._record_spans(item, t, llm, routing)
        res = self._resources
        raw = export_request(((res[SERVICE_LLM], llm), (res[SERVICE_ROUTING], routing)), "planoai-tui")
        return raw, len(llm) + len(routing)

    def _record_spans(self, r: RequestRecord, t: _Trace, llm: list[bytes], routing: list[bytes]) -> None:
        start = int(r.started_at * 1e9)
        end = start + int(r.latency_ms * 1e6)
        route = r.route.route if r.route is not None else None
        fallback = len(r.attempts) > 1
        # Everything but ids, times and numbers repeats across requests of one kind: serialized once.
        shape = (r.path, r.status, r.provider, r.upstream_model, r.client_model, r.stream, r.client_api,
                 r.upstream_api, r.alias_target, route, r.session_id, fallback, r.error_code if r.error else None,
                 tuple(t.custom.items()), self._prefix(r.provider))  # fmt: skip
        cached = self._shapes.get(shape)
        if cached is None:
            cached = self._shape(r, t, route, fallback)
            if len(self._shapes) > 4096:
                self._shapes.clear()
            self._shapes[shape] = cached
        static, resolved = cached
        enc = self._encoder
        a = enc.attribute
        fresh = [a("request_id", r.request_id), a("llm.duration_ms", r.latency_ms)]
        if r.ttft_ms is not None:
            fresh.append(a("llm.time_to_first_token", r.ttft_ms))
        if fallback:
            fresh.append(a("planoai.attempts", len(r.attempts)))
        u = r.usage
        if u:
            fresh += (
                a("llm.usage.prompt_tokens", u.input_tokens),
                a("llm.usage.completion_tokens", u.output_tokens),
                a("llm.usage.total_tokens", u.total),
                a("llm.usage.cached_input_tokens", u.cached_tokens),
                a("llm.usage.reasoning_tokens", u.reasoning_tokens),
            )
            if u.cache_write_tokens:  # Plano sets it only when the provider reported cache writes
                fresh.append(a("llm.usage.cache_creation_tokens", u.cache_write_tokens))
            cost: Any = r.cost  # priced once, by the handler (proxy.cost)
            if cost is None and self.pricer is not None and r.provider and r.upstream_model:
                cost = self.pricer(r.provider, r.upstream_model, u)
            if cost is not None:
                fresh += (
                    # Plano's input cost covers every prompt token, cache reads included.
                    a("llm.usage.input_cost_usd", cost.input_usd + getattr(cost, "cached_usd", 0.0)),
                    a("llm.usage.output_cost_usd", cost.output_usd),
                    a("llm.usage.total_cost_usd", cost.total_usd),
                )
        if r.error:
            fresh.append(a("error.message", r.error[:500]))
        if t.facts:
            fresh += [a(k, v) for k, v in t.facts.items()]
        llm.append(enc.fresh(t.trace_id, t.span_id, t.parent_span_id, start, end, fresh, r.error) + static)
        info = r.route
        if info is None:
            return
        rattrs: dict[str, Any] = {
            "http.method": "POST",
            "http.target": r.path,
            "model.requested": r.client_model,
            "model.alias_resolved": r.alias_target or r.client_model,
            "route.selected_model": resolved if info.route else "none",
        }
        _decision_attrs(rattrs, info.latency_ms, info.route, r.session_id, info.backend, info.reason)
        if info.backend == "pinned":
            rattrs["plano.routing.skipped"] = "not_user_turn" if "continuation" in (info.reason or "") else "pinned"
        if info.decision:
            rattrs["plano.switch.decision"] = info.decision
        if info.session_id:  # the session's binding was warm on its anchor (the decision API's `pinned`)
            rattrs["plano.cache.warm"] = info.pinned
            rattrs.update(info.span_attrs)  # the session router's (proxy.routing: TaskRouter._span_attrs)
        rattrs |= t.custom
        rend = start + int((info.latency_ms or 0) * 1e6)
        routing.append(enc.span(t.trace_id, random.getrandbits(64) or 1, t.span_id, f"POST {r.path}",
                                SPAN_KIND_INTERNAL, start, rend, rattrs))  # fmt: skip

    def _shape(self, r: RequestRecord, t: _Trace, route: str | None, fallback: bool) -> tuple[bytes, str]:
        """The LLM span's name, kind and repeating attributes, serialized; and the resolved model name."""
        p = self._prefix(r.provider)
        resolved = f"{p}/{r.upstream_model}" if p and r.upstream_model else (r.upstream_model or r.client_model)
        name = f"POST {r.path} {r.client_model or resolved}"
        if r.client_model != resolved and r.client_model != r.upstream_model:
            name += f" -> {resolved}"
        attrs: dict[str, Any] = {
            "http.method": "POST",
            "http.target": r.path,
            "http.status_code": r.status,
            "llm.model": resolved,
            "model.requested": r.client_model,
            "llm.is_streaming": r.stream,
            "planoai.client_api": r.client_api,
        }
        if p:
            attrs["llm.provider"] = p
        if r.upstream_api:
            attrs["planoai.upstream_api"] = r.upstream_api
        if r.alias_target:
            attrs["model.alias_resolved"] = r.alias_target
        if route:
            attrs["plano.route.name"] = route
        if r.session_id:
            attrs["plano.session_id"] = r.session_id
        if fallback:
            attrs["routing.is_fallback"] = True
        if r.error:
            attrs["error"] = True
            attrs["error.type"] = r.error_code or "error"
        attrs |= t.custom
        return self._encoder.static(name, SPAN_KIND_SERVER, attrs), resolved

    def _routing_call_span(self, c: RoutingCall, t: _Trace) -> bytes:
        start = int(c.started_at * 1e9)
        attrs: dict[str, Any] = {
            "http.method": "POST",
            "http.target": c.path,
            "http.status_code": c.status,
            "model.requested": c.requested,
            "model.alias_resolved": c.alias_target or c.requested,
            "route.selected_model": c.selected or "none",
            "plano.session.pinned": c.pinned,
        }
        _decision_attrs(attrs, c.determination_ms, c.route, c.session_id, c.backend, c.reason)
        if c.session_id:
            attrs["plano.cache.warm"] = c.pinned
            attrs.update(c.span_attrs)
        attrs |= t.custom
        end = start + int(c.duration_ms * 1e6)
        error = None if c.status < 400 else f"HTTP {c.status}"
        return self._encoder.span(t.trace_id, t.span_id, t.parent_span_id, f"POST {c.path}",
                                  SPAN_KIND_SERVER, start, end, attrs, error)  # fmt: skip

    _prefix_cache: tuple[object, dict[str, str]] = (None, {})

    def _prefix(self, provider: str | None) -> str | None:
        if provider is None:
            return None
        config = self.state.config
        if self._prefix_cache[0] is not config:
            self._prefix_cache = (config, {p.name: p.prefix for p in config.providers})
        return self._prefix_cache[1].get(provider)

    # ------------------------------------------------------------------ lifetime
    def flush(self) -> None:
        """Ask the export thread to send what is queued now (tests; shutdown)."""
        self._wake.set()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Send what is queued and stop, waiting at most `timeout_s`: a dead collector must not hold the
        proxy's shutdown (the export thread is a daemon and dies with the process)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)

        def shutdown() -> None:
            try:
                self.exporter.shutdown()
            except Exception:
                log.debug("OTLP exporter shutdown failed", exc_info=True)

        th = threading.Thread(target=shutdown, name="otlp-shutdown", daemon=True)
        th.start()
        th.join(max(0.1, timeout_s / 3))


def _decision_attrs(attrs: dict[str, Any], determination_ms: float | None, route: str | None,
                    session_id: str | None, backend: str | None, reason: str | None) -> None:
    """A routing decision's attributes, as both the proxy path's and `/routing/v1/*`'s spans carry them."""
    if determination_ms is not None:
        attrs["routing.determination_ms"] = float(determination_ms)
    if route:
        attrs["plano.route.name"] = route
    if session_id:
        attrs["plano.session_id"] = session_id
    if backend:
        attrs["routing.strategy"] = backend
    if reason:
        attrs["routing.selection_reason"] = reason[:300]
