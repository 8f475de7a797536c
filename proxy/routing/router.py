"""`TaskRouter`: the `Router` the handler awaits (proxy/state.py) and the decision API's engine.

Semantics (plano.md §3.2–3.3, §9.3): routing applies only when preferences exist (config or the
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

from ..config import Config, RoutingPreference
from ..errors import ProxyError
from ..events import RouteInfo
from ..providers import Api, upstream_api_for
from ..resolve import ModelNotFound, Resolution, Resolver
from ..stats import Stats
from . import settings as settings_mod
from .backend import Backend, Verdict
from .conversation import Conversation, parse
from .llm import LlmBackend
from .local import LocalBackend
from .pinning import DecisionCache, Keys, Pinned, keys_for
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
    ) -> None:
        self._session_getter = session_getter or _no_session
        self.stats = stats
        self.cache = DecisionCache(settings_mod.DEFAULT_TTL_S, settings_mod.DEFAULT_MAX_ENTRIES)
        self.prefs: tuple[RoutingPreference, ...] = ()
        self.apply(config)

    # ------------------------------------------------------------------ configuration
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
        on = self.settings.route_on_user_only
        return client_api in _PIN_BY_DEFAULT if on is None else on

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
            return resolution, None  # the hot path: no preferences, nothing to do
        d = await self.decide(client_api, body, headers, resolution, resolver, inline_preferences)
        return d.resolution, d.info

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
            return Decision(resolution, None)
        conv = parse(client_api, body if isinstance(body, dict) else {})
        keys = keys_for(headers, conv, resolution.client_model)
        if (prefetch := getattr(self.cache, "prefetch", None)) is not None:  # shared by replicas (proxy.shared_state)
            await prefetch((keys.turn_key, keys.session_key, keys.retry_key), headers)
        pin = self.pins(client_api)
        cold = ""
        if pin:
            follow_up = not conv.is_user_turn  # tool results (or an assistant prefill): part of a turn
            lookups = (keys.turn_key, keys.session_key) if follow_up else (keys.retry_key,)
            why = (
                "tool-result continuation: reused the turn's decision"
                if follow_up
                else "same user turn seen before (retry): reused its decision"
            )
            hit = next((h for k in lookups if (h := self.cache.get(k)) is not None), None)
            if hit is not None and (d := self._replay(hit, resolution, resolver, client_api, keys, prefs, why)):
                return d
            if follow_up:
                cold = "continuation with no cached turn decision, routed on the last user message; "
        if not conv.messages:
            return Decision(
                resolution, RouteInfo(reason="no user or assistant text to route on"), session_id=keys.session
            )
        verdict, latency_ms = await self._ask(prefs, conv)
        decision, pinned = self._apply_verdict(verdict, latency_ms, prefs, resolution, resolver, client_api, keys, cold)
        prev = self.cache.get(keys.session_key)
        switched = prev is not None and prev.served != pinned.served
        for key in (keys.session_key, keys.turn_key, keys.retry_key) if pin else (keys.session_key,):
            self.cache.put(key, pinned)
        return dataclasses.replace(decision, switched=switched)

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
        keys: Keys,
        cold: str,
    ) -> tuple[Decision, Pinned]:
        name = self.backend.name if self.backend else None
        info = RouteInfo(backend=name, latency_ms=round(latency_ms, 2), raw=verdict.raw)

        def keep(reason: str, models: tuple[str, ...] = ()) -> tuple[Decision, Pinned]:
            i = dataclasses.replace(info, reason=cold + reason)
            d = Decision(resolution, i, route=None, models=models, session_id=keys.session)
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
        ranked = tuple(ranked_models(by_name[route], self.stats, resolver))
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
                Decision(routed, i, route=route, models=ranked, session_id=keys.session),
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
        keys: Keys,
        prefs: Sequence[RoutingPreference],
        why: str,
    ) -> Decision | None:
        origin = f" ({hit.backend}: {hit.reason})" if hit.reason else f" ({hit.backend})" if hit.backend else ""
        info = RouteInfo(route=hit.route, backend="pinned", raw=hit.raw, reason=why + origin)
        if hit.model is None:
            return Decision(resolution, dataclasses.replace(info, route=None), session_id=keys.session, pinned=True)
        res, _ = self._usable(hit.model, resolver, client_api)
        if res is None or hit.route not in {p.name for p in prefs}:
            return None  # the config changed under the session: decide afresh
        routed = dataclasses.replace(
            resolution, provider=res.provider, upstream_model=res.upstream_model, via="route", route=hit.route
        )
        models = next((tuple(p.models) for p in prefs if p.name == hit.route), (hit.model,))
        return Decision(routed, info, route=hit.route, models=models, session_id=keys.session, pinned=True)


def _served(res: Resolution) -> str:
    return f"{res.provider.name}|{res.upstream_model}"


def _no_session() -> aiohttp.ClientSession:
    raise RuntimeError("no HTTP session: the router LLM backend needs the proxy's session_getter")
