"""Reliability: failover, cooldown, failure shapes per client, heartbeats, limits, hot reload."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import aiohttp
import anthropic
import openai
import pytest

from proxy.config import load_config, parse_config
from proxy.events import AttemptFailed, ConfigReloaded, ProviderCooling, RequestFailed, RequestFinished
from proxy.reload import ConfigReloader
from proxy.state import ProxyOptions, ProxyState

from .config_corpus import plano_config, provider_at
from .conftest import eventually
from .fakes import FakeUpstream, Script, messages_events, responses_events

KEYS = {"OPENAI_API_KEY": "sk-test-A", "XAI_API_KEY": "xai-test-B", "ANTHROPIC_API_KEY": "sk-ant-test-C"}


def two_provider_yaml(a: str, b: str, extra: str = "") -> str:
    """OpenAI and Anthropic on fake `a`, xAI and a second Anthropic model on fake `b`."""
    return plano_config(
        provider_at(a, "openai/gpt-5.3-codex"),
        provider_at(b, "xai/grok-4"),
        provider_at(a, "anthropic/claude-a"),
        provider_at(b, "anthropic/claude-b"),
        aliases={"arch.codex.default": "gpt-5.3-codex", "arch.claude": "claude-a", "solo": "gpt-5.3-codex"},
        extra=extra,
    )


# Our extensions live in the sidecar (proxy.config_ext), so Plano accepts the config above as it is.
SIDECAR = (
    textwrap.dedent(
        """\
        model_aliases:
          arch.codex.default:
            fallbacks: [grok-4]
          arch.claude:
            fallbacks: [claude-b]
        overrides:
          cooldown_failures: 2
          cooldown_seconds: 30
        """
    ),
    "t.tui.yaml",
)


@pytest.fixture
async def second() -> FakeUpstream:
    fake = await FakeUpstream().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def pair(upstream: FakeUpstream, second: FakeUpstream, make_proxy):
    cfg = parse_config(two_provider_yaml(upstream.url, second.url), "t.yaml", KEYS, sidecar=SIDECAR)
    proxy = await make_proxy(cfg, ProxyOptions(heartbeat_s=0.2, idle_timeout_s=2.0))
    events: list = []
    proxy.state.bus.subscribe(events.append)
    return proxy, events


def finished(events: list) -> list:
    return [e.record for e in events if isinstance(e, RequestFinished | RequestFailed)]


async def post(url: str, path: str, body: dict) -> tuple[int, dict | bytes, dict]:
    async with aiohttp.ClientSession() as s, s.post(url + path, json=body) as r:
        data = await r.read()
        try:
            return r.status, await r.json(content_type=None), dict(r.headers)
        except ValueError:
            return r.status, data, dict(r.headers)


async def test_fallback_on_500_then_success(pair, upstream, second) -> None:
    proxy, events = pair
    upstream.script("/responses", Script(status=500))
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        r = await c.responses.create(model="arch.codex.default", input="hi")
    assert r.output_text == "Hello from the fake upstream."
    assert second.last("/responses").json["model"] == "grok-4"
    await eventually(lambda: finished(events))
    rec = finished(events)[-1]
    assert rec.provider == "xai/grok-4" and rec.status == 200
    assert [(a.provider, a.status) for a in rec.attempts] == [("openai/gpt-5.3-codex", 500), ("xai/grok-4", 200)]
    assert any(isinstance(e, AttemptFailed) for e in events)
    from plano_tui.headless import format_record

    assert "attempts=2 fallback_from='openai/gpt-5.3-codex'" in format_record(rec)


async def test_a_client_hanging_up_after_the_answer_keeps_every_attempt_in_the_record(pair, upstream, second) -> None:
    """Codex closes the connection as soon as `response.completed` arrives, often before the upstream's
    EOF: the handler is cancelled mid-relay. The record still lists the fallback that answered (it was
    lost, so the headless line dropped `attempts=2 fallback_from=…` now and then)."""
    proxy, events = pair
    upstream.script("/responses", Script(status=500))
    second.script("/responses", Script(frames=responses_events("grok-4", "done"), stall=5.0))  # no EOF for 5 s
    body = {"model": "arch.codex.default", "input": "hi", "stream": True}
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", json=body) as r:
        async for line in r.content:
            if b"response.completed" in line:
                break  # hang up here, as Codex does
    await eventually(lambda: finished(events))
    rec = finished(events)[-1]
    assert (rec.status, rec.error, rec.provider) == (200, None, "xai/grok-4")
    assert [(a.provider, a.status) for a in rec.attempts] == [("openai/gpt-5.3-codex", 500), ("xai/grok-4", 200)]
    from plano_tui.headless import format_record

    assert "attempts=2 fallback_from='openai/gpt-5.3-codex'" in format_record(rec)


async def test_fallback_on_connect_error(upstream, make_proxy, second) -> None:
    cfg = parse_config(two_provider_yaml("http://127.0.0.1:9", second.url), "t.yaml", KEYS, sidecar=SIDECAR)
    proxy = await make_proxy(cfg)
    status, _body, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "input": "x"})
    assert status == 200 and second.requests


async def test_streaming_failover_before_output_and_none_after(pair, upstream, second) -> None:
    proxy, _events = pair
    # 1) the first upstream cuts its stream before any output item: the second takes over.
    upstream.script("/responses", Script(frames=responses_events("m"), cut_after=2))
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        async with c.responses.stream(model="arch.codex.default", input="hi") as s:
            final = await s.get_final_response()
        assert final.output_text == "Hello from the fake upstream."
        # 2) output already reached the client: no failover, an in-stream failure instead.
        n_second = len(second.requests)
        upstream.script("/responses", Script(frames=responses_events("m"), cut_after=5))
        stream = await c.responses.create(model="arch.codex.default", input="hi", stream=True)
        types = [e.type async for e in stream]
    assert types[-1] == "response.failed" and "response.completed" not in types
    assert "response.output_item.done" not in types  # nothing is marked done that was abandoned
    assert len(second.requests) == n_second


async def test_deterministic_400_is_not_retried(pair, upstream, second) -> None:
    proxy, _ = pair
    upstream.script("/responses", Script(status=400, json={"error": {"message": "bad input", "code": "invalid"}}))
    n = len(upstream.requests)
    status, body, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "input": "x"})
    assert status == 400 and body["error"]["message"] == "bad input"
    assert len(upstream.requests) == n + 1 and not second.requests


async def test_cooldown_skips_a_failing_provider(pair, upstream, second) -> None:
    proxy, events = pair
    upstream.script("/responses", Script(status=503), Script(status=503))
    for _ in range(2):
        status, _, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "input": "x"})
        assert status == 200
    cooling = [e for e in events if isinstance(e, ProviderCooling)]
    assert cooling and cooling[0].provider == "openai/gpt-5.3-codex"
    n = len(upstream.requests)
    status, _, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "input": "x"})
    assert status == 200 and len(upstream.requests) == n  # not even tried while cooling
    # …but a request whose only candidate is the cooled provider still goes there.
    status, _, _ = await post(proxy.url, "/v1/responses", {"model": "solo", "input": "x"})
    assert status == 200 and len(upstream.requests) == n + 1


async def test_429_retry_after_sets_cooldown_and_exhaustion_returns_429(pair, upstream, second) -> None:
    proxy, _events = pair
    upstream.script(
        "/messages",
        Script(
            status=429,
            headers={"retry-after": "20"},
            json={"type": "error", "error": {"type": "rate_limit_error", "message": "a"}},
        ),
    )
    second.script(
        "/messages",
        Script(
            status=429,
            headers={"retry-after": "5"},
            json={"type": "error", "error": {"type": "rate_limit_error", "message": "b"}},
        ),
    )
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as c:
        with pytest.raises(anthropic.RateLimitError) as e:
            await c.messages.create(model="arch.claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.response.headers["retry-after"] == "5"
    assert "anthropic/claude-a" in e.value.message and "anthropic/claude-b" in e.value.message
    assert proxy.state.health.cooling_until("anthropic/claude-a") is not None


async def test_exhausted_5xx_names_every_provider(pair, upstream, second) -> None:
    proxy, _ = pair
    upstream.script("/responses", Script(status=502))
    second.script("/responses", Script(status=503))
    status, body, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "input": "x"})
    assert status == 503
    msg = body["error"]["message"]
    assert "openai/gpt-5.3-codex" in msg and "xai/grok-4" in msg


async def test_heartbeats_keep_streaming_clients_alive(pair, upstream) -> None:
    proxy, _ = pair
    upstream.script("/responses", Script(delay=0.7))
    upstream.script("/messages", Script(delay=0.7, frames=messages_events("claude-a")))
    async with aiohttp.ClientSession() as s:
        async with s.post(proxy.url + "/v1/responses", json={"model": "solo", "input": "x", "stream": True}) as r:
            data = await r.read()
    assert data.startswith(b'event: keepalive\ndata: {"type":"keepalive"}')  # a real data event, not a comment
    assert data.count(b"keepalive") >= 2 and b"response.completed" in data
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as c:
        async with c.messages.stream(model="claude-a", max_tokens=5, messages=[{"role": "user", "content": "x"}]) as st:
            msg = await st.get_final_message()
    assert msg.content[0].text == "Hello from the fake upstream."


async def test_error_after_heartbeat_is_reported_in_stream(pair, upstream) -> None:
    proxy, _ = pair
    upstream.script("/responses", Script(delay=0.5, status=400, json={"error": {"message": "prompt is too long"}}))
    async with aiohttp.ClientSession() as s:
        async with s.post(proxy.url + "/v1/responses", json={"model": "solo", "input": "x", "stream": True}) as r:
            assert r.status == 200
            data = await r.read()
    assert b"keepalive" in data and b"response.failed" in data
    assert b'"code":"context_length_exceeded"' in data


async def test_idle_upstream_times_out_with_a_terminal_event(pair, upstream) -> None:
    proxy, events = pair
    upstream.script("/responses", Script(frames=responses_events("m")[:4], stall=5))
    async with aiohttp.ClientSession() as s:
        async with s.post(proxy.url + "/v1/responses", json={"model": "solo", "input": "x", "stream": True}) as r:
            data = await asyncio.wait_for(r.read(), 6)
    assert b"response.failed" in data
    await eventually(lambda: finished(events))
    assert finished(events)[-1].error_code == "stream_interrupted"


async def test_body_limit_is_413_in_client_shape(upstream, make_proxy) -> None:
    from .conftest import make_config

    proxy = await make_proxy(make_config(upstream.url), ProxyOptions(max_body_bytes=10_000))
    status, body, _ = await post(proxy.url, "/v1/messages", {"model": "arch.claude", "x": "y" * 20_000})
    assert status == 413 and body["type"] == "error" and body["error"]["type"] == "request_too_large"
    status, body, _ = await post(proxy.url, "/v1/responses", {"model": "arch.codex.default", "x": "y" * 20_000})
    assert status == 413 and body["error"]["code"] == "request_too_large"


async def test_hot_reload_applies_valid_edits_and_keeps_old_config_on_errors(
    tmp_path: Path, upstream, make_proxy
) -> None:
    from .conftest import FAKE_KEYS, proxy_config_yaml

    path = tmp_path / "config.yaml"
    path.write_text(proxy_config_yaml(upstream.url))
    state = ProxyState(load_config(path, FAKE_KEYS))
    proxy = await make_proxy(state.config, state=state)
    events: list = []
    state.bus.subscribe(events.append)
    reloader = ConfigReloader(state, path, watch=True, debounce_s=0.05)
    await reloader.start()

    async def write_until_reloaded(text: str) -> None:
        # The watcher arms a moment after start() and says nothing when it does: write again until the
        # reload event shows it saw the edit.
        for _ in range(100):
            path.write_text(text)
            try:
                await eventually(lambda: any(isinstance(e, ConfigReloaded) for e in events), 0.5)
                return
            except AssertionError:
                continue
        raise AssertionError("the watcher never reported the edit")

    try:
        state.set_alias("arch.local", "claude-sonnet-4-5")  # a runtime retarget the file doesn't touch
        await write_until_reloaded(
            proxy_config_yaml(upstream.url).replace("target: gpt-5.3-codex", "target: llama3.1")
        )
        assert state.aliases.get("arch.codex.default").target == "llama3.1"
        assert state.aliases.get("arch.local").target == "claude-sonnet-4-5"  # runtime target kept
        status, _, _ = await post(
            proxy.url,
            "/v1/chat/completions",
            {"model": "arch.codex.default", "messages": [{"role": "user", "content": "x"}]},
        )
        assert status == 200 and upstream.last().json["model"] == "llama3.1"
        events.clear()
        path.write_text("model_providers:\n  - model: gpt-4o\n")  # broken
        await eventually(lambda: any(isinstance(e, ConfigReloaded) for e in events))
        bad = next(e for e in events if isinstance(e, ConfigReloaded))
        assert not bad.ok and "model_providers[0].model" in bad.error and state.reload_error
        assert state.aliases.get("arch.codex.default").target == "llama3.1"  # old config still serving
        ok, msg = reloader.reload_now()
        assert not ok and "config.yaml:2" in msg
    finally:
        await reloader.stop()


async def test_slow_client_backpressure_bounds_buffering(make_proxy) -> None:
    """A client that stops reading makes the proxy stop reading upstream (no unbounded buffering)."""
    from aiohttp import web

    from .conftest import make_config

    sent = 0
    frame = (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"'
        + b"x" * 4000
        + b'"}\n\n'
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(10_000):  # ~40 MB if nobody pushed back
            await resp.write(frame)
            sent += len(frame)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        proxy = await make_proxy(make_config(f"http://127.0.0.1:{port}"))
        async with aiohttp.ClientSession() as s:
            r = await s.post(
                proxy.url + "/v1/responses", json={"model": "arch.codex.default", "input": "x", "stream": True}
            )
            await r.content.read(1000)  # … and the client stops reading
            # Wait until the upstream is stuck (its count stops moving for a while), or has sent it all.
            last, still = -1, 0
            while still < 20 and sent < 40_000_000:
                last, still = sent, still + 1 if sent == last else 0
                await asyncio.sleep(0.01)
            print("bytes sent upstream while the client stalled:", sent)
            assert sent < 16_000_000, sent  # socket buffers only, not the whole 40 MB
            r.close()
    finally:
        await runner.cleanup()
