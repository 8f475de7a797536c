"""The LLM request pipeline: parse → resolve (alias, default, routing) → forward → record.

One `LlmHandler.handle()` call per client request on `/v1/responses`, `/v1/chat/completions` and
`/v1/messages`. Same-API requests are forwarded as raw JSON with only `model` and auth rewritten and
streams relayed byte for byte; other pairs go through proxy.translate. Whatever happens — bad JSON,
unknown model, upstream down, client gone — exactly one terminal event is published in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .config import Provider
from .errors import ProxyError, error_body, extract_error_message
from .events import Attempt, ModelResolved, RequestFailed, RequestFinished, RequestRecord, RequestStarted, RouteInfo
from .providers import Api, upstream_api_for
from .resolve import ModelNotFound, Resolution
from .sse import SseParser
from .state import ProxyState
from .translate import Translation, get_translation
from .upstream import redact_headers, upstream_headers, upstream_url
from .usage import EMPTY, Usage, from_body
from .watch import StreamWatcher, terminal_error_event

_SESSION_HEADERS = ("x-model-affinity", "session-id", "session_id", "x-claude-code-session-id", "thread-id")
_RESPONSE_HEADERS_KEPT = (
    "retry-after",
    "x-request-id",
    "openai-processing-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-models-etag",
    "request-id",
    "anthropic-ratelimit-requests-remaining",
)


@dataclass
class _Ctx:
    """Mutable facts gathered while a request runs; frozen into a `RequestRecord` at the end."""

    request_id: str
    client_api: Api
    path: str
    started_at: float
    t0: float
    client_model: str = ""
    stream: bool = False
    status: int = 0
    resolution: Resolution | None = None
    upstream_api: Api | None = None
    url: str | None = None
    ttft_ms: float | None = None
    usage: Usage = EMPTY
    error: str | None = None
    error_code: str | None = None
    notes: list[str] = field(default_factory=list)
    session_id: str | None = None
    route: RouteInfo | None = None
    attempts: list[Attempt] = field(default_factory=list)
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    upstream_body: bytes | None = None
    captured: list[bytes] = field(default_factory=list)
    captured_n: int = 0

    def fail(self, status: int, message: str, code: str) -> None:
        self.status, self.error, self.error_code = status, message, code

    def capture(self, chunk: bytes, limit: int) -> None:
        if self.captured_n < limit:
            self.captured.append(chunk[: limit - self.captured_n])
            self.captured_n += len(self.captured[-1])

    def record(self, keep_bodies: bool) -> RequestRecord:
        r = self.resolution
        return RequestRecord(
            request_id=self.request_id,
            started_at=self.started_at,
            client_api=self.client_api.value,
            path=self.path,
            client_model=self.client_model,
            stream=self.stream,
            status=self.status,
            latency_ms=(time.perf_counter() - self.t0) * 1000,
            provider=r.provider.name if r else None,
            upstream_model=r.upstream_model if r else None,
            upstream_api=self.upstream_api.value if self.upstream_api else None,
            upstream_url=self.url,
            alias=r.alias if r else None,
            alias_target=r.alias_target if r else None,
            via=r.via if r else None,
            route=self.route,
            ttft_ms=self.ttft_ms,
            usage=self.usage,
            error=self.error,
            error_code=self.error_code,
            notes=tuple(self.notes),
            session_id=self.session_id,
            attempts=tuple(self.attempts),
            request_headers=self.headers,
            request_body=self.body if keep_bodies else None,
            upstream_body=self.upstream_body if keep_bodies else None,
            response_body=b"".join(self.captured) if self.captured else None,
        )


def session_key(headers: Any, body: dict[str, Any]) -> str | None:
    for h in _SESSION_HEADERS:
        v = headers.get(h)
        if v:
            return str(v)
    key = body.get("prompt_cache_key")
    return str(key) if key else None


class LlmHandler:
    def __init__(self, state: ProxyState, session_getter: Any) -> None:
        self.state = state
        self._session = session_getter  # () -> aiohttp.ClientSession, created in the app's cleanup_ctx

    async def handle(self, request: web.Request, client_api: Api) -> web.StreamResponse:
        st = self.state
        ctx = _Ctx(st.next_request_id(), client_api, request.path, time.time(), time.perf_counter())
        response: web.StreamResponse | None = None
        st.in_flight += 1
        try:
            response = await self._run(request, ctx)
            return response
        except ProxyError as exc:
            ctx.fail(exc.status, exc.message, exc.code)
            return self._error_response(ctx, exc)
        except asyncio.CancelledError:
            if not ctx.error:
                ctx.fail(499, "client disconnected", "client_closed_request")
            raise
        except Exception as exc:  # a bug must still produce a log row and a shaped error
            ctx.fail(500, f"internal proxy error: {type(exc).__name__}: {exc}", "proxy_internal_error")
            return self._error_response(ctx, ProxyError(500, ctx.error or "", "proxy_internal_error"))
        finally:
            st.in_flight -= 1
            if not ctx.status:
                ctx.status = 200
            rec = ctx.record(st.options.keep_request_bodies)
            st.bus.publish(RequestFinished(rec) if rec.ok else RequestFailed(rec))

    def _error_response(self, ctx: _Ctx, exc: ProxyError) -> web.Response:
        body = error_body(ctx.client_api, exc.status, exc.message, exc.code, ctx.request_id)
        ctx.capture(body, self.state.options.capture_bytes)
        headers = {"x-request-id": ctx.request_id, **exc.headers}
        return web.Response(status=exc.status, body=body, content_type="application/json", headers=headers)

    async def _run(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        st = self.state
        opts = st.options
        ctx.headers = redact_headers(request.headers)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ProxyError(
                413, f"request body exceeds the proxy limit of {opts.max_body_bytes} bytes", "request_too_large"
            ) from None
        ctx.body = raw
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ProxyError(400, f"request body is not valid JSON: {exc}", "invalid_json") from None
        if not isinstance(body, dict):
            raise ProxyError(400, "request body must be a JSON object", "invalid_request")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise ProxyError(400, "`model` must be a string", "invalid_request")
        ctx.client_model = model or ""
        ctx.stream = body.get("stream") is True
        ctx.session_id = session_key(request.headers, body)
        st.bus.publish(
            RequestStarted(
                ctx.request_id,
                ctx.started_at,
                ctx.client_api.value,
                ctx.path,
                ctx.client_model,
                ctx.stream,
                ctx.session_id,
            )
        )
        inline_prefs = body.pop("routing_preferences", None)
        changed = inline_prefs is not None
        resolver = st.resolver  # read once: a reload mid-request does not affect this request
        try:
            res = resolver.resolve(model)
        except ModelNotFound as exc:
            status = 404 if ctx.client_api is Api.MESSAGES else 400
            hint = ", ".join(resolver.model_choices()[:8]) + ", " + ", ".join(a.name for a in st.aliases.items())
            raise ProxyError(status, f"{exc}. Configured: {hint.strip(', ')}", "model_not_found") from None
        ctx.resolution = res
        if st.router is not None:
            res, ctx.route = await st.router.route(ctx.client_api, body, request.headers, res, resolver, inline_prefs)
            ctx.resolution = res
        provider = res.provider
        self._check_key(provider)
        up_api = upstream_api_for(ctx.client_api, provider.apis)
        if up_api is None:
            raise ProxyError(
                400, f"provider '{provider.name}' speaks no API this proxy can use", "unsupported_provider"
            )
        ctx.upstream_api = up_api
        st.bus.publish(
            ModelResolved(
                ctx.request_id,
                ctx.client_model,
                provider.name,
                res.upstream_model,
                up_api.value,
                res.alias_target,
                res.route,
            )
        )
        translation: Translation | None = None
        state: Any = None
        if up_api is ctx.client_api:
            if changed or body.get("model") != res.upstream_model:
                body["model"] = res.upstream_model
                payload = orjson.dumps(body)
            else:
                payload = raw
        else:
            translation = get_translation(ctx.client_api, up_api)
            if translation is None:
                raise ProxyError(
                    501,
                    f"translation {ctx.client_api.value}→{up_api.value} is not available (provider '{provider.name}')",
                    "translation_unavailable",
                )
            tr = translation.request(body, res.upstream_model)
            ctx.notes.extend(tr.notes)
            state = tr.state
            payload = orjson.dumps(tr.body)
        if payload is not raw:
            ctx.upstream_body = payload
        ctx.url = upstream_url(provider, up_api, res.upstream_model)
        headers = upstream_headers(provider, up_api, ctx.client_api, request.headers, ctx.request_id)
        return await self._forward(request, ctx, provider, payload, headers, translation, state)

    def _check_key(self, provider: Provider) -> None:
        if provider.key_status != "missing":
            return
        var = provider.key_env or "the provider's API key variable"
        # 400, not 401: Codex retries a 401 six times and Claude Code for minutes; a missing key is
        # deterministic, so the client should stop at once and show the message.
        raise ProxyError(
            400,
            f"provider '{provider.name}' has no API key: export {var}=... (or add it to the .env beside "
            f"config.yaml) and restart or reload",
            "missing_api_key",
        )

    async def _forward(
        self,
        request: web.Request,
        ctx: _Ctx,
        provider: Provider,
        payload: bytes,
        headers: dict[str, str],
        translation: Translation | None,
        state: Any,
    ) -> web.StreamResponse:
        opts = self.state.options
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=opts.connect_timeout_s, sock_read=opts.idle_timeout_s)
        t_attempt = time.perf_counter()
        assert ctx.url is not None and ctx.upstream_api is not None
        try:
            up_cm = self._session().post(ctx.url, data=payload, headers=headers, timeout=timeout)
            up = await up_cm.__aenter__()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            msg = f"provider '{provider.name}' unreachable at {provider.display_url}: {_exc_text(exc)}"
            ctx.attempts.append(
                Attempt(
                    provider.name,
                    ctx.resolution.upstream_model if ctx.resolution else "",
                    None,
                    msg,
                    (time.perf_counter() - t_attempt) * 1000,
                )
            )
            raise ProxyError(502, msg, "upstream_unreachable") from None
        try:
            if up.status >= 400:
                return await self._upstream_error(request, ctx, provider, up, translation)
            ctype = up.headers.get("Content-Type", "")
            if "text/event-stream" in ctype:
                return await self._relay_stream(request, ctx, up, translation, state)
            data = await up.read()
            ctx.ttft_ms = ctx.ttft_ms or (time.perf_counter() - ctx.t0) * 1000
            ctx.status = up.status
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
            ctx.usage = from_body(obj)
            if translation is not None:
                if not isinstance(obj, dict):
                    raise ProxyError(
                        502, f"provider '{provider.name}' returned a non-JSON body", "bad_upstream_response"
                    )
                data = orjson.dumps(translation.response(obj, state))
            ctx.capture(data, opts.capture_bytes)
            return web.Response(
                status=up.status, body=data, content_type="application/json", headers=self._kept_headers(up, ctx)
            )
        finally:
            await up_cm.__aexit__(None, None, None)

    def _kept_headers(self, up: aiohttp.ClientResponse, ctx: _Ctx) -> dict[str, str]:
        h = {k: up.headers[k] for k in _RESPONSE_HEADERS_KEPT if k in up.headers}
        h["x-request-id"] = ctx.request_id
        return h

    async def _upstream_error(
        self,
        request: web.Request,
        ctx: _Ctx,
        provider: Provider,
        up: aiohttp.ClientResponse,
        translation: Translation | None,
    ) -> web.Response:
        data = await up.read()
        msg = extract_error_message(data) or f"HTTP {up.status}"
        ctx.fail(up.status, f"{provider.name}: {msg}", "upstream_error")
        ctx.ttft_ms = None
        if translation is not None or not _is_json(data):
            data = error_body(
                ctx.client_api,
                up.status,
                f"upstream provider '{provider.name}' answered {up.status}: {msg}",
                _code_for(up.status),
                ctx.request_id,
            )
        ctx.capture(data, self.state.options.capture_bytes)
        return web.Response(
            status=up.status, body=data, content_type="application/json", headers=self._kept_headers(up, ctx)
        )

    async def _relay_stream(
        self,
        request: web.Request,
        ctx: _Ctx,
        up: aiohttp.ClientResponse,
        translation: Translation | None,
        state: Any,
    ) -> web.StreamResponse:
        opts = self.state.options
        resp = web.StreamResponse(status=up.status, headers=self._kept_headers(up, ctx))
        resp.content_type = "text/event-stream"
        resp.headers["Cache-Control"] = "no-cache"
        await resp.prepare(request)
        ctx.status = up.status
        parser = SseParser()
        watcher = StreamWatcher(ctx.client_api) if translation is None else None
        st = translation.stream(state) if translation is not None else None
        limit = opts.capture_bytes
        t0 = ctx.t0
        try:
            async for chunk in up.content.iter_any():
                if translation is None:
                    if ctx.ttft_ms is None and b"delta" in chunk:
                        ctx.ttft_ms = (time.perf_counter() - t0) * 1000
                    await resp.write(chunk)
                    if ctx.captured_n < limit:
                        ctx.capture(chunk, limit)
                    for ev in parser.feed(chunk):
                        watcher.observe(ev)  # type: ignore[union-attr]
                else:
                    out = b"".join([st.feed(ev) for ev in parser.feed(chunk)])  # type: ignore[union-attr]
                    if out:
                        if ctx.ttft_ms is None and b"delta" in out:
                            ctx.ttft_ms = (time.perf_counter() - t0) * 1000
                        await resp.write(out)
                        if ctx.captured_n < limit:
                            ctx.capture(out, limit)
            tail_events = parser.close()
            if translation is None:
                for ev in tail_events:
                    watcher.observe(ev)  # type: ignore[union-attr]
                if not watcher.done:  # type: ignore[union-attr]
                    ctx.fail(ctx.status, "upstream stream ended before completion", "stream_incomplete")
                    await resp.write(
                        terminal_error_event(
                            ctx.client_api, "upstream stream ended before completion", "stream_incomplete"
                        )
                    )
            else:
                out = b"".join([st.feed(ev) for ev in tail_events]) + st.finish()  # type: ignore[union-attr]
                if out:
                    await resp.write(out)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            await self._end_stream(ctx, resp, st, f"upstream stream broke: {_exc_text(exc)}", "stream_interrupted")
        except asyncio.CancelledError:
            if not self.state.draining:  # the client went away: nothing left to tell it
                raise
            # Shutdown after the drain period: end the stream with a terminal event, not a cut.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._end_stream(ctx, resp, st, "the proxy is shutting down", "proxy_shutdown")
        if translation is None:
            ctx.usage = watcher.usage  # type: ignore[union-attr]
            if watcher.error and not ctx.error:  # type: ignore[union-attr]
                ctx.error, ctx.error_code = watcher.error, watcher.error_code  # type: ignore[union-attr]
        else:
            ctx.usage = st.usage  # type: ignore[union-attr]
            if st.error and not ctx.error:  # type: ignore[union-attr]
                ctx.error, ctx.error_code = st.error, "upstream_error"  # type: ignore[union-attr]
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    async def _end_stream(self, ctx: _Ctx, resp: web.StreamResponse, st: Any, message: str, code: str) -> None:
        """Terminate a client stream in its own grammar after a failure mid-stream."""
        ctx.fail(ctx.status, message, code)
        tail = st.fail(message, code) if st is not None else terminal_error_event(ctx.client_api, message, code)
        if tail:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(resp.write(tail), 1.0)


def _is_json(data: bytes) -> bool:
    s = data.lstrip()[:1]
    return s in (b"{", b"[")


def _code_for(status: int) -> str:
    return {
        400: "invalid_request",
        401: "upstream_auth_failed",
        403: "permission_denied",
        404: "not_found",
        408: "timeout",
        413: "request_too_large",
        429: "rate_limit_exceeded",
    }.get(status, "upstream_error" if status >= 500 else "invalid_request")


def _exc_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]
