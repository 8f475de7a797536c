"""Prometheus metrics: Plano's `brightstaff_*` families (so its Grafana dashboard works unchanged) plus
`planoai_*` families for what only this proxy has (fallbacks, cooldowns, translation, dropped events, cost).

Names, labels and buckets follow brightstaff's `metrics/mod.rs` and `metrics/labels.rs`
(docs/plano-sessions.md §5.1). Everything about an LLM request, its HTTP RED series included, is
derived from the one terminal record per request on the event bus (`RequestFinished`/`RequestFailed`):
the request path only appends the record to a list, folded into plain-dict aggregates when Prometheus
scrapes. Other routes (`/routing/v1/*`, `/v1/models`, …) publish no records and are counted as their
handlers return (proxy.counted_routes). State rather than events (in-flight, cooldowns,
dropped events, per-session cost) is read at scrape time by collectors.

Cardinality stays bounded: labels are fixed vocabularies or configured names; a model label is kept for
the first `MAX_MODELS` distinct models (a wildcard provider lets clients name any model) and then
reads `other`; request and session ids are never labels (per-session cost is a distribution).
"""

from __future__ import annotations

import hashlib
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from aiohttp import web

from .cost_hook import Pricer
from .events import Attempt, ProviderCooling, RequestFailed, RequestFinished, RequestRecord
from .state import ProxyState
from .wire.usage import Usage

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

# Buckets (seconds) exactly as brightstaff sets them, so the dashboard's quantiles mean the same thing.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUTER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SESSION_COST_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0)
MAX_MODELS = 200  # distinct model label values kept; the rest are `other`
MAX_SESSIONS = 10_000  # per-session running totals kept (least recently used dropped), as Plano's pin bound


def status_class(status: int | None) -> str:
    if status is None or status == 0:
        return "error"
    if 100 <= status < 600:
        return f"{status // 100}xx"
    return "other"


def handler_label(path: str) -> str:
    """brightstaff's `handler` vocabulary (labels.rs) for our routes; a fixed set whatever the path."""
    if path.endswith(("/responses", "/chat/completions", "/messages")):
        return "routing_decision" if path.startswith("/routing/") else "llm_chat"
    if path.endswith("/count_tokens"):
        return "llm_chat"
    if path in ("/v1/models", "/models"):
        return "list_models"
    if path == "/healthz":
        return "healthz"
    if path.startswith("/admin/"):
        return "admin"
    return "not_found"


def error_class(attempt: Attempt, last: bool, record: RequestRecord) -> str:
    """brightstaff's `error_class`: `none` whenever the upstream answered (its status says the rest),
    connect/timeout when it never did, `stream` when an answered stream broke part way."""
    if attempt.status is None:
        text = (attempt.error or "").lower()
        if "timed out" in text or "timeout" in text:
            return "timeout"
        if "unreachable" in text or "connect" in text:
            return "connect"
        return "other"
    if last and record.stream and record.status < 400 and record.error:
        return "stream"
    return "none"


class _SessionCosts:
    """Running cost per session, keyed by a digest (never the raw id), least recently used dropped."""

    def __init__(self, max_entries: int = MAX_SESSIONS) -> None:
        self.max_entries = max_entries
        self._totals: OrderedDict[bytes, float] = OrderedDict()
        self._digests: dict[str, bytes] = {}

    def add(self, session_id: str, usd: float) -> None:
        key = self._digests.get(session_id)
        if key is None:  # a session's requests all add to it: its digest is computed once
            if len(self._digests) >= 4096:
                self._digests.clear()
            key = self._digests[session_id] = hashlib.blake2b(session_id.encode(), digest_size=8).digest()
        self._totals[key] = self._totals.pop(key, 0.0) + usd
        if len(self._totals) > self.max_entries:
            self._totals.popitem(last=False)

    def values(self) -> list[float]:
        return list(self._totals.values())


class _StateCollector:
    """Gauges read from live state at scrape time: nothing on the request path."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

        st = self._m.state
        cooling = GaugeMetricFamily(
            "planoai_provider_cooling",
            "1 while a provider is in cooldown (skipped unless it is the last candidate).",
            labels=["provider"],
        )
        until = GaugeMetricFamily(
            "planoai_provider_cooldown_remaining_seconds", "Seconds left in a provider's cooldown.", labels=["provider"]
        )
        now = time.time()
        for name, t in st.health.snapshot().items():
            cooling.add_metric([name], 1.0)
            until.add_metric([name], max(0.0, t - now))
        yield cooling
        yield until
        yield GaugeMetricFamily(
            "planoai_events_dropped",
            "Events dropped because a front end's queue was full (the proxy never waits on a reader).",
            value=float(st.bus.dropped),
        )
        if self._m.spans_dropped is not None:
            yield GaugeMetricFamily(
                "planoai_trace_spans_dropped",
                "Spans the OTLP exporter could not deliver (collector down or slow); requests never wait on it.",
                value=float(self._m.spans_dropped()),
            )
        shared = st.shared_state
        if shared is not None:
            yield GaugeMetricFamily(
                "planoai_shared_state_up",
                "1 while Redis shares session pins and cooldowns with other replicas; 0: this replica runs on memory.",
                value=1.0 if shared.up else 0.0,
            )
        yield GaugeMetricFamily("planoai_in_flight_requests", "LLM requests in progress.", value=float(st.in_flight))
        degraded = GaugeMetricFamily(
            "planoai_service_degraded",
            "1 for each service the proxy uses that is out of order now (redis, otlp, '<provider> feed'), from "
            "its warning until it is back; requests never wait on one.",
            labels=["service"],
        )
        for subject in st.degraded:  # a few fixed names: bounded cardinality
            degraded.add_metric([subject], 1.0)
        yield degraded
        totals = sorted(self._m.session_costs.values())
        hist = GaugeHistogramMetricFamily(
            "planoai_session_cost_usd",
            "Distribution of the running cost of the sessions currently tracked (one observation per session).",
        )
        buckets: list[tuple[str, float]] = []
        i = 0
        for b in SESSION_COST_BUCKETS:
            while i < len(totals) and totals[i] <= b:
                i += 1
            buckets.append((str(b), float(i)))
        buckets.append(("+Inf", float(len(totals))))
        hist.add_metric([], buckets, gsum_value=sum(totals))
        yield hist
        yield GaugeMetricFamily(
            "planoai_sessions_tracked", "Sessions with a running cost kept for the distribution.", value=len(totals)
        )


# eq=False: families are module-level singletons used as dict keys on every fold; identity hashing is C,
# where the generated __hash__ hashed all fields (buckets included) in Python, 11 times per record.
@dataclass(frozen=True, slots=True, eq=False)
class _Family:
    name: str  # as exposed (counters without `_total`: the exposition adds it)
    doc: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] | None = None  # a histogram when set


# Names, labels and help as brightstaff's metrics/mod.rs, then ours.
HTTP_REQUESTS = _Family(
    "brightstaff_http_requests",
    "Total HTTP requests served, by handler and status class.",
    ("handler", "method", "status_class"),
)
HTTP_DURATION = _Family(
    "brightstaff_http_request_duration_seconds",
    "Wall-clock duration of HTTP requests, by handler.",
    ("handler",),
    HTTP_BUCKETS,
)
LLM_REQUESTS = _Family(
    "brightstaff_llm_upstream_requests",
    "LLM upstream request outcomes, by provider, model, status class and error class.",
    ("provider", "model", "status_class", "error_class"),
)
LLM_DURATION = _Family(
    "brightstaff_llm_upstream_duration_seconds",
    "Wall-clock duration of LLM upstream calls (stream close for streaming), by provider and model.",
    ("provider", "model"),
    LLM_BUCKETS,
)
LLM_TTFT = _Family(
    "brightstaff_llm_time_to_first_token_seconds",
    "Time from request start to first streamed byte, by provider and model (streaming only).",
    ("provider", "model"),
    LLM_BUCKETS,
)
LLM_TOKENS = _Family(
    "brightstaff_llm_tokens",
    "Tokens reported in the provider `usage`, by provider, model and kind.",
    ("provider", "model", "kind"),
)
USAGE_MISSING = _Family(
    "brightstaff_llm_tokens_usage_missing",
    "LLM responses that completed without a usable `usage` block.",
    ("provider", "model"),
)
ROUTER_DECISIONS = _Family(
    "brightstaff_router_decisions",
    "Routing decisions, by route, selected model, and whether the default was used (no route).",
    ("route", "selected_model", "fallback"),
)
ROUTER_DURATION = _Family(
    "brightstaff_router_decision_duration_seconds", "Time spent deciding a route, by route.", ("route",), ROUTER_BUCKETS
)
ROUTER_SKIPS = _Family(
    "brightstaff_router_skips", "Requests that replayed an earlier routing decision instead of routing.", ("reason",)
)
ROUTING_SERVICE = _Family(
    "brightstaff_routing_service_requests",
    "Outcomes of /routing/* decision requests: decision_served, no_candidates, policy_error.",
    ("outcome",),
)
SESSION_CACHE = _Family(
    "brightstaff_session_cache_events", "Session affinity cache lookups and stores, by outcome.", ("outcome",)
)
SWITCH_DECISIONS = _Family(
    "brightstaff_session_switch_decisions",
    "Warm sessions' routing decisions: allowed or retained, and why (same_anchor, free, within_cap, over_cap, "
    "no_pricing).",
    ("decision", "reason"),
)
BINDING_EVENTS = _Family(
    "brightstaff_session_binding_events", "Session bindings refreshed from a finished response.", ("event",)
)
PROMPT_CACHE = _Family(
    "brightstaff_prompt_cache_requests",
    "LLM responses with usage data, by provider, model and prompt-cache outcome (hit = cache read or write).",
    ("provider", "model", "outcome"),
)
FALLBACK_ATTEMPTS = _Family(
    "planoai_fallback_attempts",
    "Upstream attempts that failed and passed the request to the next candidate.",
    ("provider", "model", "status_class", "error_class"),
)
SERVED_BY_FALLBACK = _Family(
    "planoai_requests_served_by_fallback",
    "Requests answered by a fallback candidate rather than the first choice.",
    ("provider", "model"),
)
COOLDOWNS = _Family("planoai_provider_cooldowns", "Times a provider was put in cooldown.", ("provider",))
TRANSLATIONS = _Family(
    "planoai_translation_requests",
    "LLM requests by client API and the upstream API it was translated to (equal: passthrough).",
    ("client_api", "upstream_api"),
)
REQUESTS = _Family(
    "planoai_requests", "LLM requests by how their model was chosen and outcome.", ("via", "status_class")
)
ALIAS_COST = _Family(
    "planoai_alias_cost_usd", "Cost of requests made through each alias (`none`: a model named directly).", ("alias",)
)
MODEL_COST = _Family("planoai_llm_cost_usd", "Cost of LLM calls by provider and model.", ("provider", "model"))
FAMILIES = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    LLM_REQUESTS,
    LLM_DURATION,
    LLM_TTFT,
    LLM_TOKENS,
    USAGE_MISSING,
    ROUTER_DECISIONS,
    ROUTER_DURATION,
    ROUTER_SKIPS,
    ROUTING_SERVICE,
    SESSION_CACHE,
    SWITCH_DECISIONS,
    BINDING_EVENTS,
    PROMPT_CACHE,
    FALLBACK_ATTEMPTS,
    SERVED_BY_FALLBACK,
    COOLDOWNS,
    TRANSLATIONS,
    REQUESTS,
    ALIAS_COST,
    MODEL_COST,
)
_LLM_CHAT = ("llm_chat",)
PENDING_MAX = 256  # records folded in batches: few enough that they die young (no gen-2 GC work)


class _Aggregates:
    """Counters and histograms as plain dicts, exposed through prometheus-client's metric families.

    prometheus-client's own Counter/Histogram take a lock per `labels()` and per update; at a dozen
    updates per request that was a fifth of the proxy's throughput on small requests (bench_telemetry).
    Here the request path only appends its record to a list; records are folded into the dicts when
    Prometheus scrapes (or every PENDING_MAX records), on the event loop, so no lock is needed."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics
        self.values: dict[_Family, dict[tuple[str, ...], Any]] = {f: {} for f in FAMILIES}

    def inc(self, family: _Family, labels: tuple[str, ...], amount: float = 1.0) -> None:
        d = self.values[family]
        d[labels] = d.get(labels, 0.0) + amount

    def observe(self, family: _Family, labels: tuple[str, ...], value: float) -> None:
        d = self.values[family]
        h = d.get(labels)
        if h is None:
            h = d[labels] = [[0] * (len(family.buckets or ()) + 1), 0.0]
        h[0][bisect_left(family.buckets or (), value)] += 1
        h[1] += value

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        self._m.fold()
        for f, d in self.values.items():
            if f.buckets is None:
                counter = CounterMetricFamily(f.name, f.doc, labels=f.labels)
                for labels, v in d.items():
                    counter.add_metric(labels, v)
                yield counter
            else:
                hist = HistogramMetricFamily(f.name, f.doc, labels=f.labels)
                for labels, (counts, total) in d.items():
                    cum, buckets = 0, []
                    for le, n in zip((*map(str, f.buckets), "+Inf"), counts, strict=True):
                        cum += n
                        buckets.append((le, float(cum)))
                    hist.add_metric(labels, buckets, total)
                yield hist
        inflight = GaugeMetricFamily(
            "brightstaff_http_in_flight_requests",
            "HTTP requests currently being served, by handler.",
            labels=["handler"],
        )
        inflight.add_metric(["llm_chat"], float(self._m.state.in_flight))
        yield inflight


class _Plan(NamedTuple):
    """What a kind of record adds, its label tuples resolved once (`Metrics._plan_of`)."""

    ones: tuple[tuple[dict[tuple[str, ...], Any], tuple[str, ...]], ...]  # counters this kind adds 1 to
    attempts: tuple[tuple[str, ...], ...]  # LLM_DURATION labels per attempt (provider, model)
    pm: tuple[str, str] | None  # the answering provider and model
    ttft: bool
    # LLM_TOKENS: (labels, index in (input, output, cached, cache_write)) for each kind this record reports
    tokens: tuple[tuple[tuple[str, ...], int], ...]


class Metrics:
    """The registry and the families; subscribe the instance to the bus and `count_response` to the server's
    other routes (proxy.counted_routes)."""

    TYPES = (RequestFinished, RequestFailed, ProviderCooling)

    def __init__(self, state: ProxyState, pricer: Pricer | None = None) -> None:
        self.state = state
        self.pricer = pricer  # only for records that carry no cost (the handler prices them: proxy.cost)
        self._registry: CollectorRegistry | None = None  # built at the first scrape (prometheus-client is lazy)
        self.session_costs = _SessionCosts()
        self.spans_dropped: Callable[[], int] | None = None  # set when tracing is on (proxy.telemetry)
        self._pending: list[RequestRecord] = []
        self._models: set[str] = set()
        self._prefixes: dict[str, str] = {}
        self._prefix_config: object = None
        self.agg = _Aggregates(self)
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._plans_config: object = None

    @property
    def registry(self) -> CollectorRegistry:
        """prometheus-client is imported here, at the first scrape or render, not at start-up: it is ~85 ms
        of import, and the request path only appends records to a list (the aggregation is plain dicts)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry, disable_created_metrics
            from prometheus_client.core import GaugeMetricFamily
            from prometheus_client.process_collector import ProcessCollector

            # No `*_created` series: brightstaff has none, and they would double the scrape for nothing.
            disable_created_metrics()
            r = CollectorRegistry(auto_describe=True)
            build = GaugeMetricFamily(
                "brightstaff_build_info", "Build metadata. Always 1; labels carry version and git SHA.",
                labels=["version", "git_sha"],
            )  # fmt: skip
            build.add_metric([_version(), "unknown"], 1.0)
            r.register(_Constant(build))  # duck-typed collectors: their classes import nothing at start-up
            r.register(self.agg)
            r.register(_StateCollector(self))
            ProcessCollector(registry=r)  # process_* (RSS, CPU): the dashboard's process panel
            self._registry = r
        return self._registry

    # ------------------------------------------------------------------ labels
    def _model(self, model: str | None) -> str:
        if not model:
            return "unknown"
        if model in self._models:
            return model
        if len(self._models) < MAX_MODELS:
            self._models.add(model)
            return model
        return "other"

    def _provider(self, name: str | None) -> str:
        """The provider label: its prefix (`openai`), as brightstaff's `split_provider_model`."""
        if not name:
            return "unknown"
        config = self.state.config
        if config is not self._prefix_config:  # rebuilt after a reload
            self._prefixes = {p.name: p.prefix for p in config.providers}
            self._prefix_config = config
        return self._prefixes.get(name) or "unknown"

    # ------------------------------------------------------------------ bus subscriber (the request path)
    def __call__(self, event: object) -> None:
        if isinstance(event, RequestFinished | RequestFailed):
            self._pending.append(event.record)
            if len(self._pending) >= PENDING_MAX:
                self.fold()
        elif isinstance(event, ProviderCooling):
            self.agg.inc(COOLDOWNS, (self._provider(event.provider),))

    def fold(self) -> None:
        pending, self._pending = self._pending, []
        for r in pending:
            self.observe(r)

    def observe(self, r: RequestRecord) -> None:
        """One record into the aggregates: its kind's plan says which counters go up by one; only durations,
        token counts and cost are read per record. (Inlined dict updates: this runs once per request.)"""
        p = self._plan_of(r)
        for d, labels in p.ones:
            d[labels] = d.get(labels, 0.0) + 1.0
        obs = self.agg.observe
        obs(HTTP_DURATION, _LLM_CHAT, r.latency_ms / 1000)
        for pm_a, a in zip(p.attempts, r.attempts, strict=True):
            obs(LLM_DURATION, pm_a, a.duration_ms / 1000)
        pm = p.pm
        if pm is not None:
            if p.ttft:
                obs(LLM_TTFT, pm, r.ttft_ms / 1000)  # type: ignore[operator]
            u = r.usage
            if u:
                d = self.agg.values[LLM_TOKENS]
                counts = (u.input_tokens, u.output_tokens, u.cached_tokens, u.cache_write_tokens)
                for labels, i in p.tokens:
                    d[labels] = d.get(labels, 0.0) + counts[i]
                self._cost(r, pm, u)
        if r.route is not None:
            self._routing(r)

    def _plan_of(self, r: RequestRecord) -> _Plan:
        """The label tuples of a record, computed once per kind of record (status, models, attempts, which
        token kinds…): a fold then only adds values. Half the per-record cost of metrics was building these
        labels."""
        u = r.usage
        atts = r.attempts
        if len(atts) == 1:  # the common case, without a generator
            a = atts[0]
            att_key: tuple[Any, ...] = (a.provider, a.upstream_model, a.status, a.error if a.status is None else None)
        else:
            att_key = tuple((a.provider, a.upstream_model, a.status, a.error if a.status is None else None)
                            for a in atts)  # fmt: skip
        key = (r.status, r.error is None, r.via, r.client_api, r.upstream_api, r.provider, r.upstream_model,
               r.stream, r.ttft_ms is None, len(atts), att_key, bool(u), bool(u.cached_tokens) if u else False,
               bool(u.cache_write_tokens) if u else False)  # fmt: skip
        if self._plans_config is not self.state.config:  # provider labels may change with a reload
            self._plans.clear()
            self._plans_config = self.state.config
        p = self._plans.get(key)
        if p is None:
            if len(self._plans) > 4096:
                self._plans.clear()
            p = self._plans[key] = self._plan(r)
        return p

    def _plan(self, r: RequestRecord) -> _Plan:
        v = self.agg.values
        rsc = status_class(r.status)
        n = len(r.attempts)
        ones: list[tuple[dict[tuple[str, ...], Any], tuple[str, ...]]] = [(v[HTTP_REQUESTS], ("llm_chat", "POST", rsc))]
        durations = []
        for i, a in enumerate(r.attempts):
            last = i == n - 1
            provider, model = self._provider(a.provider), self._model(a.upstream_model)
            sc = status_class(r.status if last and a.status is not None else a.status)
            labels = (provider, model, sc, error_class(a, last, r))
            ones.append((v[LLM_REQUESTS], labels))
            if not last:
                ones.append((v[FALLBACK_ATTEMPTS], labels))
            durations.append((provider, model))
        ones.append((v[REQUESTS], (r.via or "none", rsc)))
        if r.upstream_api:
            ones.append((v[TRANSLATIONS], (r.client_api, r.upstream_api)))
        pm = (self._provider(r.provider), self._model(r.upstream_model)) if n and r.provider else None
        ok = r.ok
        tokens: tuple[tuple[tuple[str, ...], int], ...] = ()
        if pm is not None:
            if n > 1 and ok:
                ones.append((v[SERVED_BY_FALLBACK], pm))
            u = r.usage
            if u:
                # Plano's rule: the cache was active if the request read it or wrote it.
                ones.append((v[PROMPT_CACHE], (*pm, "hit" if u.cached_tokens or u.cache_write_tokens else "miss")))
                # Cache kinds only when the provider reported them (the plan's key says which).
                kinds = [("prompt", 0), ("completion", 1)]
                if u.cached_tokens:
                    kinds.append(("cache_read", 2))
                if u.cache_write_tokens:
                    kinds.append(("cache_write", 3))
                tokens = tuple(((*pm, k), i) for k, i in kinds)
            elif ok:
                ones.append((v[USAGE_MISSING], pm))
        return _Plan(
            ones=tuple(ones),
            attempts=tuple(durations),
            pm=pm,
            ttft=pm is not None and ok and r.stream and r.ttft_ms is not None,
            tokens=tokens,
        )

    def _cost(self, r: RequestRecord, pm: tuple[str, str], u: Usage) -> None:
        cost: Any = r.cost  # priced once, by the handler (proxy.cost): not priced again here
        if cost is None:
            pricer = self.pricer  # a test's own pricer, or an unpriced record
            if pricer is None or r.provider is None or r.upstream_model is None:
                return
            cost = pricer(r.provider, r.upstream_model, u)
            if cost is None:
                return
        usd = cost.total_usd
        self.agg.inc(MODEL_COST, pm, usd)
        self.agg.inc(ALIAS_COST, (r.alias or "none",), usd)
        if r.session_id:
            self.session_costs.add(r.session_id, usd)

    def _routing(self, r: RequestRecord) -> None:
        info = r.route
        assert info is not None
        inc = self.agg.inc
        if info.session_id is not None:  # a session binding (proxy.sessions), as brightstaff counts them
            if info.decision:  # a warm session: the budget's (or the free) verdict on its candidate
                inc(SWITCH_DECISIONS, (info.decision, info.decision_reason or "none"))
            if r.ok:  # the response refreshed the binding (context size, cost)
                inc(BINDING_EVENTS, ("refresh",))
        if info.backend == "pinned":  # a turn or session pin answered: the session cache hit
            inc(SESSION_CACHE, ("hit",))
            if (info.reason or "").startswith("tool-result continuation"):
                inc(ROUTER_SKIPS, ("not_user_turn",))
            return
        if info.latency_ms is None:  # routing off or nothing to route on: no decision made
            return
        if info.route:
            selected = f"{self._provider(r.provider)}/{self._model(r.upstream_model)}"
        else:
            failed = "error" in (info.reason or "") or "timed out" in (info.reason or "")
            selected = "unknown" if failed else "none"
        inc(ROUTER_DECISIONS, ("llm", selected, "false" if info.route else "true"))
        self.agg.observe(ROUTER_DURATION, ("llm",), info.latency_ms / 1000)
        inc(SESSION_CACHE, ("miss",))  # the router ran: no pin answered for this turn
        inc(SESSION_CACHE, ("store",))

    # ------------------------------------------------------------------ HTTP (everything but the LLM endpoints)
    def count_response(self, request: web.Request, status: int, response: web.StreamResponse | None) -> None:
        """A response of a route other than the LLM endpoints (`/routing/v1/*`, `/v1/models`, 404s…), as
        proxy.counted_routes reports it. Counted without durations: brightstaff's duration panel reads the
        LLM handler's, which come from the records."""
        path = request.path
        label = handler_label(path)
        if label == "llm_chat" or path == "/metrics":  # LLM requests are counted from their records
            return
        self.agg.inc(HTTP_REQUESTS, (label, request.method, status_class(status)))
        if label == "routing_decision":
            self._routing_outcome(status, response)

    def _routing_outcome(self, status: int, resp: web.StreamResponse | None) -> None:
        """`/routing/v1/*`: decision_served, no_candidates (no route matched) or policy_error (4xx/5xx),
        plus the decision itself under route="routing", as brightstaff's routing service counts them."""
        inc = self.agg.inc
        if status >= 400:
            inc(ROUTING_SERVICE, ("policy_error",))
            return
        body = getattr(resp, "body", None)
        try:
            d = orjson.loads(body) if isinstance(body, bytes) else {}
        except orjson.JSONDecodeError:
            d = {}
        routed = bool(d.get("route"))
        inc(ROUTING_SERVICE, ("decision_served" if routed else "no_candidates",))
        if d.get("backend") == "pinned":
            inc(SESSION_CACHE, ("hit",))
            return
        latency = d.get("latency_ms")
        if isinstance(latency, int | float):
            models = d.get("models") or ["none"]
            inc(
                ROUTER_DECISIONS,
                ("routing", self._model(models[0] if routed else "none"), "false" if routed else "true"),
            )
            self.agg.observe(ROUTER_DURATION, ("routing",), latency / 1000)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def response(self) -> web.Response:
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        resp = web.Response(body=self.render())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp


class _Constant:
    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


def _version() -> str:
    try:
        return version("planoai-tui")
    except PackageNotFoundError:
        return "0.0.0"
