"""Same-API passthrough through the real proxy, with the official SDKs as clients."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import orjson
import pytest

from proxy.events import RequestFailed, RequestFinished

from .conftest import FAKE_KEYS, eventually, make_config
from .fakes import FakeUpstream, Script, chat_events, messages_events, responses_events


def records(proxy) -> list:
    got: list = []
    proxy.state.bus.subscribe(
        lambda e: got.append(e.record) if isinstance(e, RequestFinished | RequestFailed) else None
    )
    return got


async def test_responses_stream_through_alias_keeps_unknown_fields(proxy, upstream: FakeUpstream, oai) -> None:
    recs = records(proxy)
    stream = await oai.responses.create(
        model="arch.codex.default",
        input="hi",
        stream=True,
        reasoning={"effort": "high", "summary": "auto"},
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="thread-1",
        extra_body={"client_metadata": {"session_id": "thread-1"}},
    )
    types = [e.type async for e in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    sent = upstream.last("/v1/responses")
    body = sent.json
    assert body["model"] == "gpt-5.3-codex"
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["prompt_cache_key"] == "thread-1" and body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False and body["client_metadata"] == {"session_id": "thread-1"}
    assert sent.headers["Authorization"] == f"Bearer {FAKE_KEYS['OPENAI_API_KEY']}"  # client key replaced
    await eventually(lambda: recs)
    r = recs[-1]
    assert (r.client_model, r.alias_target, r.provider, r.upstream_model) == (
        "arch.codex.default",
        "gpt-5.3-codex",
        "openai/gpt-5.3-codex",
        "gpt-5.3-codex",
    )
    assert r.status == 200 and r.stream and r.ttft_ms is not None and r.ttft_ms <= r.latency_ms
    assert (r.usage.input_tokens, r.usage.cached_tokens, r.usage.output_tokens, r.usage.reasoning_tokens) == (
        12,
        4,
        7,
        2,
    )


async def test_lifecycle_events_in_order(proxy, upstream: FakeUpstream) -> None:
    from proxy.events import FirstToken, ModelResolved, RequestStarted

    got: list = []
    proxy.state.bus.subscribe(got.append)
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x", "stream": True}) as r,
    ):
        await r.read()
    await eventually(lambda: any(isinstance(e, RequestFinished) for e in got))
    kinds = [type(e) for e in got]
    assert kinds == [RequestStarted, ModelResolved, FirstToken, RequestFinished]
    assert len({e.request_id if hasattr(e, "request_id") else e.record.request_id for e in got}) == 1


async def test_responses_stream_bytes_are_relayed_verbatim(proxy, upstream: FakeUpstream) -> None:
    frames = responses_events("gpt-5.3-codex", text="naïve → ✓ 🎉")
    upstream.script("/responses", Script(frames=frames, chunk_size=3))
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy.url + "/v1/responses", json={"model": "gpt-5.3-codex", "input": "x", "stream": True}) as resp,
    ):
        got = await resp.read()
    assert got == b"".join(frames)


async def test_responses_non_stream(proxy, oai) -> None:
    r = await oai.responses.create(model="openai/gpt-5.3-codex", input="hi")
    assert r.output_text == "Hello from the fake upstream." and r.usage.output_tokens == 7


async def test_request_without_model_uses_default_provider(proxy, upstream: FakeUpstream) -> None:
    recs = records(proxy)
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", json={"input": "hi"}) as resp:
        assert resp.status == 200
    assert upstream.last().json["model"] == "gpt-5.3-codex"
    await eventually(lambda: recs)
    assert recs[-1].via == "default" and recs[-1].client_model == ""


async def test_chat_passthrough_stream_and_tools(proxy, upstream: FakeUpstream, oai) -> None:
    got = records(proxy)
    upstream.script(
        "/chat/completions",
        Script(
            frames=chat_events(
                "llama3.1", text="", tool_calls=[{"name": "exec_command", "arguments": '{"cmd":"ls -la"}'}]
            )
        ),
    )
    stream = await oai.chat.completions.create(
        model="arch.local",
        messages=[{"role": "user", "content": "list"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    args, usage = "", None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                args += tc.function.arguments or ""
    assert args == '{"cmd":"ls -la"}' and usage.prompt_tokens == 11
    sent = upstream.last("/chat/completions")
    assert sent.path == "/v1/chat/completions" and sent.json["model"] == "llama3.1"
    assert "Authorization" not in sent.headers  # ollama: no key configured, the client's is not forwarded
    await eventually(lambda: got)
    assert got[-1].tool_calls == ("exec_command",)  # the turn's tool loop names it (issue #17)


async def test_anthropic_passthrough_stream_and_non_stream(proxy, upstream: FakeUpstream, ant) -> None:
    upstream.script(
        "/messages",
        Script(
            frames=messages_events(
                "claude-sonnet-4-5", text="Let me check.", tool_use={"name": "Bash", "input": {"command": "ls"}}
            )
        ),
    )
    recs = records(proxy)
    async with ant.messages.stream(
        model="arch.claude", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        msg = await s.get_final_message()
    assert msg.content[0].text == "Let me check." and msg.content[1].input == {"command": "ls"}
    assert msg.stop_reason == "tool_use"
    sent = upstream.last("/messages")
    await eventually(lambda: recs)
    assert sent.headers["x-api-key"] == FAKE_KEYS["ANTHROPIC_API_KEY"]
    assert sent.headers["anthropic-version"]  # the client's version is forwarded on passthrough
    assert recs[-1].usage.input_tokens == 14 and recs[-1].usage.cached_tokens == 5 and recs[-1].usage.output_tokens == 6
    m = await ant.messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert m.content[0].text == "Hello from the fake upstream."


async def test_unknown_model_in_each_client_shape(proxy, oai, ant) -> None:
    recs = records(proxy)
    with pytest.raises(openai.BadRequestError) as e1:
        await oai.responses.create(model="gpt-nope", input="x")
    assert e1.value.code == "model_not_found"
    assert "Model 'gpt-nope' not found in configured providers" in e1.value.message
    with pytest.raises(openai.BadRequestError):
        await oai.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.NotFoundError) as e3:
        await ant.messages.create(model="gpt-nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e3.value.body["error"]["type"] == "not_found_error"
    await eventually(lambda: len(recs) == 3)
    assert [r.status for r in recs] == [400, 400, 404]
    assert all(r.error and "gpt-nope" in r.error for r in recs)


async def test_missing_key_names_the_variable(proxy, upstream: FakeUpstream, oai) -> None:
    n = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as e:
        await oai.responses.create(model="grok-4-1-fast-non-reasoning", input="x")
    assert "export MISSING_XAI_KEY_FOR_TESTS=" in e.value.message and e.value.code == "missing_api_key"
    assert len(upstream.requests) == n  # nothing was sent upstream


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_upstream_error_status_passes_through(proxy, upstream: FakeUpstream, status: int) -> None:
    upstream.script(
        "/responses",
        Script(
            status=status,
            headers={"retry-after": "7"},
            json={"error": {"message": "slow down", "type": "x", "code": "c"}},
        ),
    )
    recs = records(proxy)
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x"}) as resp,
    ):
        assert resp.status == status and resp.headers["retry-after"] == "7"
        assert (await resp.json())["error"]["message"] == "slow down"
    await eventually(lambda: recs)
    assert recs[-1].status == status and "slow down" in recs[-1].error


async def test_cut_stream_gets_a_terminal_failure_event(proxy, upstream: FakeUpstream, oai) -> None:
    upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex"), cut_after=4))
    recs = records(proxy)
    stream = await oai.responses.create(model="arch.codex.default", input="x", stream=True)
    events = [ev async for ev in stream]  # the SDK yields response.failed as an ordinary, typed event
    types = [ev.type for ev in events]
    assert "response.completed" not in types
    assert types[-1] == "response.failed", types
    failure = events[-1].response.error
    assert failure is not None and failure.code in ("stream_incomplete", "stream_interrupted") and failure.message
    await eventually(lambda: recs)
    assert recs[-1].error and recs[-1].error_code == failure.code


async def test_upstream_unreachable_is_502_in_client_shape(make_proxy) -> None:
    from .conftest import make_config

    proxy = await make_proxy(make_config("http://127.0.0.1:9"))  # discard port: connection refused
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as ant:
        with pytest.raises(anthropic.APIStatusError) as e:
            await ant.messages.create(model="arch.claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502 and "unreachable" in e.value.message
    assert "sk-ant" not in e.value.message


async def test_client_disconnect_cancels_upstream(proxy, upstream: FakeUpstream) -> None:
    upstream.script("/responses", Script(frames=responses_events("m"), frame_delay=0.3))
    recs = records(proxy)
    async with aiohttp.ClientSession() as s:
        resp = await s.post(
            proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x", "stream": True}
        )
        await resp.content.readany()
        resp.close()  # hang up mid-stream
    await eventually(lambda: upstream.cancelled and recs)
    assert upstream.cancelled == 1
    assert recs[-1].status == 499 and recs[-1].error == "client disconnected"


async def test_malformed_json_and_non_object_bodies(proxy) -> None:
    recs = records(proxy)
    async with aiohttp.ClientSession() as s:
        for path, data in [("/v1/responses", b"{nope"), ("/v1/messages", b"[1,2]"), ("/v1/chat/completions", b"")]:
            async with s.post(proxy.url + path, data=data, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400
                body = await r.json()
                if path == "/v1/messages":
                    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
                else:
                    assert body["error"]["type"] == "invalid_request_error"
    await eventually(lambda: len(recs) == 3)
    assert all(r.status == 400 for r in recs)


async def test_models_lists_providers_and_aliases(proxy, oai) -> None:
    models = await oai.models.list()
    ids = {m.id for m in models.data}
    assert {"openai/gpt-5.3-codex", "anthropic/claude-sonnet-4-5", "arch.codex.default", "arch.local"} <= ids


async def test_healthz(proxy) -> None:
    async with aiohttp.ClientSession() as s, s.get(proxy.url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


async def test_large_codex_sized_body(proxy, upstream: FakeUpstream) -> None:
    big = {
        "model": "arch.codex.default",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 3_000_000}]}],
    }
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", data=orjson.dumps(big)) as r:
        assert r.status == 200
    assert len(upstream.last().raw) > 3_000_000


async def test_remote_providers_go_through_the_environment_proxy(
    upstream: FakeUpstream, make_proxy, monkeypatch
) -> None:
    """Behind a corporate proxy: HTTP(S)_PROXY is honoured for remote providers (the fake upstream
    plays the proxy here and answers itself); loopback providers are always reached directly."""
    from proxy.config import parse_config

    monkeypatch.setenv("HTTP_PROXY", upstream.url)
    cfg = parse_config(
        "model_providers:\n  - model: openai/gpt-5.3-codex\n    access_key: k\n"
        "    base_url: http://llm.remote.example/v1\n",
        "t.yaml",
        {},
    )
    proxy = await make_proxy(cfg)
    async with (
        aiohttp.ClientSession() as s,
        s.post(proxy.url + "/v1/responses", json={"model": "gpt-5.3-codex", "input": "x"}) as r,
    ):
        assert r.status == 200
    sent = upstream.last("/v1/responses")
    assert sent.headers["Host"] == "llm.remote.example" and sent.json["model"] == "gpt-5.3-codex"


async def test_a_client_that_hangs_up_after_its_terminal_event_is_a_success(proxy, upstream: FakeUpstream) -> None:
    """Codex closes the connection as soon as it reads `response.completed`; an upstream that keeps its
    own connection open a moment longer must not turn that request into a 499 without usage."""
    got = records(proxy)
    upstream.script("/responses", Script(frames=responses_events("gpt-5.3-codex", "done"), stall=3))
    body = {"model": "arch.codex.default", "stream": True, "input": "hi"}
    async with aiohttp.ClientSession() as s:
        resp = await s.post(proxy.url + "/v1/responses", json=body)
        seen = b""
        while b"response.completed" not in seen:
            chunk = await resp.content.readany()
            assert chunk, seen
            seen += chunk
        resp.close()  # hang up with the upstream still open
    await eventually(lambda: got)
    assert (got[-1].status, got[-1].error) == (200, None) and got[-1].usage.input_tokens > 0


async def test_upstream_cookies_are_never_replayed(upstream: FakeUpstream, make_proxy) -> None:
    """An upstream's Set-Cookie (Cloudflare sets one on api.openai.com) stays with that answer: the proxy
    serves many clients, so it keeps no cookie jar and never sends one client's cookies upstream for
    another. The upstream is named `localhost`: cookie jars ignore cookies from bare IP addresses."""
    proxy = await make_proxy(make_config(f"http://localhost:{upstream.port}"))
    upstream.script("/v1/responses", Script(headers={"Set-Cookie": "__cf_bm=abc123; Path=/; HttpOnly"}))
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="client-key", max_retries=0) as oai:
        first = await oai.responses.create(model="arch.codex.default", input="hi")
        assert first.status == "completed"
        await oai.responses.create(model="arch.codex.default", input="again")
    assert len(upstream.requests) == 2
    assert all("cookie" not in {k.lower() for k in c.headers} for c in upstream.requests)
