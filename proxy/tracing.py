"""OTLP traces as Plano's brightstaff sends them, for `planoai trace`, `planoai obs` or any OTLP collector.

Config (Plano's `tracing:` section): `random_sampling` (percent; 0 or absent = off),
`opentracing_grpc_endpoint` (else env `OTEL_TRACING_GRPC_ENDPOINT`, else 127.0.0.1:4317, Plano's
localhost default pinned to IPv4), `span_attributes: {static: {k: v}, header_prefixes: [x-team-]}`.

Per LLM request: a span of service `plano(llm)` named `POST <path> <model>` (`… <requested> -> <resolved>`
when routing or an alias changed it) with Plano's `llm.*` / `plano.*` attributes (reference/docs/plano-compat.md §4.7,
plano_sessions.md §5), and, when routing ran, a child span of service `plano(routing)`.

W3C trace context: a client's `traceparent` makes the LLM span its child (and its sampled flag is
honoured); the upstream call and the client's response carry a `traceparent` naming the LLM span.
The ids are chosen at the request's first upstream call (the handler asks `state.tracer`), the spans are
built from the request's terminal record on the bus (linked by request id), and a `BatchSpanProcessor`
exports from its own thread: a slow or dead collector only fills (then overflows) its bounded queue,
never a request.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from .cost_hook import Pricer
from .events import RequestFailed, RequestFinished, RequestRecord
from .state import ProxyState
from .trace_settings import TraceSettings, parse_traceparent

log = logging.getLogger(__name__)
SERVICE_LLM = "plano(llm)"
SERVICE_ROUTING = "plano(routing)"
PREVIEW_CHARS = 50  # llm.user_message_preview, as Plano


@dataclass
class _Trace:
    """The ids chosen when a request starts, and what the spans need from the request itself."""

    trace_id: int
    span_id: int
    parent_span_id: int | None
    sampled: bool
    custom: dict[str, str]

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{'01' if self.sampled else '00'}"


TRACE_KEY = web.RequestKey("plano_trace", _Trace)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


class _CountingExporter(SpanExporter):
    """The OTLP exporter, counting spans it could not deliver (a dead collector shows in /metrics)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0

    def export(self, spans: Any) -> Any:
        try:
            result = self.inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            if not self.failed:  # once: the count in /metrics (planoai_trace_spans_dropped) tells the rest
                log.warning("OTLP trace export failing (collector down or slow); requests are unaffected")
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    TYPES: tuple[type[RequestFinished | RequestFailed], ...] = (RequestFinished, RequestFailed)

    def __init__(self, state: ProxyState, settings: TraceSettings, pricer: Pricer | None = None) -> None:
        self.state = state
        self.settings = settings
        self.pricer = pricer
        # The exporter logs every retry of a dead collector; ours says it once and counts the rest.
        logging.getLogger("opentelemetry.exporter.otlp.proto.grpc.exporter").setLevel(logging.CRITICAL)
        self._llm = Resource.create({"service.name": SERVICE_LLM})
        self._routing = Resource.create({"service.name": SERVICE_ROUTING})
        self._scope = InstrumentationScope("planoai-tui")
        self.exporter = _CountingExporter(
            OTLPSpanExporter(endpoint=settings.endpoint, insecure=not settings.endpoint.startswith("https"), timeout=5)
        )
        # The SDK's batch processor: bounded queue (overflow is dropped, never waited on), export every
        # second from its own thread; the OTLP encoder groups the spans by service (resource).
        self.processor = BatchSpanProcessor(self.exporter, max_queue_size=4096, schedule_delay_millis=1000)
        self.spans = 0  # spans handed to the processor
        self._live: dict[str, _Trace] = {}  # request id → its trace, from its first upstream call to its end

    @property
    def dropped(self) -> int:
        return self.exporter.failed

    # ------------------------------------------------------------------ request start
    def traceparent(self, request: web.Request, request_id: str) -> str:
        """The `traceparent` for a request's upstream calls (the handler asks before each attempt): ids
        chosen on the first ask, a client's trace continued. No middleware: one would wrap every
        request, and cost more than this."""
        t = request.get(TRACE_KEY)
        if t is None:
            t = request[TRACE_KEY] = self._live[request_id] = self._begin(request.headers)
        return t.traceparent

    def _begin(self, headers: Mapping[str, str] | None) -> _Trace:
        parent = parse_traceparent(headers.get("traceparent")) if headers is not None else None
        if parent is not None:
            tid, psid, sampled = parent
        else:
            tid, psid = random.getrandbits(128) or 1, None
            sampled = random.random() < self.settings.sampling
        custom = self._custom(headers) if headers is not None else dict(self.settings.static_attributes)
        return _Trace(tid, random.getrandbits(64) or 1, psid, sampled, custom)

    @staticmethod
    async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
        t = request.get(TRACE_KEY)
        if t is not None:
            response.headers["traceparent"] = t.traceparent

    def _custom(self, headers: Mapping[str, str]) -> dict[str, str]:
        """`span_attributes`: static pairs, plus headers with a listed prefix as `suffix.with.dots`."""
        out = dict(self.settings.static_attributes)
        if self.settings.header_prefixes:
            for name, value in headers.items():
                low = name.lower()
                for prefix in self.settings.header_prefixes:
                    if low.startswith(prefix):
                        key = low[len(prefix) :].lstrip("-").replace("-", ".")
                        if key:
                            out[key] = value.strip()
                        break
        return out

    # ------------------------------------------------------------------ request end (bus)
    def __call__(self, event: RequestFinished | RequestFailed) -> None:
        r = event.record
        # Exactly one terminal event per request, so `_live` never keeps an entry. A request that failed
        # before any upstream call (bad JSON, unknown model) gets its ids now, still traced if sampled.
        t = self._live.pop(r.request_id, None) or self._begin(None)
        if not t.sampled:
            return
        self._emit(r, t)

    def _emit(self, r: RequestRecord, t: _Trace) -> None:
        # Spans are built finished, as the SDK's own ReadableSpan, straight for the batch processor: the
        # request already ended, so the SDK's live-span machinery (ids, sampler, locks, attribute
        # checks) would only cost time; the ids are the ones the request announced in its traceparent.
        start = int(r.started_at * 1e9)
        end = start + int(r.latency_ms * 1e6)
        ctx = SpanContext(t.trace_id, t.span_id, is_remote=False, trace_flags=_SAMPLED)
        parent = (
            SpanContext(t.trace_id, t.parent_span_id, is_remote=True, trace_flags=_SAMPLED)
            if t.parent_span_id is not None
            else None
        )
        p = self._prefix(r.provider)
        resolved = f"{p}/{r.upstream_model}" if p and r.upstream_model else (r.upstream_model or r.client_model)
        name = f"POST {r.path} {r.client_model or resolved}"
        if r.client_model != resolved and r.client_model != r.upstream_model:
            name += f" -> {resolved}"
        attrs: dict[str, Any] = {
            "http.method": "POST",
            "http.target": r.path,
            "http.status_code": r.status,
            "request_id": r.request_id,
            "llm.model": resolved,
            "model.requested": r.client_model,
            "llm.is_streaming": r.stream,
            "llm.duration_ms": round(r.latency_ms, 3),
            "planoai.client_api": r.client_api,
        }
        if p:
            attrs["llm.provider"] = p
        if r.upstream_api:
            attrs["planoai.upstream_api"] = r.upstream_api
        if r.ttft_ms is not None:
            attrs["llm.time_to_first_token"] = round(r.ttft_ms, 3)
        if r.alias_target:
            attrs["model.alias_resolved"] = r.alias_target
        if r.route is not None and r.route.route:
            attrs["plano.route.name"] = r.route.route
        if r.session_id:
            attrs["plano.session_id"] = r.session_id
        if len(r.attempts) > 1:
            attrs["routing.is_fallback"] = True
            attrs["planoai.attempts"] = len(r.attempts)
        u = r.usage
        if u:
            attrs |= {
                "llm.usage.prompt_tokens": u.input_tokens,
                "llm.usage.completion_tokens": u.output_tokens,
                "llm.usage.total_tokens": u.total,
                "llm.usage.cached_input_tokens": u.cached_tokens,
                "llm.usage.reasoning_tokens": u.reasoning_tokens,
            }
            pricer = self.pricer
            cost = pricer(r.provider, r.upstream_model, u) if pricer and r.provider and r.upstream_model else None
            if cost is not None:
                attrs |= {
                    "llm.usage.input_cost_usd": cost.input_usd,
                    "llm.usage.output_cost_usd": cost.output_usd,
                    "llm.usage.total_cost_usd": cost.total_usd,
                }
        if r.error:
            attrs |= {"error": True, "error.message": r.error[:500], "error.type": r.error_code or "error"}
        attrs |= t.custom
        status = Status(StatusCode.ERROR, r.error[:200]) if r.error else _UNSET
        self.processor.on_end(
            ReadableSpan(
                name,
                ctx,
                parent,
                self._llm,
                attrs,
                kind=SpanKind.SERVER,
                status=status,
                start_time=start,
                end_time=end,
                instrumentation_scope=self._scope,
            )
        )
        self.spans += 1
        if r.route is not None:
            self._routing_span(r, resolved, ctx, start, t.custom)

    def _routing_span(
        self, r: RequestRecord, resolved: str, parent: SpanContext, start: int, custom: dict[str, str]
    ) -> None:
        info = r.route
        assert info is not None
        attrs: dict[str, Any] = {
            "http.method": "POST",
            "http.target": r.path,
            "model.requested": r.client_model,
            "model.alias_resolved": r.alias_target or r.client_model,
            "route.selected_model": resolved if info.route else "none",
        }
        if info.latency_ms is not None:
            attrs["routing.determination_ms"] = info.latency_ms
        if info.route:
            attrs["plano.route.name"] = info.route
        if r.session_id:
            attrs["plano.session_id"] = r.session_id
        if info.backend:
            attrs["routing.strategy"] = info.backend
        if info.reason:
            attrs["routing.selection_reason"] = info.reason[:300]
        if info.backend == "pinned":
            attrs["plano.routing.skipped"] = "not_user_turn" if "continuation" in (info.reason or "") else "pinned"
        attrs |= custom
        ctx = SpanContext(parent.trace_id, random.getrandbits(64) or 1, is_remote=False, trace_flags=_SAMPLED)
        end = start + int((info.latency_ms or 0) * 1e6)
        self.processor.on_end(
            ReadableSpan(
                f"POST {r.path}",
                ctx,
                parent,
                self._routing,
                attrs,
                kind=SpanKind.INTERNAL,
                start_time=start,
                end_time=end,
                instrumentation_scope=self._scope,
            )
        )
        self.spans += 1

    _prefix_cache: tuple[object, dict[str, str]] = (None, {})

    def _prefix(self, provider: str | None) -> str | None:
        if provider is None:
            return None
        config = self.state.config
        if self._prefix_cache[0] is not config:
            self._prefix_cache = (config, {p.name: p.prefix for p in config.providers})
        return self._prefix_cache[1].get(provider)

    # ------------------------------------------------------------------ lifetime
    def stop(self, timeout_s: float = 3.0) -> None:
        """Flush and stop the exporters, waiting at most `timeout_s`: a dead collector must not hold
        the proxy's shutdown (the export thread is a daemon and dies with the process)."""

        def shutdown() -> None:
            try:
                self.processor.shutdown()
            except Exception:
                log.debug("span processor shutdown failed", exc_info=True)

        th = threading.Thread(target=shutdown, name="otlp-shutdown", daemon=True)
        th.start()
        th.join(timeout_s)
