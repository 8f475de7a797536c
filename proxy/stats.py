"""Per-provider and per-route statistics, computed in the core so every front end shows the same numbers.

`Stats` is a bus callback: it folds each terminal event into counters and bounded sample windows
(O(1) per request). Percentiles are computed only when a front end asks for a `snapshot()`, which the
dashboard does on a timer, never per event.
"""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass, field

from .events import TERMINAL, Event, RequestRecord

WINDOW = 512  # samples kept per provider for percentiles and sparklines
PENDING_MAX = 256  # records folded in batches: few enough that they die young (no gen-2 GC work)
SESSIONS_KEPT = 256  # sessions whose totals are kept (least recently active dropped first)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


@dataclass
class _Acc:
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    errors_other: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    gen_ms: float = 0.0  # time spent generating output tokens, for tok/s
    gen_tokens: int = 0  # output tokens of the requests counted in gen_ms (streamed ones only)
    cost_input: float = 0.0  # USD (proxy.cost): uncached input, cache reads, output
    cost_cached: float = 0.0
    cost_output: float = 0.0
    priced: int = 0  # requests with a price (the others had no rates or no usage)
    ttft: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    latency: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    last_error: str | None = None

    def add(self, r: RequestRecord) -> None:
        self.requests += 1
        if r.status >= 500:
            self.errors_5xx += 1
        elif r.status >= 400:
            self.errors_4xx += 1
        elif r.error:
            self.errors_other += 1
        if r.error:
            self.last_error = r.error
        u = r.usage
        self.input_tokens += u.input_tokens
        self.cached_tokens += u.cached_tokens
        self.output_tokens += u.output_tokens
        self.reasoning_tokens += u.reasoning_tokens
        self.cache_write_tokens += u.cache_write_tokens
        if r.ttft_ms is not None:
            self.ttft.append(r.ttft_ms)
            gen = r.latency_ms - r.ttft_ms
            # A non-streamed answer arrives whole (ttft ≈ latency): dividing its tokens by ~0 ms would
            # report thousands of tok/s, so only streamed requests feed the rate.
            if u.output_tokens and r.stream and gen > 1:
                self.gen_ms += gen
                self.gen_tokens += u.output_tokens
        if r.status < 400 and not r.error:
            self.latency.append(r.latency_ms)
        c = r.cost
        if c is not None:
            self.cost_input += c.input_usd
            self.cost_cached += c.cached_usd
            self.cost_output += c.output_usd
            self.priced += 1


class _CostAcc:
    """Requests, tokens and cost only: what the alias and session groups show (a full `_Acc` per group
    was a measurable share of the per-request cost)."""

    __slots__ = ("cache_write_tokens", "cached_tokens", "cost_cached", "cost_input", "cost_output", "input_tokens",
                 "output_tokens", "priced", "requests")

    def __init__(self) -> None:
        self.requests = self.input_tokens = self.cached_tokens = self.output_tokens = self.priced = 0
        self.cache_write_tokens = 0
        self.cost_input = self.cost_cached = self.cost_output = 0.0

    def add(self, r: RequestRecord) -> None:
        self.requests += 1
        u = r.usage
        self.input_tokens += u.input_tokens
        self.cached_tokens += u.cached_tokens
        self.cache_write_tokens += u.cache_write_tokens
        self.output_tokens += u.output_tokens
        c = r.cost
        if c is not None:
            self.cost_input += c.input_usd
            self.cost_cached += c.cached_usd
            self.cost_output += c.output_usd
            self.priced += 1


def _cost_snap(name: str, a: _CostAcc) -> GroupSnapshot:
    return GroupSnapshot(
        name, a.requests, 0, 0, 0, a.input_tokens, a.cached_tokens, a.output_tokens, 0, None, None, None, None,
        None, None, (), None, a.cost_input, a.cost_cached, a.cost_output, a.priced, a.cache_write_tokens,
    )


@dataclass(frozen=True)
class GroupSnapshot:
    """Aggregates for one provider or route."""

    name: str
    requests: int
    errors_4xx: int
    errors_5xx: int
    errors_other: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    ttft_p50: float | None
    ttft_p95: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    tokens_per_s: float | None
    recent_latency: tuple[float, ...]
    last_error: str | None
    cost_input: float = 0.0
    cost_cached: float = 0.0
    cost_output: float = 0.0
    priced: int = 0
    cache_write_tokens: int = 0  # part of input_tokens, like cached_tokens

    @property
    def errors(self) -> int:
        return self.errors_4xx + self.errors_5xx + self.errors_other

    @property
    def cost_usd(self) -> float | None:
        """Total USD, or None when no request of the group had a price (shown as "—")."""
        return self.cost_input + self.cost_cached + self.cost_output if self.priced else None


@dataclass(frozen=True)
class StatsSnapshot:
    taken_at: float
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    providers: dict[str, GroupSnapshot]
    routes: dict[str, GroupSnapshot]
    total: GroupSnapshot | None = None  # every request, all providers (errors split, cached tokens, …)
    aliases: dict[str, GroupSnapshot] = field(default_factory=dict)  # by the alias the client named
    sessions: dict[str, GroupSnapshot] = field(default_factory=dict)  # the most recent SESSIONS_KEPT


def _snap(name: str, a: _Acc) -> GroupSnapshot:
    t = sorted(a.ttft)
    lat = sorted(a.latency)
    return GroupSnapshot(
        name,
        a.requests,
        a.errors_4xx,
        a.errors_5xx,
        a.errors_other,
        a.input_tokens,
        a.cached_tokens,
        a.output_tokens,
        a.reasoning_tokens,
        percentile(t, 50),
        percentile(t, 95),
        percentile(lat, 50),
        percentile(lat, 95),
        percentile(lat, 99),
        a.gen_tokens / (a.gen_ms / 1000) if a.gen_ms > 0 else None,
        tuple(a.latency),
        a.last_error,
        a.cost_input,
        a.cost_cached,
        a.cost_output,
        a.priced,
        a.cache_write_tokens,
    )


class Stats:
    TYPES = TERMINAL  # what it subscribes to

    def __init__(self) -> None:
        # defaultdict: an accumulator is built only for a new key (setdefault(k, _Acc()) built one per request)
        self._providers: defaultdict[str, _Acc] = defaultdict(_Acc)
        self._routes: defaultdict[str, _Acc] = defaultdict(_Acc)
        self.total = _Acc()
        self._aliases: defaultdict[str, _CostAcc] = defaultdict(_CostAcc)
        self._sessions: OrderedDict[str, _CostAcc] = OrderedDict()  # bounded: sessions come and go
        self.version = 0  # bumps on every change; front ends skip redraws when unchanged
        # Records not folded in yet: the request path only appends; snapshot() (a dashboard tick, /admin/stats,
        # `prefer: fastest`) folds them, or every PENDING_MAX records. In a batch the ~40 attribute updates per
        # record cost a third of what they cost one request at a time between everything else it does.
        self._pending: list[RequestRecord] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, TERMINAL):
            self._pending.append(event.record)
            self.version += 1
            if len(self._pending) >= PENDING_MAX:
                self._fold()

    def add(self, r: RequestRecord) -> None:
        self._pending.append(r)
        self.version += 1
        self._fold()

    def _fold(self) -> None:
        pending, self._pending = self._pending, []
        for r in pending:
            self._add(r)

    def _add(self, r: RequestRecord) -> None:
        self.total.add(r)
        self._providers[r.provider or "(unresolved)"].add(r)
        if r.route and r.route.route:
            self._routes[r.route.route].add(r)
        if r.alias:
            self._aliases[r.alias].add(r)
        if r.session_id:
            acc = self._sessions.get(r.session_id)
            if acc is None:
                acc = self._sessions[r.session_id] = _CostAcc()
                if len(self._sessions) > SESSIONS_KEPT:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(r.session_id)
            acc.add(r)

    def snapshot(self) -> StatsSnapshot:
        self._fold()
        t = self.total
        return StatsSnapshot(
            time.time(),
            t.requests,
            t.errors_4xx + t.errors_5xx + t.errors_other,
            t.input_tokens,
            t.output_tokens,
            {k: _snap(k, v) for k, v in self._providers.items()},
            {k: _snap(k, v) for k, v in self._routes.items()},
            _snap("total", t),
            {k: _cost_snap(k, v) for k, v in self._aliases.items()},
            {k: _cost_snap(k, v) for k, v in self._sessions.items()},
        )
