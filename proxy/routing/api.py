"""Decision-only endpoints, Plano's `/routing/v1/{responses,chat/completions,messages}` (docs/routing-api.md).

Same body as the LLM endpoint; the answer is the routing decision, and no model is called:
`{models: [ranked], route: name|null, trace_id, session_id?, pinned, switched}` plus our extras
(`provider`, `upstream_model`, `backend`, `latency_ms`, `raw`, `reason`). Aliases are resolved first,
as on the real endpoints, and decisions share the session/turn cache with real traffic, so a client that
asks here and then calls providers itself still gets turn pinning. Bad input gets a 4xx in the client
API's own error shape. `switched`: this session's previous decision (same requested model) served a
different model.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from ..counted_routes import RouteAdder
from ..errors import ProxyError, error_body
from ..intake import parse_client_body, read_body, resolve_or_4xx
from ..resolve import ModelNotFound, Resolution, Resolver
from ..state import ProxyState
from ..wire.providers import Api
from .router import Decision, TaskRouter, model_name

PATHS = (
    ("/routing/v1/responses", Api.RESPONSES),
    ("/routing/v1/chat/completions", Api.CHAT),
    ("/routing/v1/messages", Api.MESSAGES),
)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def add_routes(router: RouteAdder, state: ProxyState) -> None:
    for path, api in PATHS:
        router.add_post(path, _endpoint(state, api))


def _endpoint(state: ProxyState, api: Api) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            return await decide(request, state, api)
        except ProxyError as exc:
            return web.Response(
                status=exc.status,
                body=error_body(api, exc.status, exc.message, exc.code),
                content_type="application/json",
            )

    return handle


def _canonical(model: str, resolver: Resolver) -> str:
    try:
        return _name(resolver.resolve(model))
    except ModelNotFound:
        return model


def _name(res: Resolution) -> str:
    return model_name(res)


def _trace_id(request: web.Request) -> str:
    m = _TRACEPARENT.match(request.headers.get("traceparent", "").strip().lower())
    return m.group(1) if m else uuid.uuid4().hex


async def decide(request: web.Request, state: ProxyState, api: Api) -> web.Response:
    started, t0 = time.time(), time.perf_counter()
    body, model = parse_client_body(await read_body(request, state.options.max_body_bytes))
    inline = body.pop("routing_preferences", None)
    resolver = state.resolver
    res = resolve_or_4xx(resolver, state.aliases, model, api)
    router = state.router
    if isinstance(router, TaskRouter):
        d = await router.decide(api, body, request.headers, res, resolver, inline)
    else:
        d = Decision(res, None)
    info = d.info
    out: dict[str, Any] = {
        "models": [_canonical(m, resolver) for m in d.models] if d.route else [_name(d.resolution)],
        "route": d.route,
        "trace_id": _trace_id(request),
    }
    if d.session_id:
        out["session_id"] = d.session_id
    out |= {
        "pinned": d.pinned,
        "switched": d.switched,
        "provider": d.resolution.provider.name,
        "upstream_model": d.resolution.upstream_model,
        "backend": info.backend if info else None,
        "latency_ms": info.latency_ms if info else None,
        "raw": info.raw if info else None,
        "reason": info.reason if info else None,
    }
    if state.tracer is not None:  # OTLP tracing on: the decision is a plano(routing) span (proxy.tracing)
        out["trace_id"] = state.tracer.routing_call(request.headers, _call(request, started, t0, model, res, d, out))
    return web.Response(body=orjson.dumps(out), content_type="application/json")


def _call(
    request: web.Request, started: float, t0: float, model: str | None, res: Resolution, d: Decision,
    out: dict[str, Any],
) -> Any:
    from ..tracing import RoutingCall  # loaded only when tracing is on

    info = d.info
    return RoutingCall(
        path=request.path,
        started_at=started,
        duration_ms=(time.perf_counter() - t0) * 1000,
        status=200,
        requested=model or "",
        alias_target=res.alias_target,
        selected=out["models"][0] if d.route else None,
        route=d.route,
        session_id=d.session_id,
        pinned=d.pinned,
        backend=info.backend if info else None,
        determination_ms=info.latency_ms if info else None,
        reason=info.reason if info else None,
        span_attrs=info.span_attrs if info else (),
    )
