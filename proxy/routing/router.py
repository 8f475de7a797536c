"""`TaskRouter`: the `Router` the handler awaits (proxy/state.py) and the decision API's engine.

Semantics (docs/plano-compat.md §3.2–3.3, §9.3): routing applies only when preferences exist (config or the
request's own) and the conversation has text. The first known route the backend names wins, and its
first ranked model serves the request; "no route" keeps the requested (alias-resolved) model. Unlike
Plano, every failure — timeout, connection error, HTTP error, unparsable answer, even a bug here — fails
open to the requested model with the reason recorded on the request; a client never gets a 500 because
routing failed. Only an invalid per-request `routing_preferences` is the client's error (400).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from .. import budget as budget_mod
from .. import sessions as sessions_mod
from ..budget import Budget
from ..config import Config, RoutingPreference
from ..cost import PriceBook, priced_model
from ..errors import ProxyError
from ..events import RouteInfo
from ..resolve import ModelNotFound, Resolution, Resolver
from ..sessions import AFFINITY_HEADER, SessionDecision, SessionRef, SessionStore
from ..sessions import header as session_header
from ..stats import Stats
from ..wire.providers import Api, upstream_api_for
from . import settings as settings_mod
from .backend import Backend, Verdict
from .conversation import Conversation, parse, prefix_facts
from .llm import LlmBackend
from .local import LocalBackend
from .pinning import DecisionCache, Pinned, keys_for
from .preferences import PreferenceError, parse_inline, ranked_models

log = logging.getLogger(__name__)
_PIN_BY_DEFAULT = frozenset({Api.RESPONSES, Api.MESSAGES})


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision: what serves the request, and what the decision API reports."""

    resolution: Resolution
    info: RouteInfo | None
    route: str | None = None
    models: tuple[str, ...] = ()  # the route's models, ranked (empty: no route)
    session_id: str | None = None
    pinned: bool = False
    switched: bool = False


class TaskRouter:
    def __init__(
        self,
        config: Config,
        session_getter: Callable[[], aiohttp.ClientSession] | None = None,
        stats: Stats | None = None,
        sessions: SessionStore | None = None,
        prices: PriceBook | None = None,
    ) -> None:
        self.prices = prices  # proxy.cost: `prefer: cheapest` / `fastest` and the routing budget
        self._session_getter = session_getter or _no_session
        self.stats = stats
        self.cache = DecisionCache(settings_mod.DEFAULT_TTL_S, settings_mod.DEFAULT_MAX_ENTRIES)
        # One store for the proxy path and the decision API (Plano shares its session cache the same way).
        self.sessions = sessions if sessions is not None else SessionStore()
        self.prefs: tuple[RoutingPreference, ...] = ()
        self._infos: dict[tuple[Any, ...], RouteInfo] = {}  # session-only RouteInfos (_session_info)
        # Plano's session-router span attributes on each RouteInfo: set by proxy.telemetry while OTLP
        # tracing is on (they change every request, so the session-only RouteInfo is no longer shared).
        self.span_details = False
        self.apply(config)

    # ------------------------------------------------------------------ configuration
    def use_session(self, session_getter: Callable[[], aiohttp.ClientSession]) -> None:
        """The HTTP session the LLM backend calls through (a second server on the same state brings its
        own); takes effect at the next `apply`."""
        self._session_getter = session_getter

    def apply(self, config: Config) -> None:
        """(Re)build from a config; registered on `ProxyState.on_config` so hot reload takes effect."""
        s = settings_mod.load(config)
        old_prefs, old = self.prefs, getattr(self, "settings", None)
        self.config, self.settings, self.prefs = config, s, tuple(config.routing_preferences)
        self.backend: Backend | None = None  # routing.backend: off
        if s.backend == "llm":
            self.backend = LlmBackend(s, config, self._session_getter)
        elif s.backend == "local":
            self.backend = LocalBackend(s.local_min_score)
        self.cache.ttl_s, self.cache.max_entries = s.session_ttl_s, max(1, s.session_max_entries)
        self.sessions.ttl_s, self.sessions.max_entries = s.session_ttl_s, max(1, s.session_max_entries)
        try:  # validated when the config loaded; a failure here only means "no budget"
            self.budget = budget_mod.from_config(
                config.routing.get("routing_budget"), config.raw.get("model_metrics_sources"), self.prices
            )
        except budget_mod.BudgetError as exc:
            log.warning("routing.routing_budget: %s", exc)
            self.budget = None
        if old is not None and (
            old_prefs != self.prefs or old.backend != s.backend or old.router_model != s.router_model
        ):
            self.cache.clear()  # cached routes may name routes or models that no longer mean the same
        for w in self.warnings:
            log.warning("%s", w)

    @property
    def warnings(self) -> list[str]:
        out = list(self.settings.warnings)
        if isinstance(self.backend, LlmBackend) and self.backend.error and self.prefs:
            out.append(f"routing: {self.backend.error}; routed requests keep their requested model")
        return out

    def describe(self) -> str:
        return self.backend.describe() if self.backend is not None else "off"

    def pins(self, client_api: Api) -> bool:
        """Whether non-user turns replay the session's decision: Plano's `routing.route_on_user_only` when
        set; unset, our default for coding agents (on for Responses and Messages clients, off for Chat)."""
        on = self.settings.route_on_user_only
        return client_api in _PIN_BY_DEFAULT if on is None else on

    def implicit_sessions(self, client_api: Api, routing: bool) -> bool:
        """Plano's rule for deriving the implicit session key: prompt-caching affinity, a routing budget, or
        route_on_user_only (as in effect for this client) while routing can change the model."""
        return self.settings.session_affinity or self.budget is not None or (routing and self.pins(client_api))

    # ------------------------------------------------------------------ the Router protocol
    async def route(
        self,
        client_api: Api,
        body: dict[str, Any],
        headers: Any,
        resolution: Resolution,
        resolver: Resolver,
        inline_preferences: Any,
    ) -> tuple[Resolution, RouteInfo | None]:
        if self.backend is None or (inline_preferences is None and not self.prefs):
            sessions_on = self.settings.session_affinity or self.budget is not None
            if not sessions_on and not session_header(headers, AFFINITY_HEADER):
                return resolution, None  # the hot path: no preferences, no sessions, nothing to do
            if not hasattr(self.sessions, "prefetch"):  # in memory: nothing to await (no coroutine to build)
                ref = self._session_ref(client_api, body, headers)
                return self._session_only(ref, client_api, body, headers, resolution, resolver)
            return await self._session_route(client_api, body, headers, resolution, resolver)
        d = await self.decide(client_api, body, headers, resolution, resolver, inline_preferences)
        return d.resolution, d.info

    def _session_ref(self, client_api: Api, body: dict[str, Any], headers: Any) -> SessionRef | None:
        instructions, tools, first_user = prefix_facts(client_api, body if isinstance(body, dict) else {})
        implicit = self.settings.session_affinity or self.budget is not None
        return sessions_mod.resolve(headers, instructions, tools, first_user, implicit)

    async def _session_route(
        self, client_api: Api, body: dict[str, Any], headers: Any, res: Resolution, resolver: Resolver
    ) -> tuple[Resolution, RouteInfo | None]:
        """No routing, but a session (affinity header, prompt caching, routing budget): Plano's session
        router still runs with the requested model as the candidate. A Redis-shared store (proxy.shared_state)
        reads the session first."""
        ref = self._session_ref(client_api, body, headers)
        if ref is not None and (prefetch := getattr(self.sessions, "prefetch", None)) is not None:
            await prefetch(ref.key, headers, self.budget is not None)
        return self._session_only(ref, client_api, body, headers, res, resolver)

    def _session_only(
        self, ref: SessionRef | None, client_api: Api, body: dict[str, Any], headers: Any, res: Resolution,
        resolver: Resolver,
    ) -> tuple[Resolution, RouteInfo | None]:
        """`_session_route` once the session is known. Not a coroutine: it runs on every request of every
        session."""
        if ref is None:
            return res, None
        if self.budget is None:  # the common case, kept lean: no gate, nothing can change the model
            name = model_name(res)
            if not self.span_details and self.sessions.warm_turn(ref, name, None, name, res.alias) is not None:
                return res, self._session_info(ref.session_id, True, False, "allowed", "same_anchor")
            sd = sessions_mod.bind(self.sessions, ref, name, None, name, 0, None, res.alias)
            if self.span_details:
                return res, RouteInfo(session_id=ref.session_id, pinned=sd.warm, switched=sd.switched,
                                      decision=sd.decision, decision_reason=sd.reason,
                                      span_attrs=self._span_attrs(ref, sd, None, name, None))
            return res, self._session_info(ref.session_id, sd.warm, sd.switched, sd.decision, sd.reason)
        d = self._bind(Decision(res, None), ref, model_name(res), resolver, client_api, headers, body)
        return d.resolution, d.info

    def _span_attrs(self, ref: SessionRef, sd: SessionDecision, gate: Budget | None, candidate: str,
                    route: str | None) -> tuple[tuple[str, Any], ...]:
        """What brightstaff's session router sets on its span (docs/plano-sessions.md §5.2): warmth and idle
        time; with a routing budget the episode's totals; when a switch was priced its cost, the candidate's
        warm credit and the cap; a vetoed switch's counterfactual route when asked to record it."""
        b = self.sessions.get(ref.key)
        out: list[tuple[str, Any]] = [("plano.cache.idle_ms", int(sd.idle_s * 1000))]
        if b is None:
            return tuple(out)
        if gate is not None:
            pct = 100 * b.switch_spend_usd / b.baseline_usd if b.baseline_usd > 0 else 0.0
            out += [("plano.session.overhead_pct", pct), ("plano.session.switch_spend_in_usd", b.switch_spend_usd),
                    ("plano.session.baseline_in_usd", b.baseline_usd), ("plano.session.switches", b.switches)]
        out.append(("plano.session.total_cost_in_usd", b.session_cost_usd))
        if gate is not None and sd.reason in ("free", "within_cap", "over_cap") and b.last_switch_cost is not None:
            out += [("plano.switch.cost_in_usd", b.last_switch_cost),
                    ("plano.switch.candidate_warm_tokens", b.last_switch_warm_tokens),
                    ("plano.switch.overhead_ceiling_in_usd", gate.max_switch_spend_pct / 100 * b.baseline_usd)]
        if gate is not None and gate.counterfactual:
            out.append(("plano.switch.counterfactual_route",
                        f"{gate.counterfactual} ({route})" if route and route != "none" else gate.counterfactual))
        return tuple(out)

    def _session_info(
        self, session_id: str, pinned: bool, switched: bool, decision: str | None, reason: str | None
    ) -> RouteInfo:
        """RouteInfo is frozen, so one object serves every request of a session in the same state (a
        frozen dataclass costs ~2 µs to build; this path runs on every request of every session)."""
        k = (session_id, pinned, switched, decision, reason)
        info = self._infos.get(k)
        if info is None:
            if len(self._infos) > 4096:
                self._infos.clear()
            info = self._infos[k] = RouteInfo(
                session_id=session_id, pinned=pinned, switched=switched, decision=decision, decision_reason=reason
            )
        return info

    async def decide(
        self,
        client_api: Api,
        body: dict[str, Any],
        headers: Any,
        resolution: Resolution,
        resolver: Resolver,
        inline_preferences: Any = None,
    ) -> Decision:
        try:
            return await self._decide(client_api, body, headers, resolution, resolver, inline_preferences)
        except ProxyError:
            raise
        except Exception as exc:  # a bug here must cost the routing, never the request
            log.exception("routing failed")
            return Decision(
                resolution,
                RouteInfo(
                    backend=self.settings.backend,
                    reason=f"routing error ({type(exc).__name__}: {exc}); kept the requested model",
                ),
            )

    # ------------------------------------------------------------------ internals
    async def _decide(
        self,
        client_api: Api,
        body: dict[str, Any],
        headers: Any,
        resolution: Resolution,
        resolver: Resolver,
        inline: Any,
    ) -> Decision:
        prefs = self.prefs
        if self.backend is None:
            return Decision(resolution, RouteInfo(reason="routing.backend is off"))
        if inline is not None:
            try:
                prefs = parse_inline(inline, resolver)
            except PreferenceError as exc:
                raise ProxyError(400, f"invalid routing_preferences: {exc}", "invalid_routing_preferences") from None
            if not prefs:
                return Decision(resolution, RouteInfo(reason="request sent empty routing_preferences: not routed"))
        if not prefs:
            res, info = await self._session_route(client_api, body, headers, resolution, resolver)
            if info is None:
                return Decision(res, None)
            return Decision(res, info, session_id=info.session_id, pinned=info.pinned, switched=info.switched)
        conv = parse(client_api, body if isinstance(body, dict) else {})
        lane = model_name(resolution)  # Plano's lane: the requested model after alias resolution
        ref = sessions_mod.resolve(
            headers, conv.instructions, conv.tool_names, conv.first_user or None,
            self.implicit_sessions(client_api, True),
        )
        keys = keys_for(headers, conv, lane, ref.key if ref else None)
        session_id = ref.session_id if ref else None  # Plano reports none without a session
        if (prefetch := getattr(self.cache, "prefetch", None)) is not None:  # shared by replicas (proxy.shared_state)
            # Not keys.session_key: nothing stores it in this cache since sessions have their own store
            # (read below); asking for it sent every routed request to Redis.
            await prefetch((keys.turn_key, keys.retry_key), headers)
        if ref is not None and (fetch := getattr(self.sessions, "prefetch", None)) is not None:
            await fetch(ref.key, headers, self.budget is not None)  # budget totals as other replicas left them
        pin = self.pins(client_api)
        cold = ""
        decision: Decision | None = None
        pinned: Pinned | None = None
        if pin:
            follow_up = not conv.is_user_turn  # tool results (or an assistant prefill): part of a turn
            if follow_up:
                why = "tool-result continuation: reused the turn's decision"
                hit = self.cache.get(keys.turn_key)  # Codex names its turn: the most precise key
                if hit is None and (b := sessions_mod.replay(self.sessions, ref, lane)) is not None:
                    anchor = b.anchor_model if b.route_name else None  # no route: the requested model again
                    hit = Pinned(b.route_name, anchor, "session", None, "the session's warm anchor", None)
            else:
                why = "same user turn seen before (retry): reused its decision"
                hit = self.cache.get(keys.retry_key)
            if hit is not None:
                decision = self._replay(hit, resolution, resolver, client_api, session_id, prefs, why)
                pinned = hit if decision is not None else None
            if decision is None and follow_up:
                cold = "continuation with no cached turn decision, routed on the last user message; "
        if decision is None:
            if not conv.messages:
                return Decision(
                    resolution, RouteInfo(reason="no user or assistant text to route on", session_id=session_id),
                    session_id=session_id,
                )
            verdict, latency_ms = await self._ask(prefs, conv)
            decision, pinned = self._apply_verdict(
                verdict, latency_ms, prefs, resolution, resolver, client_api, session_id, cold
            )
        assert pinned is not None
        for key in (keys.turn_key, keys.retry_key) if pin else ():
            self.cache.put(key, pinned)
        if ref is None:
            return decision
        return self._bind(decision, ref, lane, resolver, client_api, headers, body)

    def _bind(
        self,
        d: Decision,
        ref: SessionRef,
        lane: str,
        resolver: Resolver,
        client_api: Api,
        headers: Any,
        body: dict[str, Any],
    ) -> Decision:
        """Record the decision on the session (Plano's session router): warmth, switches, and the routing
        budget's verdict, which may retain the warm anchor instead of the routed model."""
        gate = self.budget.for_request(headers) if self.budget is not None else None
        tokens = context_tokens(body) if gate is not None else 0
        candidate, proposed = model_name(d.resolution), d.route
        sd = sessions_mod.bind(self.sessions, ref, candidate, d.route, lane, tokens, gate, d.resolution.alias)
        info = d.info or RouteInfo()
        if sd.model != candidate:  # retained: serve the anchor
            anchor, _ = self._usable(sd.model, resolver, client_api)
            if anchor is not None:
                kept = dataclasses.replace(
                    d.resolution, provider=anchor.provider, upstream_model=anchor.upstream_model,
                    via="route" if sd.route else d.resolution.via, route=sd.route,
                )
                note = f"routing budget kept the warm anchor {sd.model} instead of {candidate} ({sd.reason})"
                info = dataclasses.replace(info, route=sd.route, reason=_join(info.reason, note))
                models = (sd.model, *(m for m in d.models if m != sd.model))
                d = dataclasses.replace(d, resolution=kept, route=sd.route, models=models)
        info = dataclasses.replace(
            info, session_id=ref.session_id, pinned=sd.warm, switched=sd.switched, decision=sd.decision,
            decision_reason=sd.reason,
            span_attrs=self._span_attrs(ref, sd, gate, candidate, proposed) if self.span_details else (),
        )
        return dataclasses.replace(d, info=info, session_id=ref.session_id, pinned=sd.warm, switched=sd.switched)

    async def _ask(self, prefs: Sequence[RoutingPreference], conv: Conversation) -> tuple[Verdict, float]:
        assert self.backend is not None
        t0 = time.perf_counter()
        timeout = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout):
                verdict = await self.backend.decide(prefs, conv, f"route-{uuid.uuid4().hex[:16]}")
        except TimeoutError:
            verdict = Verdict(error=f"router timed out after {timeout * 1000:.0f} ms")
        return verdict, (time.perf_counter() - t0) * 1000

    def _usable(self, model: str, resolver: Resolver, client_api: Api) -> tuple[Resolution | None, str]:
        try:
            res = resolver.resolve(model)
        except ModelNotFound:
            return None, f"'{model}' is not configured"
        p = res.provider
        if p.key_status == "missing":
            return None, f"'{model}' has no API key"
        if upstream_api_for(client_api, p.apis) is None:
            return None, f"'{model}' speaks no API usable for this client"
        return res, ""

    def _apply_verdict(
        self,
        verdict: Verdict,
        latency_ms: float,
        prefs: Sequence[RoutingPreference],
        resolution: Resolution,
        resolver: Resolver,
        client_api: Api,
        session_id: str | None,
        cold: str,
    ) -> tuple[Decision, Pinned]:
        name = self.backend.name if self.backend else None
        info = RouteInfo(backend=name, latency_ms=round(latency_ms, 2), raw=verdict.raw)

        def keep(reason: str, models: tuple[str, ...] = ()) -> tuple[Decision, Pinned]:
            i = dataclasses.replace(info, reason=cold + reason)
            d = Decision(resolution, i, route=None, models=models, session_id=session_id)
            return d, Pinned(None, None, name, verdict.raw, i.reason, info.latency_ms, _served(resolution))

        if verdict.error:
            return keep(f"{verdict.error}; kept the requested model")
        by_name = {p.name: p for p in prefs}
        known = [r for r in verdict.routes if r in by_name]
        if not known:
            if verdict.routes:
                return keep(
                    f"router named no configured route ({', '.join(verdict.routes)[:120]}); kept the requested model"
                )
            return keep("no route matched; kept the requested model")
        route = known[0]
        ranked = tuple(ranked_models(by_name[route], self.stats, resolver, self.prices))
        problems: list[str] = []
        for model in ranked:
            res, why = self._usable(model, resolver, client_api)
            if res is None:
                problems.append(why)
                continue
            routed = dataclasses.replace(
                resolution, provider=res.provider, upstream_model=res.upstream_model, via="route", route=route
            )
            note = (
                f"router returned {len(verdict.routes)} routes, first known wins; " if len(verdict.routes) > 1 else ""
            )
            reason = (cold + note).rstrip("; ") or None
            if model != ranked[0]:
                reason = (f"{reason}; " if reason else "") + f"skipped {'; '.join(problems)}"
            i = dataclasses.replace(info, route=route, reason=reason)
            return (
                Decision(routed, i, route=route, models=ranked, session_id=session_id),
                Pinned(route, model, name, verdict.raw, reason, info.latency_ms, _served(routed)),
            )
        return keep(
            f"route '{route}' has no usable model ({'; '.join(problems)}); kept the requested model", models=ranked
        )

    def _replay(
        self,
        hit: Pinned,
        resolution: Resolution,
        resolver: Resolver,
        client_api: Api,
        session_id: str | None,
        prefs: Sequence[RoutingPreference],
        why: str,
    ) -> Decision | None:
        origin = f" ({hit.backend}: {hit.reason})" if hit.reason else f" ({hit.backend})" if hit.backend else ""
        info = RouteInfo(route=hit.route, backend="pinned", raw=hit.raw, reason=why + origin)
        if hit.model is None:
            return Decision(resolution, dataclasses.replace(info, route=None), session_id=session_id, pinned=True)
        res, _ = self._usable(hit.model, resolver, client_api)
        if res is None or hit.route not in {p.name for p in prefs}:
            return None  # the config changed under the session: decide afresh
        routed = dataclasses.replace(
            resolution, provider=res.provider, upstream_model=res.upstream_model, via="route", route=hit.route
        )
        models = next((tuple(p.models) for p in prefs if p.name == hit.route), (hit.model,))
        return Decision(routed, info, route=hit.route, models=models, session_id=session_id, pinned=True)


def _served(res: Resolution) -> str:
    return f"{res.provider.name}|{res.upstream_model}"


def model_name(res: Resolution) -> str:
    """The canonical "provider/model" a resolution serves (a wildcard provider names the model it got)."""
    return priced_model(res)


def _join(a: str | None, b: str) -> str:
    return f"{a}; {b}" if a else b


def context_tokens(body: dict[str, Any]) -> int:
    """The context a switch would re-read, request side (Plano: characters ÷ 4 when no tokenizer); the
    binding is refined with the provider's prompt-token count once the answer arrives."""
    try:
        return len(orjson.dumps(body)) // 4
    except TypeError:
        return 0


def _no_session() -> aiohttp.ClientSession:
    raise RuntimeError("no HTTP session: the router LLM backend needs the proxy's session_getter")
