"""Task-aware routing end to end through the real proxy: a loopback fake router model (scripted
answers, garbage, HTTP errors, stalls), turn pinning on captured Codex / Claude Code traffic,
per-request preferences, the decision endpoint, fail-open, and hot reload."""

from __future__ import annotations

import asyncio
import copy
import json
import textwrap
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.config import Config, parse_config
from proxy.events import ModelResolved, RequestFailed, RequestFinished, RequestRecord
from proxy.routing import TaskRouter
from proxy.state import ProxyOptions

from .config_corpus import CLAUDE, CODEX, plano_config, provider, provider_at
from .conftest import FAKE_KEYS, FIXTURES, eventually
from .fakes import FakeUpstream


class FakeRouter:
    """A router model on 127.0.0.1: answers Chat Completions with scripted `content` strings."""

    def __init__(self) -> None:
        self.answers: deque[tuple[int, Any, bool]] = deque()  # (status, content or raw bytes, stall)
        self.release = asyncio.Event()  # a stalled answer waits for this (set when the router stops)
        self.default: Any = '{"route": []}'
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    def answer(self, content: Any, status: int = 200, stall: bool = False) -> None:
        """Queue one answer; `stall` holds it until the router stops, longer than any timeout."""
        self.answers.append((status, content, stall))

    def prompt(self, i: int = -1) -> str:
        return self.requests[i]["messages"][0]["content"]

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        status, content, stall = self.answers.popleft() if self.answers else (200, self.default, False)
        if stall:
            await self.release.wait()
        if isinstance(content, bytes):
            return web.Response(status=status, body=content, content_type="application/json")
        if status >= 400:
            return web.json_response({"error": {"message": str(content)}}, status=status)
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            }
        )

    async def start(self) -> FakeRouter:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self.runner:
            await self.runner.cleanup()


@pytest.fixture
async def router_model() -> AsyncIterator[FakeRouter]:
    fake = await FakeRouter().start()
    yield fake
    await fake.stop()


GEN = "generating new code snippets, functions, or boilerplate based on user prompts or requirements"
PREFS = f"""\
routing_preferences:
  - name: code generation
    description: {GEN}
    models: [openai/gpt-5.3-codex]
  - name: project understanding
    description: understand repository structure, codebase, and code files, readmes, and other documentation
    models: [openai/gpt-5-mini]
  - name: claude understanding
    description: explain code for Claude Code users
    models: [anthropic/claude-haiku-4-5]
"""


def config(
    upstream: str, router: str | None, routing: str = "", prefs: str = PREFS, overrides: str | None = None
) -> Config:
    return parse_config(config_yaml(upstream, router, routing, prefs, overrides), "routing-test.yaml", FAKE_KEYS)


def config_yaml(
    upstream: str, router: str | None, routing: str = "", prefs: str = PREFS, overrides: str | None = None
) -> str:
    """Two OpenAI and two Anthropic models on `upstream`, an xAI one whose key is never set, the Arch-Router
    model on `router` (when given), then `prefs`, `overrides` (inline mapping entries) and `routing` (lines
    under `routing:`)."""
    providers = [
        provider_at(upstream, CODEX, default=True),
        provider_at(upstream, "openai/gpt-5-mini"),
        provider_at(upstream, CLAUDE),
        provider_at(upstream, "anthropic/claude-haiku-4-5"),
        provider("xai/grok-4-1-fast-non-reasoning", key="$MISSING_XAI_KEY_FOR_TESTS"),
    ]
    if router:
        providers.append(provider("plano/Arch-Router-1.5B", base_url=router))
    text = plano_config(*providers, aliases={"arch.codex.default": "gpt-5.3-codex"}, extra=prefs, port=None)
    if router and overrides is None:
        overrides = "llm_routing_model: plano/Arch-Router-1.5B"
    if overrides:
        text += f"overrides: {{{overrides}}}\n"
    return text + "routing:\n  router_timeout_ms: 2000\n" + routing


def records(proxy) -> list[RequestRecord]:
    got: list[RequestRecord] = []
    proxy.state.bus.subscribe(
        lambda e: got.append(e.record) if isinstance(e, RequestFinished | RequestFailed) else None
    )
    return got


async def post(proxy, path: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy.url + path, data=orjson.dumps(body), headers=headers or {}) as r,
    ):
        return r.status, await r.read()


async def settled(recs: list, n: int) -> list[RequestRecord]:
    await eventually(lambda: len(recs) >= n)  # the terminal event is published in the handler's `finally`
    return recs


def codex_run(name: str) -> list[dict]:
    runs = json.loads((FIXTURES / "codex-0.169.0-tool-loops.json").read_text())["runs"]
    out = []
    for r in runs[name]["requests"]:
        if r["method"] == "POST":
            h = {k: v for k, v in r["headers"].items() if k.lower() not in ("host", "content-length")}
            body = dict(r["body"], model="arch.codex.default")
            out.append({"headers": h, "body": body})
    return out


def route_of(name: str) -> str:
    return json.dumps({"route": [name]})


# ------------------------------------------------------------------ the LLM backend


async def test_llm_route_switches_model_and_records_routeinfo(
    upstream: FakeUpstream, router_model: FakeRouter, make_proxy
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    resolved: list[ModelResolved] = []
    proxy.state.bus.subscribe(lambda e: resolved.append(e) if isinstance(e, ModelResolved) else None)
    router_model.answer(route_of("project understanding"))
    status, _ = await post(
        proxy, "/v1/responses", {"model": "arch.codex.default", "input": "how is this repo laid out?"}
    )
    assert status == 200
    assert upstream.last("/v1/responses").json["model"] == "gpt-5-mini"
    (rec,) = await settled(recs, 1)
    assert (rec.provider, rec.via, rec.alias_target) == ("openai/gpt-5-mini", "route", "gpt-5.3-codex")
    ri = rec.route
    assert ri is not None and (ri.route, ri.backend, ri.reason) == ("project understanding", "llm", None)
    assert ri.latency_ms is not None and ri.latency_ms >= 0 and ri.raw == route_of("project understanding")
    # The router call is not a client request: one request event, one resolution, no router model there.
    assert len(recs) == 1 and [e.provider for e in resolved] == ["openai/gpt-5-mini"]
    sent = router_model.requests[0]
    assert sent["model"] == "Arch-Router-1.5B" and sent["temperature"] == 0.01 and sent["stream"] is False
    assert (
        '"name": "project understanding"' in router_model.prompt()
        and "how is this repo laid out?" in router_model.prompt()
    )
    assert "routing_preferences" not in upstream.last("/v1/responses").json


async def test_no_route_and_unknown_route_keep_the_requested_model(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    router_model.answer('{"route": []}')
    router_model.answer('{"route": ["image generation"]}')
    router_model.answer("{'route': ['nope', 'code generation', 'project understanding']}\\n")
    for text in ("thanks", "draw me a cat", "write a parser"):
        status, _ = await post(
            proxy,
            "/v1/chat/completions",
            {"model": "arch.codex.default", "messages": [{"role": "user", "content": text}]},
        )
        assert status == 200
        # a chat client reaches the Responses-only codex model through Responses
        assert upstream.last("/responses").json["model"] == "gpt-5.3-codex"
    r = await settled(recs, 3)
    assert r[0].route.route is None and "no route matched" in r[0].route.reason
    assert r[1].route.route is None and "image generation" in r[1].route.reason
    assert r[2].route.route == "code generation" and "first known wins" in r[2].route.reason
    assert [x.via for x in r] == ["alias", "alias", "route"]


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ((200, "I think you want code generation.", False), "unparsable router answer"),
        ((200, b"<html>oops</html>", False), "not a Chat Completions response"),
        ((500, "router exploded", False), "HTTP 500"),
        ((429, "slow down", False), "HTTP 429"),
        ((200, '{"route": ["project understanding"]}', True), "timed out after 150 ms"),
    ],
)
async def test_router_failures_fail_open(upstream, router_model, make_proxy, script, fragment: str) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url, routing="  router_timeout_ms: 150\n"))
    recs = records(proxy)
    status, content, stall = script
    router_model.answer(content, status, stall)
    # A stalled router never answers while this request runs: the request completing at all is the proof
    # that the timeout released it.
    status_code, _ = await post(
        proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo", "stream": True}
    )
    assert status_code == 200 and upstream.last("/v1/responses").json["model"] == "gpt-5.3-codex"
    (rec,) = await settled(recs, 1)
    assert rec.ok and rec.route.route is None and rec.route.backend == "llm"
    assert fragment in rec.route.reason and "kept the requested model" in rec.route.reason


async def test_unreachable_router_fails_open(upstream, make_proxy) -> None:
    # A port nothing listens on: connection refused, immediately.
    probe = await FakeRouter().start()
    dead = probe.url
    await probe.stop()
    proxy = await make_proxy(config(upstream.url, dead))
    recs = records(proxy)
    status, _ = await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo"})
    assert status == 200
    (rec,) = await settled(recs, 1)
    assert "router unreachable" in rec.route.reason


async def test_misconfigured_router_model_fails_open_with_a_reason(upstream, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, None, overrides="llm_routing_model: ollama/not-there"))
    recs = records(proxy)
    assert any("not served by any configured provider" in w for w in proxy.state.router.warnings)
    status, _ = await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo"})
    assert status == 200
    (rec,) = await settled(recs, 1)
    assert "not served by any configured provider" in rec.route.reason


async def test_route_to_a_model_without_key_falls_to_the_next_ranked_model(upstream, router_model, make_proxy) -> None:
    prefs = """\
routing_preferences:
  - name: fast
    description: quick answers
    models: [xai/grok-4-1-fast-non-reasoning, openai/gpt-5-mini]
"""
    proxy = await make_proxy(config(upstream.url, router_model.url, prefs=prefs))
    recs = records(proxy)
    router_model.answer(route_of("fast"))
    status, _ = await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "quick one"})
    assert status == 200 and upstream.last("/v1/responses").json["model"] == "gpt-5-mini"
    (rec,) = await settled(recs, 1)
    assert rec.route.route == "fast" and "has no API key" in rec.route.reason


# ------------------------------------------------------------------ turn pinning on captured traffic


async def test_codex_tool_loop_is_pinned_to_the_turn_decision(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    reqs = codex_run("resume")  # user turn, tool-output continuation, then a new user turn (resume)
    router_model.answer(route_of("project understanding"))
    router_model.answer(route_of("code generation"))
    models = []
    for r in reqs:
        status, _ = await post(proxy, "/v1/responses", r["body"], r["headers"])
        assert status == 200
        models.append(upstream.last("/v1/responses").json["model"])
    assert models == ["gpt-5-mini", "gpt-5-mini", "gpt-5.3-codex"]
    assert len(router_model.requests) == 2  # the continuation never reached the router
    r = await settled(recs, 3)
    assert [x.route.backend for x in r] == ["llm", "pinned", "llm"]
    assert r[1].route.route == "project understanding" and "tool-result continuation" in r[1].route.reason
    assert "second prompt" in router_model.prompt(1)


@pytest.mark.parametrize("run", ["exec_ww", "patch_ww", "par", "ns"])
async def test_every_codex_tool_output_kind_is_pinned(upstream, router_model, make_proxy, run: str) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    router_model.answer(route_of("project understanding"))
    router_model.default = route_of("code generation")  # would switch models if it were asked again
    for r in codex_run(run):
        status, _ = await post(proxy, "/v1/responses", r["body"], r["headers"])
        assert status == 200 and upstream.last("/v1/responses").json["model"] == "gpt-5-mini"
    assert len(router_model.requests) == 1


async def test_per_request_mode_routes_every_request_like_plano(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url, routing="  route_on_user_only: false\n"))
    router_model.answer(route_of("project understanding"))
    router_model.answer(route_of("code generation"))
    models = []
    for r in codex_run("exec_ww"):
        await post(proxy, "/v1/responses", r["body"], r["headers"])
        models.append(upstream.last("/v1/responses").json["model"])
    assert models == ["gpt-5-mini", "gpt-5.3-codex"] and len(router_model.requests) == 2


async def test_retried_user_turn_reuses_the_decision(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    router_model.answer(route_of("project understanding"))
    first = codex_run("exec_ww")[0]
    for _ in range(2):
        await post(proxy, "/v1/responses", first["body"], first["headers"])
    assert len(router_model.requests) == 1 and upstream.last("/v1/responses").json["model"] == "gpt-5-mini"
    r = await settled(recs, 2)
    assert "retry" in r[1].route.reason and r[1].route.backend == "pinned"


async def test_claude_code_tool_result_is_pinned_and_reminders_are_not_routed_on(
    upstream, router_model, make_proxy
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    body = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    body["model"] = "claude-sonnet-4-5"
    headers = {"X-Claude-Code-Session-Id": "0c60050e-4be0-4237-857e-884b875aa9ba", "anthropic-version": "2023-06-01"}
    first = copy.deepcopy(body)
    first["messages"] = first["messages"][:1]
    router_model.answer(route_of("claude understanding"))
    for b in (first, body):
        status, _ = await post(proxy, "/v1/messages", b, headers)
        assert status == 200 and upstream.last("/v1/messages").json["model"] == "claude-haiku-4-5"
    assert len(router_model.requests) == 1
    assert "<system-reminder>" not in router_model.prompt() and '"content": "run echo hi"' in router_model.prompt()


async def test_lanes_keep_small_model_calls_apart(upstream, router_model, make_proxy) -> None:
    """A continuation on another requested model does not replay the main lane's decision."""
    proxy = await make_proxy(config(upstream.url, router_model.url))
    reqs = codex_run("exec_ww")
    router_model.answer(route_of("project understanding"))
    await post(proxy, "/v1/responses", reqs[0]["body"], reqs[0]["headers"])
    other = dict(reqs[1]["body"], model="gpt-5-mini")
    router_model.answer(route_of("code generation"))
    await post(proxy, "/v1/responses", other, reqs[1]["headers"])
    assert len(router_model.requests) == 2  # cold continuation in its own lane: routed on the user message
    assert upstream.last("/v1/responses").json["model"] == "gpt-5.3-codex"
    assert "run echo hi" in router_model.prompt()


async def test_a_bug_in_routing_never_costs_the_request(upstream, router_model, make_proxy, monkeypatch) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)

    async def broken(*args: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(proxy.state.router.backend, "decide", broken)
    status, _ = await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo"})
    assert status == 200 and upstream.last("/v1/responses").json["model"] == "gpt-5.3-codex"
    (rec,) = await settled(recs, 1)
    assert "routing error (RuntimeError: kaboom)" in rec.route.reason


# ------------------------------------------------------------------ preferences in the request


async def test_inline_preferences_replace_config_for_one_request(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    inline = [{"name": "haiku please", "description": "anything short", "models": ["claude-haiku-4-5"]}]
    router_model.answer(route_of("haiku please"))
    status, _ = await post(
        proxy,
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 5,
            "routing_preferences": inline,
            "messages": [{"role": "user", "content": "hi there"}],
        },
    )
    assert status == 200
    sent = upstream.last("/v1/messages").json
    assert sent["model"] == "claude-haiku-4-5" and "routing_preferences" not in sent
    prompt = router_model.prompt()
    assert '"name": "haiku please"' in prompt and "project understanding" not in prompt
    (rec,) = await settled(recs, 1)
    assert rec.route.route == "haiku please"


async def test_inline_preferences_route_even_without_config_preferences(upstream, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, None, prefs=""))  # local backend, no config routes
    inline = [
        {"name": "understanding", "description": "understand and explain existing code", "models": ["gpt-5-mini"]}
    ]
    status, _ = await post(
        proxy,
        "/v1/responses",
        {"model": "gpt-5.3-codex", "input": "explain what this function does", "routing_preferences": inline},
    )
    assert status == 200 and upstream.last("/v1/responses").json["model"] == "gpt-5-mini"


async def test_empty_inline_preferences_turn_routing_off(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    recs = records(proxy)
    status, _ = await post(
        proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo", "routing_preferences": []}
    )
    assert status == 200 and not router_model.requests
    (rec,) = await settled(recs, 1)
    assert "empty routing_preferences" in rec.route.reason


@pytest.mark.parametrize(("path", "status"), [("/v1/responses", 400), ("/v1/messages", 400)])
async def test_invalid_inline_preferences_get_a_client_shaped_400(
    upstream, router_model, make_proxy, path: str, status: int
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    body = {
        "model": "gpt-5.3-codex" if "responses" in path else "claude-sonnet-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "input": "x",
        "routing_preferences": [{"name": "n", "description": "d", "models": ["no/such-model"]}],
    }
    code, raw = await post(proxy, path, body)
    err = orjson.loads(raw)
    assert code == status and not upstream.requests and not router_model.requests
    if path == "/v1/messages":
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    else:
        assert err["error"]["code"] == "invalid_routing_preferences"
    assert "no/such-model" in raw.decode()


# ------------------------------------------------------------------ hot path, local backend, reload


async def test_no_preferences_is_a_no_op(upstream, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, None, prefs=""))
    recs = records(proxy)
    route = proxy.state.router.route
    res = proxy.state.resolver.resolve("gpt-5.3-codex")
    out = await route(None, {"input": "x"}, {}, res, proxy.state.resolver, None)  # type: ignore[arg-type]
    assert out == (res, None)
    await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo"})
    (rec,) = await settled(recs, 1)
    assert rec.route is None and rec.via == "explicit"


async def test_local_backend_is_used_when_no_router_model_is_configured(upstream, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, None))
    recs = records(proxy)
    assert proxy.state.router.describe().startswith("local")
    await post(
        proxy,
        "/v1/responses",
        {"model": "arch.codex.default", "input": "Walk me through how this repository is structured"},
    )
    assert upstream.last("/v1/responses").json["model"] == "gpt-5-mini"
    await post(proxy, "/v1/responses", {"model": "arch.codex.default", "input": "hello!"})
    assert upstream.last("/v1/responses").json["model"] == "gpt-5.3-codex"
    r = await settled(recs, 2)
    assert r[0].route.backend == "local" and r[0].route.route == "project understanding" and "conf=" in r[0].route.raw
    assert r[1].route.route is None


async def test_v03_inline_config_routes_through_the_proxy(upstream, make_proxy) -> None:
    text = textwrap.dedent(
        f"""\
        version: v0.3.0
        model_providers:
          - model: openai/gpt-5.3-codex
            access_key: $OPENAI_API_KEY
            base_url: {upstream.url}/v1
            default: true
            routing_preferences:
              - name: code generation
                description: {GEN}
          - model: openai/gpt-5-mini
            access_key: $OPENAI_API_KEY
            base_url: {upstream.url}/v1
            routing_preferences:
              - name: code understanding
                description: understand and explain existing code snippets, functions, or libraries
        """
    )
    proxy = await make_proxy(parse_config(text, "v03.yaml", FAKE_KEYS))
    await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "Explain what the reconcile function does"})
    assert upstream.last("/v1/responses").json["model"] == "gpt-5-mini"


async def test_hot_reload_updates_the_router(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    router = proxy.state.router
    assert isinstance(router, TaskRouter) and router.describe().startswith("llm")
    proxy.state.apply_config(config(upstream.url, None, prefs=""))
    assert proxy.state.router is router and router.prefs == () and router.describe().startswith("local")
    await post(proxy, "/v1/responses", {"model": "gpt-5.3-codex", "input": "explain the repo"})
    assert not router_model.requests


# ------------------------------------------------------------------ the decision endpoint


async def test_decision_endpoint_returns_plano_shape_without_calling_the_model(
    upstream, router_model, make_proxy
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    reqs = codex_run("exec_ww")
    router_model.answer(route_of("project understanding"))
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    status, raw = await post(proxy, "/routing/v1/responses", reqs[0]["body"], {**reqs[0]["headers"], "traceparent": tp})
    d = orjson.loads(raw)
    assert status == 200 and not upstream.requests
    assert d["models"] == ["openai/gpt-5-mini"] and d["route"] == "project understanding"
    assert d["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert d["session_id"] == reqs[0]["headers"]["session-id"]
    assert (d["pinned"], d["switched"], d["backend"]) == (False, False, "llm")
    status, raw = await post(proxy, "/routing/v1/responses", reqs[1]["body"], reqs[1]["headers"])
    d = orjson.loads(raw)
    assert d["pinned"] is True and d["route"] == "project understanding" and len(router_model.requests) == 1
    assert len(d["trace_id"]) == 32 and not upstream.requests


async def test_decision_endpoint_reports_switches_and_no_route(upstream, router_model, make_proxy) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    h = {"X-Model-Affinity": "sess-42"}
    router_model.answer(route_of("project understanding"))
    router_model.answer(route_of("code generation"))
    router_model.answer('{"route": []}')
    outs = []
    for text in ("explain the repo", "now write the parser", "thanks"):
        _, raw = await post(
            proxy,
            "/routing/v1/chat/completions",
            {"model": "arch.codex.default", "messages": [{"role": "user", "content": text}]},
            h,
        )
        outs.append(orjson.loads(raw))
    assert [o["switched"] for o in outs] == [False, True, False]
    assert outs[2]["route"] is None and outs[2]["models"] == ["openai/gpt-5.3-codex"]  # alias resolved
    assert all(o["session_id"] == "sess-42" for o in outs)


@pytest.mark.parametrize(
    ("path", "body", "status", "shape"),
    [
        ("/routing/v1/responses", b"{not json", 400, "openai"),
        ("/routing/v1/messages", b"[1]", 400, "anthropic"),
        ("/routing/v1/messages", b'{"model": "no-such", "messages": []}', 404, "anthropic"),
        ("/routing/v1/chat/completions", b'{"model": 5}', 400, "openai"),
        (
            "/routing/v1/chat/completions",
            b'{"model": "gpt-5.3-codex", "messages": [], "routing_preferences": {"x": 1}}',
            400,
            "openai",
        ),
    ],
)
async def test_decision_endpoint_bad_input_is_client_shaped(
    upstream, router_model, make_proxy, path, body, status, shape
) -> None:
    proxy = await make_proxy(config(upstream.url, router_model.url))
    async with aiohttp.ClientSession() as s, s.post(proxy.url + path, data=body) as r:
        assert r.status == status
        err = await r.json()
    if shape == "anthropic":
        assert err["type"] == "error" and "message" in err["error"]
    else:
        assert "message" in err["error"] and "code" in err["error"]


async def test_decision_endpoint_names_the_configured_models_and_limits_the_body(
    upstream, router_model, make_proxy
) -> None:
    """The decision endpoint reads a request as the LLM endpoints do (proxy.intake): an unknown model's
    error lists what is configured, and a body over the proxy's limit is a 413 in the client's shape
    rather than aiohttp's plain-text page."""
    proxy = await make_proxy(config(upstream.url, router_model.url), ProxyOptions(max_body_bytes=4096))
    async with aiohttp.ClientSession() as s:
        async with s.post(proxy.url + "/routing/v1/responses", json={"model": "no-such", "input": "hi"}) as r:
            assert r.status == 400
            err = (await r.json())["error"]
        assert err["code"] == "model_not_found" and "arch.codex.default" in err["message"]
        big = {"model": "gpt-5.3-codex", "input": "x" * 8192}
        async with s.post(proxy.url + "/routing/v1/messages", json=big) as r:
            assert r.status == 413
            err = await r.json()
        assert err["type"] == "error" and "4096 bytes" in err["error"]["message"]
