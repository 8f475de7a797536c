"""The routes other than the LLM endpoints, counted for /metrics without an `on_response_prepare` signal.

Once any receiver is registered, aiohttp sends that signal for every response of every route: ~2 µs on
each LLM request for a counter that concerns only the other routes (LLM requests are counted from their
records, proxy.metrics). So those routes are registered through `CountedRoutes`, which wraps each
handler, and a catch-all route answers what matches no route (aiohttp's own 404 / 405, counted too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (request, status, the response when the handler returned one rather than raising an HTTP exception)
Count = Callable[[web.Request, int, web.StreamResponse | None], None]


class RouteAdder(Protocol):
    """What modules that add routes need of a router (aiohttp's, or `CountedRoutes`)."""

    def add_get(self, path: str, handler: Handler) -> object: ...

    def add_post(self, path: str, handler: Handler) -> object: ...

    def add_put(self, path: str, handler: Handler) -> object: ...


class CountedRoutes:
    def __init__(self, router: web.UrlDispatcher) -> None:
        self.router = router
        self.count: Count | None = None  # set while metrics are on (proxy.telemetry)
        self._fallback: web.AbstractResource | None = None

    def wrap(self, handler: Handler) -> Handler:
        async def counted(request: web.Request) -> web.StreamResponse:
            try:
                resp = await handler(request)
            except web.HTTPException as exc:
                if (count := self.count) is not None:
                    count(request, exc.status, None)
                raise
            except Exception:  # aiohttp answers 500 for a handler that crashed
                if (count := self.count) is not None:
                    count(request, 500, None)
                raise
            if (count := self.count) is not None:
                count(request, resp.status, resp)
            return resp

        return counted

    def add_get(self, path: str, handler: Handler) -> web.AbstractRoute:
        return self.router.add_get(path, self.wrap(handler))

    def add_post(self, path: str, handler: Handler) -> web.AbstractRoute:
        return self.router.add_post(path, self.wrap(handler))

    def add_put(self, path: str, handler: Handler) -> web.AbstractRoute:
        return self.router.add_put(path, self.wrap(handler))

    def add_fallback(self) -> None:
        """A catch-all for any method and path, answering as aiohttp would without it. aiohttp tries the
        most specific path prefix first, so it only gets what no other route matches."""
        self._fallback = self.router.add_route("*", "/{tail:.*}", self.wrap(self._no_route)).resource

    async def _no_route(self, request: web.Request) -> web.StreamResponse:
        allowed: set[str] = set()
        for resource in request.app.router.resources():
            if resource is not self._fallback:
                allowed |= (await resource.resolve(request))[1]
        if allowed:  # the path exists, with other methods
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()
