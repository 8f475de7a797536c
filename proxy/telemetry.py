"""Wiring for the proxy's telemetry: Prometheus metrics on `/metrics` (and an optional scraper port), and
OTLP traces when the config's `tracing.random_sampling` is above 0.

`install(server, ...)` must run before the server starts (aiohttp freezes routes and middlewares then);
`await telemetry.start()` opens the separate metrics listener, `stop()` closes it. With metrics off
nothing is installed, so the request path is exactly what it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .cost_hook import Pricer
from .metrics import Metrics
from .server import ProxyServer
from .trace_settings import TraceSettings

if TYPE_CHECKING:
    from .tracing import Tracing


class MetricsListener:
    """`/metrics` alone on its own port, for a Prometheus on another host: no LLM endpoint and no admin
    endpoint is reachable through it, so it needs no token."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics, self.host, self.port = metrics, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, reuse_address=True).start()
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]

    async def _serve(self, request: web.Request) -> web.Response:
        return self.metrics.response()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Telemetry:
    def __init__(self, metrics: Metrics | None, listener: MetricsListener | None, tracing: Tracing | None) -> None:
        self.metrics = metrics
        self.listener = listener
        self.tracing = tracing

    async def start(self) -> None:
        if self.listener is not None:
            await self.listener.start()

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        if self.tracing is not None:
            self.tracing.stop()


def install(
    server: ProxyServer,
    *,
    metrics: bool = True,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    pricer: Pricer | None = None,
    tracing: TraceSettings | None = None,
) -> Telemetry:
    """`tracing`: None reads the config's `tracing:` section (and OTEL_TRACING_GRPC_ENDPOINT)."""
    m: Metrics | None = None
    listener: MetricsListener | None = None
    if metrics:
        m = Metrics(server.state, pricer)
        server.state.bus.subscribe(m, Metrics.TYPES)
        server.routes.count = m.count_response

        async def serve_metrics(request: web.Request) -> web.StreamResponse:
            # Same rule as /admin/*: loopback clients, and the admin token when one is set.
            if (denied := server._admin_denied(request)) is not None:
                return denied
            return m.response()

        server.app.router.add_get("/metrics", serve_metrics)
        if metrics_port is not None:
            listener = MetricsListener(m, metrics_host, metrics_port)
    settings = tracing or TraceSettings.from_config(server.state.config.tracing)
    tr: Tracing | None = None
    if settings.enabled:
        from .tracing import Tracing  # OpenTelemetry and gRPC load only when tracing is on

        tr = Tracing(server.state, settings, pricer)
        server.state.bus.subscribe(tr, Tracing.TYPES)
        server.state.tracer = tr  # the handler asks it for upstream traceparents
        if server.state.router is not None:  # the session router's span attributes, computed from now on
            server.state.router.span_details = True
        if m is not None:
            m.spans_dropped = lambda: tr.dropped
    return Telemetry(m, listener, tr)
