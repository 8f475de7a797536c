"""Emulated upstream providers on 127.0.0.1 for the tests: OpenAI Responses, Chat Completions and
Anthropic Messages, streaming and not, with scriptable faults (status codes, cut streams, stalls,
byte-level chunking).

The answers and the refusals are the simulated providers' (plano_tui/upstream_sim.py, which the demo
uses too): like the real services, the fake refuses what they refuse before any scripted answer (OpenAI's
codex models on /chat/completions, reasoning parameters a model does not take, a tool output that answers
no tool call, ...). Its builders are re-exported here for the tests' imports.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from plano_tui.upstream_sim import (
    NOT_A_CHAT_MODEL,
    chat_body,
    chat_events,
    count_tokens,
    messages_body,
    messages_events,
    refusal,
    responses_body,
    responses_events,
    sse,
)

__all__ = [
    "NOT_A_CHAT_MODEL", "Captured", "FakeUpstream", "Script", "chat_body", "chat_events", "count_tokens",
    "messages_body", "messages_events", "responses_body", "responses_events", "sse",
]


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)


@dataclass
class Script:
    """One scripted answer. `frames` are raw SSE byte frames (sent as given, then `chunk_size` split)."""

    status: int = 200
    json: Any = None
    frames: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    frame_delay: float = 0.0
    chunk_size: int | None = None  # split the whole stream into chunks of this many bytes
    cut_after: int | None = None  # drop the connection after this many frames
    stall: float = 0.0  # sleep after the frames before EOF
    raw: bytes | None = None
    content_type: str = "application/json"


class FakeUpstream:
    """One loopback server answering every API; `script(path_suffix, Script(...))` queues answers."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.scripts: dict[str, deque[Script]] = {}
        self.cancelled = 0  # requests whose client went away mid-answer
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, suffix: str, *answers: Script) -> None:
        self.scripts.setdefault(suffix, deque()).extend(answers)

    def last(self, suffix: str | None = None) -> Captured:
        for c in reversed(self.requests):
            if suffix is None or c.path.endswith(suffix):
                return c
        raise AssertionError(f"no request to {suffix}")

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(Captured(request.method, request.path, dict(request.headers), raw))
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        refused = refusal(request.path, body)
        if refused is not None:  # before any scripted answer: that one is for a request the service takes
            return web.Response(status=refused[0], body=orjson.dumps(refused[1]), content_type="application/json")
        if request.path.endswith(("/responses/input_tokens", "/messages/count_tokens")):
            return web.json_response({"object": "response.input_tokens", "input_tokens": count_tokens(body)})
        suffix = next((s for s in self.scripts if request.path.endswith(s) and self.scripts[s]), None)
        script = self.scripts[suffix].popleft() if suffix else None
        try:
            return await self._answer(request, body, script)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def _answer(self, request: web.Request, body: dict, script: Script | None) -> web.StreamResponse:
        model = body.get("model", "?") if isinstance(body, dict) else "?"
        stream = isinstance(body, dict) and body.get("stream") is True
        path = request.path
        if script is None:
            script = Script()
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.raw is not None:
            return web.Response(
                status=script.status, body=script.raw, content_type=script.content_type, headers=script.headers
            )
        if script.status >= 400 or script.json is not None:
            payload = script.json if script.json is not None else {"error": {"message": "boom", "type": "server_error"}}
            return web.Response(
                status=script.status,
                body=orjson.dumps(payload),
                content_type="application/json",
                headers=script.headers,
            )
        frames = script.frames
        if frames is None and not stream:
            if path.endswith("/responses"):
                payload = responses_body(model)
            elif path.endswith("/messages"):
                payload = messages_body(model)
            else:
                payload = chat_body(model)
            return web.Response(body=orjson.dumps(payload), content_type="application/json", headers=script.headers)
        if frames is None:
            if path.endswith("/responses"):
                frames = responses_events(model)
            elif path.endswith("/messages"):
                frames = messages_events(model)
            else:
                frames = chat_events(model)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **script.headers})
        await resp.prepare(request)
        if script.cut_after is not None:
            frames = frames[: script.cut_after]
        if script.chunk_size:
            blob = b"".join(frames)
            frames = [blob[i : i + script.chunk_size] for i in range(0, len(blob), script.chunk_size)]
        for f in frames:
            await resp.write(f)
            if script.frame_delay:
                await asyncio.sleep(script.frame_delay)
        if script.stall:
            await asyncio.sleep(script.stall)
        if script.cut_after is not None:
            # Drop the connection without a proper chunked-encoding end: a cut stream.
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp
