"""The LLM request pipeline: parse → resolve (alias, default, routing) → forward → record.

One `LlmHandler.handle()` call per client request on `/v1/responses`, `/v1/chat/completions` and
`/v1/messages`. Same-API requests are forwarded as raw JSON with only `model` and auth rewritten and
streams relayed byte for byte; other pairs go through proxy.translate. Whatever happens — bad JSON,
unknown model, upstream down, client gone — exactly one terminal event is published in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .client_stream import ClientStream
from .config import Provider, find_provider
from .cost import Cost, priced_model
from .errors import ProxyError, error_body, extract_error_message
from .events import (
    Attempt,
    AttemptFailed,
    FirstToken,
    ModelResolved,
    RequestFailed,
    RequestFinished,
    RequestRecord,
    RequestStarted,
    RouteInfo,
    Timing,
    record_from_fields,
    succeeded,
)
from .health import parse_retry_after
from .intake import parse_client_body, read_body, resolve_or_4xx, session_key
from .payload import build_payload
from .relay import PassthroughRelay, Relay, TranslatedRelay
from .resolve import ModelNotFound, Resolution, upstream_model_for
from .state import ProxyState
from .tls import wait_ready
from .translate import Translation, get_translation
from .turns import agent_of, fit_window, tool_names_of, turn_facts
from .upstream import proxy_environment, proxy_for, redact_headers, upstream_headers, upstream_url
from .upstream_http import Answer, UpstreamClient, UpstreamError, post_via_proxy
from .watch import terminal_error_event
from .wire.errors import Untranslatable
from .wire.models import caps_of
from .wire.providers import Api, upstream_api_for
from .wire.usage import EMPTY, Usage, from_body

# OpenAI's answer on /chat/completions for a Responses-only model (the codex family).
_NOT_CHAT = re.compile(rb"not a chat model", re.I)
_CHAT_ONLY = frozenset({Api.CHAT})
# What OpenAI's `POST /responses/input_tokens` takes of a request.
_INPUT_TOKENS_FIELDS = frozenset({"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
                                  "reasoning", "text"})
_COUNT_TIMEOUT_S = 10.0
_MAX_HELD_BYTES = 1 << 20  # bytes held back for failover before committing to an upstream anyway
_BYTES_PER_TOKEN = 4  # English and code in JSON: about 4 bytes a token (a guess, not a floor)
_GUESS_MIN_TOKENS = 16_000  # below this no configured window is at risk: no guess, no lookups
_RESPONSE_HEADERS_KEPT = frozenset({
    "retry-after",
    "x-request-id",
    "openai-processing-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-models-etag",
    "request-id",
    "anthropic-ratelimit-requests-remaining",
})


class _Ctx:
    """Mutable facts gathered while a request runs; frozen into a `RequestRecord` at the end.

    Not a dataclass: its generated `__init__` wrote all ~45 fields on every request. The defaults below
    are class attributes (immutable values only); `__init__` sets the five facts every request has and
    the three lists, and a field costs an instance write only once a request sets it."""

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
    notes: list[str]
    session_id: str | None = None
    route: RouteInfo | None = None
    attempts: list[Attempt]
    raw_headers: Mapping[str, str] | None = None  # the client's, redacted only if the record keeps them
    detailed: bool = False  # headers and bodies kept for a detail view (proxy.details)
    delivered: bool = False  # the client's stream got its terminal event (a hang-up after it is no 499)
    capture_limit: int = 0  # response bytes kept: capture_bytes when detailed, else 0
    body: bytes | None = None
    upstream_body: bytes | None = None
    captured: list[bytes]
    captured_n: int = 0
    cs: ClientStream | None = None  # the client's SSE stream, for streaming requests
    traceparent: str | None = None  # while OTLP tracing is on: sent upstream and on every response
    metadata: dict[str, Any] | None = None
    cost: Cost | None = None
    # --- issue #17 (proxy.turns): turn facts and the latency waterfall's perf_counter marks (0.0: not reached)
    turn_id: str | None = None
    user_turn: bool | None = None
    agent: str | None = None
    tool_calls: tuple[str, ...] = ()
    window_notes: list[str] | None = None  # candidates skipped because the conversation did not fit
    t_parsed: float = 0.0
    t_routed: float = 0.0
    t_sent: float = 0.0
    t_headers: float = 0.0
    t_first_byte: float = 0.0
    translate_s: float = 0.0

    def __init__(self, request_id: str, client_api: Api, path: str, started_at: float, t0: float) -> None:
        self.request_id = request_id
        self.client_api = client_api
        self.path = path
        self.started_at = started_at
        self.t0 = t0
        self.notes = []
        self.attempts = []
        self.captured = []

    def timing(self) -> Timing:
        t0 = self.t0

        def ms(t: float) -> float | None:
            return _ms(t - t0) if t else None

        return Timing(ms(self.t_parsed), ms(self.t_routed), ms(self.t_sent), ms(self.t_headers),
                      ms(self.t_first_byte), _ms(self.translate_s))

    def fail(self, status: int, message: str, code: str) -> None:
        self.status, self.error, self.error_code = status, message, code

    def capture(self, chunk: bytes, limit: int) -> None:
        if self.captured_n < limit:
            self.captured.append(chunk[: limit - self.captured_n])
            self.captured_n += len(self.captured[-1])

    def reply_headers(self, into: dict[str, str] | None = None) -> dict[str, str]:
        """The headers every answer to the client carries, error or not, added to `into` (the W3C trace
        context when tracing is on: set here rather than by an `on_response_prepare` signal, which every
        response of every route would pay for)."""
        h = {} if into is None else into
        h["x-request-id"] = self.request_id
        if self.traceparent is not None:
            h["traceparent"] = self.traceparent
        return h

    def record(self, keep_details: bool, keep_bodies: bool) -> RequestRecord:
        """`keep_details`: redact and keep the client's headers, and the bodies if `keep_bodies`."""
        r = self.resolution
        headers = redact_headers(self.raw_headers) if keep_details and self.raw_headers is not None else ()
        keep_bodies = keep_details and keep_bodies
        # Every field, as one dict (record_from_fields skips make_record's checks: this runs per request,
        # and tests/test_handler_units.py checks a real request's record has exactly the record's fields).
        return record_from_fields({
            "request_id": self.request_id,
            "started_at": self.started_at,
            "client_api": self.client_api.value,
            "path": self.path,
            "client_model": self.client_model,
            "stream": self.stream,
            "status": self.status,
            "latency_ms": _ms(time.perf_counter() - self.t0),
            "provider": r.provider.name if r else None,
            "upstream_model": r.upstream_model if r else None,
            "upstream_api": self.upstream_api.value if self.upstream_api else None,
            "upstream_url": self.url,
            "alias": r.alias if r else None,
            "alias_target": r.alias_target if r else None,
            "via": r.via if r else None,
            "route": self.route,
            "ttft_ms": self.ttft_ms,
            "usage": self.usage,
            "error": self.error,
            "error_code": self.error_code,
            "notes": tuple(self.window_notes + self.notes) if self.window_notes else tuple(self.notes),
            "session_id": self.session_id,
            "attempts": tuple(self.attempts),
            "cost": self.cost,
            "request_headers": headers,
            "request_body": self.body if keep_bodies else None,
            "upstream_body": self.upstream_body if keep_bodies else None,
            "response_body": b"".join(self.captured) if self.captured and keep_details else None,
            "metadata": self.metadata,
            "detailed": keep_details,
            "turn_id": self.turn_id,
            "user_turn": self.user_turn,
            "tool_calls": self.tool_calls,
            "agent": self.agent,
            "timing": self.timing(),
        })


class LlmHandler:
    def __init__(self, state: ProxyState, session_getter: Any, tasks: set[asyncio.Task[Any]] | None = None) -> None:
        self.state = state
        self._session = session_getter  # () -> aiohttp.ClientSession, created in the app's cleanup_ctx
        self._tasks = tasks if tasks is not None else set()  # in-flight handler tasks, drained at shutdown
        opts = state.options
        self._timeout = aiohttp.ClientTimeout(  # requests through an outbound proxy (aiohttp's client)
            total=None, sock_connect=opts.connect_timeout_s, sock_read=opts.idle_timeout_s
        )
        # Every other model request goes through our own client (proxy.upstream_http: why).
        self.upstream = UpstreamClient(opts.connect_timeout_s, opts.idle_timeout_s)
        self._proxy_env = proxy_environment()  # HTTPS_PROXY & co. as the process started

    async def handle(self, request: web.Request, client_api: Api) -> web.StreamResponse:
        st = self.state
        ctx = _Ctx(st.next_request_id(), client_api, request.path, time.time(), time.perf_counter())
        st.in_flight += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await self._run(request, ctx)
        except ProxyError as exc:
            ctx.fail(exc.status, exc.message, exc.code)
            if ctx.cs is not None and ctx.cs.resp is not None:  # status 200 already sent: report in-stream
                await self._end_stream(ctx, ctx.cs.resp, None, exc.message, exc.code)
                return ctx.cs.resp
            return self._error_response(ctx, exc)
        except asyncio.CancelledError:
            if not ctx.error and not ctx.delivered:  # gone before its answer ended: 499, as nginx logs it
                ctx.fail(499, "client disconnected", "client_closed_request")
            raise
        except Exception as exc:  # a bug must still produce a log row and a shaped error
            ctx.fail(500, f"internal proxy error: {type(exc).__name__}: {exc}", "proxy_internal_error")
            return self._error_response(ctx, ProxyError(500, ctx.error or "", "proxy_internal_error"))
        finally:
            st.in_flight -= 1
            if task is not None:
                self._tasks.discard(task)
            if not ctx.status:
                ctx.status = 200
            served = st.catalog_served.get(ctx.client_model) if st.catalog_served else None
            if served:  # which Codex model metadata this client was given for its model (detail view)
                ctx.metadata = {"codex_model_metadata": served}
            # A failure keeps its details whatever the budget: it is the request someone opens.
            keep = st.details is not None and (ctx.detailed or not succeeded(ctx.status, ctx.error))
            if ctx.usage and ctx.resolution is not None:
                ctx.cost = st.prices.cost(priced_model(ctx.resolution), ctx.usage)
            rec = ctx.record(keep, st.options.keep_request_bodies)
            st.bus.publish(RequestFinished(rec) if rec.ok else RequestFailed(rec))

    async def count_tokens(self, request: web.Request) -> web.Response:
        """`/v1/messages/count_tokens` (Claude Code's /context fires a dozen at once). Asked of the upstream
        that serves the model — OpenAI's `/responses/input_tokens` with the body translated as a message
        would be, or Anthropic's own endpoint — else, or when that fails, an estimate (bytes ÷ 4). No
        record: these are bookkeeping, not model calls."""
        raw = await request.read()
        estimate = web.Response(body=orjson.dumps({"input_tokens": max(1, len(raw) // 4)}),
                                content_type="application/json")
        try:
            body, model = parse_client_body(raw)
            res = self.state.resolver.resolve(model)
        except (ProxyError, ModelNotFound):
            return estimate
        provider = res.provider
        if provider.key_status == "missing":
            return estimate
        up_api, _ = self._upstream_api(Api.MESSAGES, provider, res.upstream_model)
        if up_api is None:
            return estimate
        translation = get_translation(Api.MESSAGES, Api.RESPONSES) if up_api is Api.RESPONSES else None
        try:
            if translation is not None:
                tr = translation.request(body, res.upstream_model, caps_of(res.upstream_model, provider))
                payload = {k: v for k, v in tr.body.items() if k in _INPUT_TOKENS_FIELDS}
                suffix = "/input_tokens"
            elif up_api is Api.MESSAGES:
                payload, suffix = {**body, "model": res.upstream_model}, "/count_tokens"
            else:
                return estimate
        except (TypeError, KeyError, ValueError, AttributeError, IndexError, Untranslatable):
            return estimate
        url = upstream_url(provider, up_api, res.upstream_model) + suffix
        headers = upstream_headers(provider, up_api, Api.MESSAGES, request.headers, self.state.next_request_id())
        try:
            async with asyncio.timeout(_COUNT_TIMEOUT_S):
                up = await self._post(url, orjson.dumps(payload), headers)
                try:
                    data = await up.read()
                finally:
                    up.release()
            counted = orjson.loads(data).get("input_tokens") if up.status == 200 else None
        except (UpstreamError, TimeoutError, orjson.JSONDecodeError, AttributeError):
            return estimate
        if not isinstance(counted, int):
            return estimate
        return web.Response(body=orjson.dumps({"input_tokens": counted}), content_type="application/json")

    def _error_response(self, ctx: _Ctx, exc: ProxyError) -> web.Response:
        body = error_body(ctx.client_api, exc.status, exc.message, exc.code, ctx.request_id)
        ctx.capture(body, self.state.options.capture_bytes)  # an error body is kept whatever the budget
        headers = {**ctx.reply_headers(), **exc.headers}
        return web.Response(status=exc.status, body=body, content_type="application/json", headers=headers)

    async def _run(self, request: web.Request, ctx: _Ctx) -> web.StreamResponse:
        st = self.state
        opts = st.options
        ctx.raw_headers = request.headers
        if st.details is not None and st.details.take():
            ctx.detailed = True
            ctx.capture_limit = opts.capture_bytes
        raw = await read_body(request, opts.max_body_bytes)
        ctx.body = raw
        body, model = parse_client_body(raw)
        ctx.client_model = model or ""
        ctx.stream = body.get("stream") is True
        ctx.session_id = session_key(request.headers, body)
        # issue #17: turn facts for the sessions view (one header lookup, the last input item), and the mark.
        ctx.turn_id, ctx.user_turn = turn_facts(request.headers, body, ctx.client_api)
        ctx.agent = agent_of(request.headers)
        if st.tracer is not None:  # OTLP tracing on: the trace's ids, and its request attributes if sampled
            ctx.traceparent = st.tracer.note_request(request.headers, ctx.request_id, ctx.client_api, body)
        ctx.t_parsed = time.perf_counter()
        if st.bus.wants(RequestStarted):  # lifecycle events are built only when someone listens
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
        if ctx.stream:
            ctx.cs = ClientStream(request, ctx.client_api, opts.heartbeat_s, ctx.reply_headers())
            ctx.cs.start_heartbeats()  # only speaks after `heartbeat_s` of silence (router, slow upstream)
        try:
            resolver = st.resolver  # read once: a reload mid-request does not affect this request
            res = resolve_or_4xx(resolver, st.aliases, model, ctx.client_api)
            ctx.resolution = res
            requested = res  # issue #17: a routed model that cannot hold the conversation falls back to this
            if st.router is not None:
                res, ctx.route = await st.router.route(
                    ctx.client_api, body, request.headers, res, resolver, inline_prefs
                )
                ctx.resolution = res
                if ctx.route is not None and ctx.route.session_id:  # the session as routing keyed it
                    ctx.session_id = ctx.route.session_id
            candidates = self._candidates(res)
            # issue #17: never send a conversation to a model whose window is smaller than it (proxy.turns).
            context = st.turns.context_of(ctx.session_id)
            if context:
                candidates, ctx.window_notes = fit_window(candidates, context, st.windows, requested)
                if not candidates:
                    raise ProxyError(400, "the conversation does not fit any candidate model: "
                                     + "; ".join(ctx.window_notes), "context_length_exceeded")
            elif len(candidates) > 1 and (guess := len(raw) // _BYTES_PER_TOKEN) >= _GUESS_MIN_TOKENS:
                # Not seen yet (a session's first request, a resumed one after a restart, no session): its
                # size is guessed from the body. A guess only reorders: it skips a candidate too small
                # when another one fits, and never refuses (with none left, the provider judges).
                kept, notes = fit_window(candidates, guess, st.windows, requested)
                if kept:
                    candidates, ctx.window_notes = kept, [f"{n} (estimated from the body's size)" for n in notes]
            ctx.t_routed = time.perf_counter()
            failures: list[_Retry] = []
            for i, cand in enumerate(candidates):
                t_try = time.perf_counter()

                try:
                    resp = await self._attempt(
                        request, ctx, cand, body, raw, changed, i == len(candidates) - 1, failures
                    )
                except ProxyError as exc:  # a deterministic failure ends the chain; it is still an attempt
                    ctx.attempts.append(_attempt_of(cand, t_try, exc.status, exc.message))
                    raise
                except asyncio.CancelledError:
                    # The client hung up after its answer's terminal event (Codex does at response.completed,
                    # often before the upstream's EOF): this attempt answered it, and the record says so.
                    if ctx.delivered:
                        ctx.attempts.append(_attempt_of(cand, t_try, ctx.status or None, None))
                        st.health.success(cand.provider.name)
                    raise
                except _Retry as retry:
                    failures.append(retry)
                    ctx.attempts.append(_attempt_of(cand, t_try, retry.status, retry.message))
                    st.bus.publish(AttemptFailed(ctx.request_id, ctx.attempts[-1]))
                    if retry.counts:
                        st.health.failure(cand.provider.name, retry.message, retry.retry_after)
                else:
                    ctx.attempts.append(_attempt_of(cand, t_try, ctx.status or None, ctx.error))
                    return resp
            raise self._exhausted(failures)  # only reached when the last candidate raised _Retry
        finally:
            if ctx.cs is not None:
                await ctx.cs.stop_heartbeats()

    def _candidates(self, res: Resolution) -> list[Resolution]:
        """The resolved provider, then alias and provider `fallbacks`; cooled providers are skipped
        unless they are the last candidate."""
        st = self.state
        names: list[str] = []
        alias = st.aliases.get(res.alias) if res.alias else None
        if alias is not None:
            names += alias.fallbacks
        names += res.provider.fallbacks
        cands = [res]
        seen = {res.provider.name}
        for m in names:
            p = find_provider(m, st.config.providers)
            if p is not None and p.name not in seen:
                seen.add(p.name)
                cands.append(replace(res, provider=p, upstream_model=upstream_model_for(m, p), via="fallback"))
        if len(cands) == 1:
            return cands
        warm = [c for c in cands if st.health.cooling_until(c.provider.name) is None]
        return warm or cands[-1:]

    def _exhausted(self, failures: list[_Retry]) -> ProxyError:
        tried = "; ".join(f.described for f in failures)
        if failures and all(f.status == 429 for f in failures):
            waits = [f.retry_after for f in failures if f.retry_after]
            headers = {"retry-after": str(int(min(waits)))} if waits else {}
            return ProxyError(429, f"every provider is rate limited ({tried})", "rate_limit_exceeded", headers=headers)
        last = failures[-1] if failures else None
        if last is not None and last.code == "missing_api_key" and len(failures) == 1:
            return ProxyError(400, last.message, "missing_api_key")
        status = last.status if last is not None and last.status and last.status >= 500 else 502
        return ProxyError(status, f"all providers failed: {tried}", "upstream_unavailable")

    def _upstream_api(self, client_api: Api, provider: Provider, model: str) -> tuple[Api | None, frozenset[Api]]:
        """(the upstream API for this client, provider and model; the APIs it may use): chat is out for a
        model that said it is not a chat model."""
        apis = provider.apis
        if (provider.name, model) in self.state.not_chat_models:
            apis = apis - _CHAT_ONLY
        return upstream_api_for(client_api, apis, provider.preferred_api), apis

    async def _attempt(
        self,
        request: web.Request,
        ctx: _Ctx,
        cand: Resolution,
        body: dict[str, Any],
        raw: bytes,
        changed: bool,
        last: bool,
        failures: list[_Retry],
        learned: str | None = None,
    ) -> web.StreamResponse:
        """One upstream request for `cand`. `learned`: why this is a second try on the same candidate
        (its model just said it is not a chat model)."""
        st = self.state
        t_start = time.perf_counter()
        provider = cand.provider
        ctx.resolution = cand
        if provider.key_status == "missing":
            var = provider.key_env or "the provider's API key variable"
            # 400, not 401: Codex retries a 401 six times and Claude Code for minutes; a missing key is
            # deterministic, so the client should stop at once and show the message.
            msg = (
                f"provider '{provider.name}' has no API key: export {var}=... (or put it in the .env beside "
                "config.yaml) and reload"
            )
            if last and not failures:
                raise ProxyError(400, msg, "missing_api_key")
            raise _Retry(provider.name, None, msg, "missing_api_key", counts=False)
        up_api, apis = self._upstream_api(ctx.client_api, provider, cand.upstream_model)
        if up_api is None:
            msg = f"provider '{provider.name}' speaks no API this proxy can use"
            if last and not failures:
                raise ProxyError(400, msg, "unsupported_provider")
            raise _Retry(provider.name, None, msg, "unsupported_provider", counts=False)
        t_tr = time.perf_counter()
        built = build_payload(ctx.client_api, up_api, cand, body, raw, changed,
                              caps_of(cand.upstream_model, provider), st.caching, request.headers)
        if built.translation is not None:  # issue #17: translation time for the waterfall
            ctx.translate_s += time.perf_counter() - t_tr
        payload, translation, tstate = built.body, built.translation, built.tstate
        notes = [learned, *built.notes] if learned else built.notes
        ctx.notes = notes
        ctx.upstream_api = up_api
        ctx.upstream_body = payload if payload is not raw else None
        ctx.url = upstream_url(provider, up_api, cand.upstream_model)
        headers = upstream_headers(provider, up_api, ctx.client_api, request.headers, ctx.request_id)
        if ctx.traceparent is not None:  # OTLP tracing on (proxy.tracing): the W3C trace context goes upstream
            headers["traceparent"] = ctx.traceparent
        if st.bus.wants(ModelResolved):
            st.bus.publish(
                ModelResolved(
                    ctx.request_id,
                    ctx.client_model,
                    provider.name,
                    cand.upstream_model,
                    up_api.value,
                    cand.alias_target,
                    cand.route,
                )
            )
        ctx.t_sent = time.perf_counter()  # issue #17 waterfall marks: sent, then response headers
        try:
            up = await self._post(ctx.url, payload, headers)
            ctx.t_headers = time.perf_counter()
        except (UpstreamError, TimeoutError) as exc:
            msg = f"provider '{provider.name}' unreachable at {provider.display_url}: {_exc_text(exc)}"
            raise _Retry(provider.name, None, msg, "upstream_unreachable") from None
        refused: str | None = None
        try:
            if up.status < 400:
                if "text/event-stream" in up.headers.get("content-type", ""):
                    resp = await self._relay_stream(request, ctx, up, translation, tstate, last)
                else:
                    resp = await self._relay_body(ctx, provider, up, translation, tstate)
                st.health.success(provider.name)
                return resp
            data = await up.read()
            if up_api is Api.CHAT and Api.RESPONSES in apis and _NOT_CHAT.search(data):
                refused = extract_error_message(data)  # OpenAI's codex family: Responses only (below)
            else:
                transient = up.status == 429 or up.status >= 500
                msg = f"{provider.name} answered {up.status}: {extract_error_message(data) or 'no body'}"
                if transient and not last:
                    raise _Retry(
                        provider.name,
                        up.status,
                        msg,
                        "upstream_error",
                        retry_after=parse_retry_after(up.headers.get("retry-after")),
                    )
                if transient:
                    st.health.failure(provider.name, msg, parse_retry_after(up.headers.get("retry-after")))
                return await self._upstream_error(ctx, provider, up, data, translation, failures)
        finally:
            up.release()
        # The model is not served on chat: remember it (never sent there again) and ask again at once.
        st.not_chat_models.add((provider.name, cand.upstream_model))
        ctx.attempts.append(_attempt_of(cand, t_start, up.status, f"{provider.name} answered {up.status}: {refused}"))
        note = f"{cand.upstream_model} is not a chat model: sent through the Responses API from now on"
        return await self._attempt(request, ctx, cand, body, raw, changed, last, failures, note)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        proxy = proxy_for(url, self._proxy_env)
        if proxy is None:
            return await self.upstream.post(url, body, headers)
        if url[4] == "s":  # https through aiohttp: its CA bundle may still be loading right after start-up
            await wait_ready()
        return await post_via_proxy(self._session(), url, body, headers, proxy, self._timeout)

    async def _relay_body(
        self, ctx: _Ctx, provider: Provider, up: Answer, translation: Translation | None, tstate: Any
    ) -> web.StreamResponse:
        data = await up.read()
        ctx.t_first_byte = time.perf_counter()  # issue #17: the whole body is the first byte here
        self._first_token(ctx)
        ctx.status = up.status
        obj: Any = None
        if translation is not None or b'"usage"' in data:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
        ctx.usage = from_body(obj)
        ctx.tool_calls = tool_names_of(obj)  # issue #17
        if translation is not None:
            if not isinstance(obj, dict):
                raise ProxyError(502, f"provider '{provider.name}' returned a non-JSON body", "bad_upstream_response")
            data = orjson.dumps(translation.response(obj, tstate))
        ctx.capture(data, ctx.capture_limit)
        if ctx.cs is not None and ctx.cs.started:  # heartbeats already committed us to a stream
            await ctx.cs.stop_heartbeats()
            assert ctx.cs.resp is not None
            await ctx.cs.resp.write(data)
            return ctx.cs.resp
        return web.Response(
            status=up.status, body=data, content_type="application/json", headers=self._kept_headers(up, ctx)
        )

    def _first_token(self, ctx: _Ctx) -> None:
        ctx.ttft_ms = _ms(time.perf_counter() - ctx.t0)
        bus = self.state.bus
        if bus.wants(FirstToken):
            bus.publish(FirstToken(ctx.request_id, ctx.ttft_ms))

    def _kept_headers(self, up: Answer, ctx: _Ctx) -> dict[str, str]:
        kept = {k: v for k, v in up.headers.items() if k in _RESPONSE_HEADERS_KEPT}  # names already lower case
        h = ctx.reply_headers(kept)
        if ctx.client_api is Api.RESPONSES:
            h["x-models-etag"] = self.state.models_etag
        return h

    async def _upstream_error(
        self,
        ctx: _Ctx,
        provider: Provider,
        up: Answer,
        data: bytes,
        translation: Translation | None,
        failures: list[_Retry],
    ) -> web.StreamResponse:
        msg = extract_error_message(data) or f"HTTP {up.status}"
        tried = "".join(f"{f.described}; " for f in failures)
        full = f"{tried}{provider.name}: {msg}" if tried else f"{provider.name}: {msg}"
        code = _code_for(up.status, msg)
        ctx.fail(up.status, full, code)
        if translation is not None or failures or not _is_json(data):
            text = f"upstream provider '{provider.name}' answered {up.status}: {msg}"
            if failures:
                text = f"all providers failed: {full}"
            data = error_body(ctx.client_api, up.status, text, code, ctx.request_id)
        if ctx.cs is not None and ctx.cs.resp is not None:  # heartbeats already sent the 200: end in-stream
            await self._end_stream(ctx, ctx.cs.resp, None, full, code)
            return ctx.cs.resp
        ctx.capture(data, self.state.options.capture_bytes)  # an error body: kept whatever the budget
        return web.Response(
            status=up.status, body=data, content_type="application/json", headers=self._kept_headers(up, ctx)
        )

    async def _relay_stream(
        self,
        request: web.Request,
        ctx: _Ctx,
        up: Answer,
        translation: Translation | None,
        tstate: Any,
        last: bool,
    ) -> web.StreamResponse:
        """One loop for every stream: a relay (proxy.relay) turns upstream chunks into client bytes,
        passing them through or translating them."""
        provider = ctx.resolution.provider.name if ctx.resolution else "?"
        relay: Relay = (
            PassthroughRelay(ctx.client_api) if translation is None else TranslatedRelay(translation.stream(tstate))
        )
        feed = relay.feed if translation is None else partial(_timed_feed, relay, ctx)
        limit = ctx.capture_limit
        pending: list[bytes] = []
        it = up.__aiter__()
        # Phase 1 (only when a fallback remains): hold bytes back until the upstream produced real
        # output, so an upstream that fails before that can still be replaced by the next candidate.
        try:
            held = 0
            while not last:
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    raise _Retry(provider, up.status, "stream ended before any output", "stream_incomplete") from None
                if not pending:  # issue #17 waterfall: upstream first byte
                    ctx.t_first_byte = time.perf_counter()
                out = feed(chunk)
                pending.append(out)
                held += len(out)
                if relay.error and not relay.started_output:
                    raise _Retry(provider, up.status, f"stream failed before any output: {relay.error}",
                                 "upstream_error")
                if relay.started_output or relay.done or held > _MAX_HELD_BYTES:
                    break
        except (UpstreamError, TimeoutError) as exc:
            raise _Retry(
                provider,
                up.status,
                f"stream broke before any output: {_exc_text(exc)}",
                "stream_interrupted",
            ) from None
        cs = ctx.cs or ClientStream(request, ctx.client_api, 0, ctx.reply_headers())
        await cs.stop_heartbeats()
        resp = await cs.start(200, self._kept_headers(up, ctx))
        ctx.status = up.status
        try:
            out = b"".join(pending)
            while True:
                if out:
                    if ctx.ttft_ms is None and b"delta" in out:
                        self._first_token(ctx)
                    await resp.write(out)
                    if ctx.captured_n < limit:
                        ctx.capture(out, limit)
                    ctx.delivered = relay.done
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                if ctx.ttft_ms is None and not ctx.t_first_byte:  # issue #17: first byte, checked until TTFT
                    ctx.t_first_byte = time.perf_counter()
                out = feed(chunk)
            tail = relay.close()  # a stream that never finished ends with a terminal failure event
            if tail:
                await resp.write(tail)
                ctx.capture(tail, limit)
        except (UpstreamError, TimeoutError) as exc:
            await self._end_stream(ctx, resp, relay, f"upstream stream broke: {_exc_text(exc)}", "stream_interrupted")
        except asyncio.CancelledError:
            if not self.state.draining:  # the client went away: nothing left to tell it
                if ctx.delivered:  # ...after its terminal event (Codex hangs up at response.completed)
                    ctx.usage, ctx.tool_calls = relay.usage, relay.tool_names
                raise
            # Shutdown after the drain period: end the stream with a terminal event, not a cut.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._end_stream(ctx, resp, relay, "the proxy is shutting down", "proxy_shutdown")
        ctx.usage = relay.usage
        ctx.tool_calls = relay.tool_names  # issue #17
        if relay.error and not ctx.error:
            ctx.error, ctx.error_code = relay.error, relay.error_code or "upstream_error"
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp

    async def _end_stream(
        self, ctx: _Ctx, resp: web.StreamResponse, relay: Relay | None, message: str, code: str
    ) -> None:
        """Terminate a client stream in its own grammar after a failure mid-stream. `relay`: the
        stream's, when the failure happened while relaying (it knows the grammar's state)."""
        ctx.fail(ctx.status or 200, message, code)
        if relay is not None:
            tail = relay.fail(message, code)
        else:  # relayed bytes may end mid-line: close that event first so ours parses on its own
            tail = b"\n\n" + terminal_error_event(ctx.client_api, message, code)
        if tail:
            ctx.capture(tail, ctx.capture_limit)  # the captured response is what the client saw, ending included
            with contextlib.suppress(Exception):
                await asyncio.wait_for(resp.write(tail), 1.0)


def _timed_feed(relay: Relay, ctx: _Ctx, chunk: bytes) -> bytes:
    """`relay.feed`, its time added to the request's translation time (issue #17's waterfall)."""
    t = time.perf_counter()
    out = relay.feed(chunk)
    ctx.translate_s += time.perf_counter() - t
    return out


def _ms(seconds: float) -> float:
    """Milliseconds to the microsecond (the clock's digits beyond are noise): every record is written out
    by --log-json and the admin stream, where 17-digit floats were a tenth of each line."""
    return round(seconds * 1000, 3)


def _attempt_of(cand: Resolution, started: float, status: int | None, error: str | None) -> Attempt:
    return Attempt(cand.provider.name, cand.upstream_model, status, error, _ms(time.perf_counter() - started))


class _Retry(Exception):
    """A failure before any byte reached the client: the next candidate may take over."""

    def __init__(
        self,
        provider: str,
        status: int | None,
        message: str,
        code: str,
        *,
        retry_after: float | None = None,
        counts: bool = True,
    ) -> None:
        super().__init__(message)
        self.provider, self.status, self.message, self.code = provider, status, message, code
        self.retry_after = retry_after
        self.counts = counts  # False: a config problem (no key), not the provider's health

    @property
    def described(self) -> str:
        """The message, naming the provider once."""
        return self.message if self.provider in self.message else f"{self.provider}: {self.message}"


_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|context_length_exceeded", re.I
)


def _is_json(data: bytes) -> bool:
    s = data.lstrip()[:1]
    return s in (b"{", b"[")


def _code_for(status: int, message: str = "") -> str:
    if status in (400, 413) and _CONTEXT_RE.search(message):
        return "context_length_exceeded"  # Codex shows its "ran out of room" message and stops
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
    return (str(exc) or type(exc).__name__)[:300]
