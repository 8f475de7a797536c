"""`ProxyServer`: the aiohttp application, its routes and its lifetime.

Used as an async context manager by the composition root (plano_tui/cli.py) and by tests:

    async with ProxyServer(state, host="127.0.0.1", port=0) as server:
        ...  # server.url, server.port

One shared aiohttp `ClientSession` (cost feeds, the router model, requests through an outbound proxy)
and the handler's `UpstreamClient` (every other model request: proxy.upstream_http) live in the app's
`cleanup_ctx`. Handler cancellation is on, so a client that disconnects cancels its upstream request
(and closes that upstream connection). Shutdown drains in-flight requests for
`options.drain_s`, then cancels them (each ends its stream with a terminal error event).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from . import notices
from .admin_stream import AdminStream
from .cost import configured_models
from .counted_routes import CountedRoutes
from .handler import LlmHandler
from .routing import install as install_routing
from .routing.api import add_routes as add_routing_routes
from .state import ProxyState
from .wire.providers import Api

SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)
STATE_KEY = web.AppKey("state", ProxyState)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def is_loopback(request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class ProxyServer:
    def __init__(self, state: ProxyState, host: str = "127.0.0.1", port: int = 12000) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._notices: notices.LogNotices | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.handler = LlmHandler(state, self._get_session, self._tasks)
        self.admin_stream = AdminStream(state)  # dashboards attached from other processes
        self.app = self._make_app()
        install_routing(state, self._get_session)

    # ------------------------------------------------------------------ lifecycle
    def _get_session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "server not started"
        return self._session

    async def _session_ctx(self, app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        # No cookie jar: a proxy shared by several clients must not hand one client's upstream cookies
        # (Cloudflare's __cf_bm on api.openai.com, say) to the next, nor filter and store them per request.
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False,
                                              cookie_jar=aiohttp.DummyCookieJar())
        app[SESSION_KEY] = self._session
        # Prices load in the background (proxy.cost): a request never waits for one.
        self.state.prices.start(self._get_session, configured_models(self.state.config))
        yield
        await self.state.prices.stop()
        await self.handler.upstream.close()
        await self._session.close()

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.state.options.max_body_bytes)
        app[STATE_KEY] = self.state
        app.cleanup_ctx.append(self._session_ctx)
        r = app.router
        for prefix in ("/v1", "", "/v1/v1"):  # `/v1/v1/messages`: Claude Code with a base URL ending in /v1
            r.add_post(f"{prefix}/responses", self._responses)
            r.add_post(f"{prefix}/chat/completions", self._chat)
            r.add_post(f"{prefix}/messages", self._messages)
            r.add_post(f"{prefix}/messages/count_tokens", self._count_tokens)
        # Every other route is counted for /metrics as its handler returns (proxy.counted_routes).
        self.routes = c = CountedRoutes(r)
        c.add_get("/v1/models", self._models)
        c.add_get("/models", self._models)
        c.add_get("/healthz", self._healthz)
        c.add_get("/admin/aliases", self._admin_aliases)
        c.add_put("/admin/aliases", self._admin_set_alias)
        c.add_post("/admin/aliases", self._admin_set_alias)
        c.add_get("/admin/stats", self._admin_stats)
        c.add_post("/admin/reload", self._admin_reload)
        self.admin_stream.add_routes(c, self._admin_denied)
        add_routing_routes(c, self.state)  # POST /routing/v1/…: routing decisions without a model call
        c.add_fallback()
        return app

    async def start(self) -> None:
        # From now on the core's warnings are events too (proxy.notices): the dashboard shows them. First,
        # so the price feeds that start with the app (proxy.cost) are covered from their first fetch.
        self._notices = notices.attach(self.state.bus)
        try:
            await self._start()
        except BaseException:
            notices.detach(self._notices)
            self._notices = None
            raise

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            self.app,
            handler_cancellation=True,
            shutdown_timeout=0.5,  # we drain ourselves in stop(); aiohttp's default would wait 60 s
            access_log=None,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, backlog=1024)
        await site.start()
        addrs = self._runner.addresses
        if addrs:
            self.port = addrs[0][1]

    async def stop(self, drain_s: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish for `drain_s`, then cancel the rest."""
        if self._runner is None:
            return
        self.state.draining = True
        for site in list(self._runner.sites):
            await site.stop()
        drain = self.state.options.drain_s if drain_s is None else drain_s
        deadline = asyncio.get_running_loop().time() + drain
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._tasks):
            task.cancel("proxy shutting down")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        await self._runner.cleanup()
        self._runner = None
        if self._notices is not None:
            notices.detach(self._notices)
            self._notices = None

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ LLM endpoints
    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self.handler.handle(request, Api.RESPONSES)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self.handler.handle(request, Api.CHAT)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self.handler.handle(request, Api.MESSAGES)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        return await self.handler.count_tokens(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        # pid: `planoai up` knows the process it started is the one answering
        return _json({"status": "ok", "in_flight": self.state.in_flight, "pid": os.getpid()})

    async def _models(self, request: web.Request) -> web.Response:
        st = self.state
        if "client_version" in request.query:  # Codex's model catalog request (docs/codex-wire.md §2)
            from .catalog import codex_catalog  # lazy: only Codex asks, once per process

            resp = _json(codex_catalog(st))
            resp.headers["ETag"] = st.models_etag
            return resp
        data = [
            {"id": p.model, "object": "model", "created": 0, "owned_by": p.prefix}
            for p in st.config.providers
            if not p.internal and not p.wildcard
        ]
        data += [
            {"id": a.name, "object": "model", "created": 0, "owned_by": "alias", "target": a.target}
            for a in st.aliases.items()
        ]
        return _json({"object": "list", "data": data})

    # ------------------------------------------------------------------ admin (loopback only)
    def _admin_denied(self, request: web.Request) -> web.Response | None:
        if not is_loopback(request):
            return _json({"error": {"message": "admin endpoints accept loopback clients only"}}, 403)
        token = self.state.options.admin_token
        if token and request.headers.get("Authorization") != f"Bearer {token}":
            return _json({"error": {"message": "admin token required"}}, 401)
        return None

    async def _admin_aliases(self, request: web.Request) -> web.Response:
        if (denied := self._admin_denied(request)) is not None:
            return denied
        return _json(
            {
                "aliases": {a.name: a.target for a in self.state.aliases.items()},
                "models": self.state.resolver.model_choices(),
            }
        )

    async def _admin_set_alias(self, request: web.Request) -> web.Response:
        if (denied := self._admin_denied(request)) is not None:
            return denied
        try:
            body = orjson.loads(await request.read())
            alias, target = str(body["alias"]), str(body["target"])
            source = "dashboard" if body.get("source") == "dashboard" else "admin"  # an attached dashboard
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return _json({"error": {"message": 'body must be {"alias": "...", "target": "..."}'}}, 400)
        try:
            old = self.state.set_alias(alias, target, source=source)
        except ValueError as exc:
            return _json({"error": {"message": str(exc), "models": self.state.resolver.model_choices()}}, 400)
        return _json({"alias": alias, "old_target": old, "target": target})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        if (denied := self._admin_denied(request)) is not None:
            return denied
        snap = self.state.stats.snapshot()
        return _json(
            {
                "asyncio_tasks": len(asyncio.all_tasks()),
                "open_fds": _open_fds(),
                "in_flight": self.state.in_flight,
                "requests": snap.requests,
                "errors": snap.errors,
                "latency_p50": snap.total.latency_p50 if snap.total else None,
                "uptime_s": time.time() - self.state.started_at,
                "aliases": {a.name: a.target for a in self.state.aliases.items()},
                "dropped_events": self.state.bus.dropped,
                # What is out of service now (proxy.notices): a shared Redis, the OTLP collector, a cost feed.
                "degraded": [
                    {"subject": n.subject, "since": n.at, "message": n.message} for n in self.state.degraded.values()
                ],
                "viewers": self.admin_stream.viewers,
                "viewer_events_skipped": self.admin_stream.skipped,
                "providers": {
                    k: {
                        "requests": v.requests,
                        "errors": v.errors,
                        "latency_p50": v.latency_p50,
                        "latency_p95": v.latency_p95,
                        "ttft_p50": v.ttft_p50,
                        **_token_fields(v),
                        **_cost_fields(v),
                    }
                    for k, v in snap.providers.items()
                },
                "tokens": _token_fields(snap.total) if snap.total else None,
                "cost": _cost_fields(snap.total) if snap.total else None,
                "alias_costs": {k: {"requests": v.requests, **_token_fields(v), **_cost_fields(v)}
                                for k, v in snap.aliases.items()},
                "sessions": {k: {"requests": v.requests, **_token_fields(v), **_cost_fields(v)}
                             for k, v in snap.sessions.items()},
                "prices": {"sources": list(self.state.prices.errors) or [s.url for s in self.state.prices.sources],
                           "errors": self.state.prices.errors, "builtin": self.state.prices.builtin.error or "ok"},
            }
        )

    async def _admin_reload(self, request: web.Request) -> web.Response:
        if (denied := self._admin_denied(request)) is not None:
            return denied
        reloader = self.state.reloader
        if reloader is None:
            return _json({"error": {"message": "this proxy was started without a config file to reload"}}, 409)
        ok, message = reloader.reload_now()
        return _json({"ok": ok, "message": message}, 200 if ok else 400)


def _token_fields(g: Any) -> dict[str, int]:
    """A stats group's tokens: input counts every prompt token, cache reads and writes included."""
    return {"input_tokens": g.input_tokens, "cached_tokens": g.cached_tokens,
            "cache_write_tokens": g.cache_write_tokens, "output_tokens": g.output_tokens}


def _cost_fields(g: Any) -> dict[str, Any]:
    """A stats group's cost in USD (None: nothing priced), split as Plano prices it."""
    return {
        "cost_usd": g.cost_usd,
        "cost_input_usd": g.cost_input,
        "cost_cached_usd": g.cost_cached,
        "cost_output_usd": g.cost_output,
        "priced_requests": g.priced,
    }
