"""The client's side of a streamed answer: prepared lazily, kept alive with heartbeats.

Nothing is sent to a streaming client until the proxy commits to an upstream (so failover can still
happen), except heartbeats: while the router or a slow upstream keeps the client waiting longer than
`interval`, real events go out that reset the client's idle timer. For Codex an SSE comment does not
count (docs/codex-wire.md §5) but any `data:` event with an unknown type does; Anthropic clients get
`ping` events, which their grammar allows anywhere; Chat clients get SSE comments.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .wire.providers import Api

_BEATS = {
    Api.RESPONSES: b'event: keepalive\ndata: {"type":"keepalive"}\n\n',
    Api.MESSAGES: b'event: ping\ndata: {"type": "ping"}\n\n',
    Api.CHAT: b": keepalive\n\n",
}


class ClientStream:
    def __init__(self, request: web.Request, api: Api, interval: float, headers: dict[str, str]) -> None:
        self.request = request
        self.api = api
        self.interval = interval
        self.headers = headers
        self.resp: web.StreamResponse | None = None
        self.heartbeats = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def started(self) -> bool:
        return self.resp is not None

    async def start(self, status: int = 200, headers: dict[str, str] | None = None) -> web.StreamResponse:
        async with self._lock:
            return await self._start(status, headers)

    async def _start(self, status: int = 200, headers: dict[str, str] | None = None) -> web.StreamResponse:
        if self.resp is None:
            # The header itself, not the `content_type` property, which parses and rebuilds it.
            resp = web.StreamResponse(status=status, headers={
                **self.headers, **(headers or {}), "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(self.request)
            self.resp = resp
        return self.resp

    def start_heartbeats(self) -> None:
        # A timer, not a task: most streams start long before the first beat is due, and cancelling a
        # timer is far cheaper than creating and cancelling a task per request.
        if self.interval > 0 and self._timer is None and self._task is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._first_beat)

    def _first_beat(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._beat(first_now=True))

    async def stop_heartbeats(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _beat(self, first_now: bool = False) -> None:
        frame = _BEATS[self.api]
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                if not first_now:
                    await asyncio.sleep(self.interval)
                first_now = False
                async with self._lock:
                    resp = await self._start()
                    await resp.write(frame)
                    self.heartbeats += 1
