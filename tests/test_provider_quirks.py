"""Provider quirks (proxy.wire.quirks) through a real proxy, switched in a real sidecar.

With a quirk on (the default) the upstream sees the adapted request. Turned off for that provider in
`config.tui.yaml`, the upstream sees what the client asked for, and a server that refuses it answers the
client with its 4xx, in the client's own API shape.

Two upstreams: `local` (ollama/llama3.1) is the shared fake, which refuses reasoning options for llama
models as Ollama does; `strict` is a chat server that implements neither `reasoning_effort` nor
`parallel_tool_calls` and caps `max_tokens` at 8192, the refusals the other quirks avoid.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.config import Config, load_config
from proxy.events import RequestFinished
from proxy.server import ProxyServer
from proxy.wire.models import caps_for, caps_of
from proxy.wire.providers import Api
from proxy.wire.quirks import (
    DEFAULT_TOOL_FIELDS_OMITTED,
    LARGE_MAX_TOKENS_DROPPED,
    OLLAMA_REASONING_DROPPED,
    QUIRKS,
    THINKING_NOT_FORWARDED,
    active_quirks,
)

from .config_corpus import LLAMA, plano_config, provider
from .conftest import FAKE_KEYS, ProxyFactory, eventually
from .fakes import Captured, FakeUpstream

UNIMPLEMENTED_FIELDS = ("reasoning_effort", "parallel_tool_calls")
MAX_TOKENS_LIMIT = 8192


class StrictChatServer(FakeUpstream):
    """The shared fake behind a chat server's own refusals: a field it does not implement is a 422, a
    `max_tokens` over its limit a 400 (both before any answer, as the services check)."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw) if raw else {}
        refused = _strict_refusal(body) if request.path.endswith("/chat/completions") else None
        if refused is None:
            return await super()._handle(request)
        self.requests.append(Captured(request.method, request.path, dict(request.headers), raw))
        return web.json_response(refused[1], status=refused[0])


def _strict_refusal(body: Any) -> tuple[int, dict[str, Any]] | None:
    if not isinstance(body, dict):
        return None
    for field in UNIMPLEMENTED_FIELDS:
        if field in body:
            return 422, {"error": {"message": f"{field}: extra inputs are not permitted",
                                   "type": "invalid_request_error", "param": field, "code": "extra_forbidden"}}
    mt = body.get("max_tokens")
    if isinstance(mt, int) and mt > MAX_TOKENS_LIMIT:
        return 400, {"error": {"message": f"Invalid max_tokens value, the valid range of max_tokens is "
                                          f"[1, {MAX_TOKENS_LIMIT}]", "type": "invalid_request_error",
                               "param": None, "code": "invalid_request_error"}}
    return None


@pytest.fixture
async def strict() -> Any:
    server = await StrictChatServer().start()
    yield server
    await server.stop()


def two_upstream_config(local_url: str, strict_url: str) -> str:
    """`local` (Ollama) on the shared fake, `strict` (any OpenAI-compatible server) on its own."""
    return plano_config(
        provider(LLAMA, name="local", base_url=local_url),
        provider("strict/chat-model", name="strict", interface="openai", base_url=f"{strict_url}/v1"),
        aliases={"arch.local": "llama3.1"},
    )


def write_config(folder: Path, local_url: str, strict_url: str, sidecar: str | None) -> Config:
    """config.yaml as Plano reads it, and (when given) the sidecar beside it; loaded as the CLI does."""
    (folder / "config.yaml").write_text(two_upstream_config(local_url, strict_url))
    if sidecar is not None:
        (folder / "config.tui.yaml").write_text(textwrap.dedent(sidecar))
    return load_config(folder / "config.yaml", FAKE_KEYS)


def turned_off(provider: str, quirk: str) -> str:
    return f"""\
        # config.tui.yaml
        model_providers:
          - name: {provider}
            quirks: {{{quirk}: false}}
        """


async def start(make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream, strict: FakeUpstream,
                sidecar: str | None) -> tuple[ProxyServer, list[Any]]:
    proxy = await make_proxy(write_config(tmp_path, upstream.url, strict.url, sidecar))
    records: list[Any] = []
    proxy.state.bus.subscribe(lambda e: records.append(e.record) if isinstance(e, RequestFinished) else None)
    return proxy, records


async def post(proxy: ProxyServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.post(proxy.url + path, json=body) as r:
        return r.status, await r.json()


def assert_openai_error(answer: dict[str, Any], words: str) -> None:
    assert set(answer) == {"error"} and answer["error"]["type"] == "invalid_request_error", answer
    assert words in answer["error"]["message"], answer


def assert_anthropic_error(answer: dict[str, Any], words: str) -> None:
    assert answer["type"] == "error" and answer["error"]["type"] == "invalid_request_error", answer
    assert words in answer["error"]["message"], answer


# ----------------------------------------------------------------------------- the table


def test_every_quirk_says_what_it_does_and_why() -> None:
    assert len({q.name for q in QUIRKS}) == len(QUIRKS)
    for q in QUIRKS:
        assert q.name.isidentifier() and q.does and q.why, q
        assert q.api is Api.CHAT  # today every known refusal is a chat server's


def test_quirks_in_force_follow_the_provider_kind_and_its_switches() -> None:
    assert OLLAMA_REASONING_DROPPED in active_quirks("ollama")
    assert OLLAMA_REASONING_DROPPED not in active_quirks("groq")
    assert THINKING_NOT_FORWARDED in active_quirks("groq") and THINKING_NOT_FORWARDED in active_quirks(None)
    assert active_quirks("ollama", frozenset({OLLAMA_REASONING_DROPPED})) == active_quirks("groq")
    # The Ollama quirk is what makes llama3.1 take no effort; off, the model is as little known as elsewhere.
    assert caps_for("llama3.1", "ollama").efforts == ()
    off = caps_for("llama3.1", "ollama", quirks_off=frozenset({OLLAMA_REASONING_DROPPED}))
    assert off.efforts is None and OLLAMA_REASONING_DROPPED not in off.quirks


def test_a_switch_is_per_provider(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                          turned_off("strict", THINKING_NOT_FORWARDED))
    strict, local = config.provider_named("strict"), config.provider_named("local")
    assert strict is not None and local is not None
    assert strict.quirks_off == {THINKING_NOT_FORWARDED} and local.quirks_off == frozenset()
    assert THINKING_NOT_FORWARDED not in caps_of("chat-model", strict).quirks
    assert THINKING_NOT_FORWARDED in caps_of("llama3.1", local).quirks


# ----------------------------------------------------------------------------- through the proxy


@pytest.mark.parametrize("on", [True, False])
async def test_ollama_reasoning_dropped_for_codex(make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream,
                                                  strict: FakeUpstream, on: bool) -> None:
    proxy, records = await start(make_proxy, tmp_path, upstream, strict,
                                 None if on else turned_off("local", OLLAMA_REASONING_DROPPED))
    body = {"model": "arch.local", "input": "hi", "reasoning": {"effort": "medium", "summary": "auto"}}
    status, answer = await post(proxy, "/v1/responses", body)
    sent = upstream.last("/chat/completions").json
    assert sent["model"] == "llama3.1"
    if on:
        assert status == 200 and answer["status"] == "completed" and "reasoning_effort" not in sent
        await eventually(lambda: records)
        assert any("reasoning effort dropped" in n for n in records[-1].notes)
    else:
        assert sent["reasoning_effort"] == "medium"
        assert status == 400
        assert_openai_error(answer, "upstream provider 'local' answered 400: \"llama3.1\" does not support thinking")


@pytest.mark.parametrize("on", [True, False])
async def test_ollama_reasoning_dropped_for_a_retargeted_chat_passthrough(
    make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream, strict: FakeUpstream, on: bool
) -> None:
    proxy, _ = await start(make_proxy, tmp_path, upstream, strict,
                           None if on else turned_off("local", OLLAMA_REASONING_DROPPED))
    body = {"model": "arch.local", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}
    status, answer = await post(proxy, "/v1/chat/completions", body)
    sent = upstream.last("/chat/completions").json
    if on:
        assert status == 200 and answer["object"] == "chat.completion" and "reasoning_effort" not in sent
    else:
        assert sent == {**body, "model": "llama3.1"}  # the client's request, only the model named
        assert status == 400
        assert answer["error"]["message"] == '"llama3.1" does not support thinking'  # Ollama's own answer


@pytest.mark.parametrize("on", [True, False])
async def test_thinking_not_forwarded(make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream,
                                      strict: StrictChatServer, on: bool) -> None:
    proxy, _ = await start(make_proxy, tmp_path, upstream, strict,
                           None if on else turned_off("strict", THINKING_NOT_FORWARDED))
    body = {"model": "strict/chat-model", "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 8000},
            "messages": [{"role": "user", "content": "hi"}]}
    status, answer = await post(proxy, "/v1/messages", body)
    sent = strict.last("/chat/completions").json
    assert sent["max_tokens"] == 1024
    if on:
        assert status == 200 and answer["type"] == "message" and "reasoning_effort" not in sent
    else:
        assert sent["reasoning_effort"] == "medium"  # the thinking budget, as an effort
        assert status == 422
        assert_anthropic_error(answer, "upstream provider 'strict' answered 422: reasoning_effort: extra inputs")


@pytest.mark.parametrize("on", [True, False])
async def test_large_max_tokens_dropped(make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream,
                                        strict: StrictChatServer, on: bool) -> None:
    proxy, _ = await start(make_proxy, tmp_path, upstream, strict,
                           None if on else turned_off("strict", LARGE_MAX_TOKENS_DROPPED))
    body = {"model": "strict/chat-model", "max_tokens": 32000, "messages": [{"role": "user", "content": "hi"}]}
    status, answer = await post(proxy, "/v1/messages", body)
    sent = strict.last("/chat/completions").json
    if on:
        assert status == 200 and answer["type"] == "message" and "max_tokens" not in sent
    else:
        assert sent["max_tokens"] == 32000
        assert status == 400
        assert_anthropic_error(answer, "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]")


@pytest.mark.parametrize("on", [True, False])
async def test_default_tool_fields_omitted(make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream,
                                           strict: StrictChatServer, on: bool) -> None:
    proxy, _ = await start(make_proxy, tmp_path, upstream, strict,
                           None if on else turned_off("strict", DEFAULT_TOOL_FIELDS_OMITTED))
    body = {"model": "strict/chat-model", "input": "list the files",
            "tools": [{"type": "function", "name": "shell", "description": "run a command",
                       "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}],
            "tool_choice": "auto", "parallel_tool_calls": True}
    status, answer = await post(proxy, "/v1/responses", body)
    sent = strict.last("/chat/completions").json
    assert [t["function"]["name"] for t in sent["tools"]] == ["shell"]
    if on:
        assert status == 200 and answer["status"] == "completed"
        assert "tool_choice" not in sent and "parallel_tool_calls" not in sent
    else:
        assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is True
        assert status == 422
        assert_openai_error(answer, "upstream provider 'strict' answered 422: parallel_tool_calls: extra inputs")


async def test_a_quirk_turned_off_elsewhere_still_applies_here(
    make_proxy: ProxyFactory, tmp_path: Path, upstream: FakeUpstream, strict: StrictChatServer
) -> None:
    proxy, _ = await start(make_proxy, tmp_path, upstream, strict, turned_off("local", THINKING_NOT_FORWARDED))
    body = {"model": "strict/chat-model", "max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 8000},
            "messages": [{"role": "user", "content": "hi"}]}
    status, _ = await post(proxy, "/v1/messages", body)
    assert status == 200 and "reasoning_effort" not in strict.last("/chat/completions").json
