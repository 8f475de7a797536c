"""Prompt caching (proxy.caching) proved on the wire: an Anthropic upstream that enforces Anthropic's
breakpoint rules and models its prefix cache (tests/anthropic_cache.py). Native Messages requests (the
official Anthropic SDK) and translated ones (captured Codex traffic, the official OpenAI SDK's Chat
Completions) hit the cache from turn 2 on, and the cache usage flows into our cached-token counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import anthropic
import openai
import pytest

from proxy.caching import inject_breakpoints, prefix_tokens
from proxy.server import ProxyServer
from proxy.state import ProxyState
from proxy.telemetry import install

from .anthropic_cache import AnthropicCacheUpstream
from .conftest import leaked_secrets, make_config
from .test_routing_proxy import codex_run, post, records, settled

CACHING = "prompt_caching:\n  enabled: true\n"
SYSTEM = "You are Claude Code, a coding agent. Follow the repository's conventions. " * 80  # ≈ 1.5k tokens


@pytest.fixture
async def claude() -> AsyncIterator[AnthropicCacheUpstream]:
    fake = AnthropicCacheUpstream()
    await fake.start()
    yield fake
    await fake.stop()


# ------------------------------------------------------------------ the fake enforces Anthropic's rules


async def test_the_fake_refuses_what_anthropic_refuses(claude: AnthropicCacheUpstream) -> None:
    mark = {"type": "ephemeral"}
    async with anthropic.AsyncAnthropic(base_url=claude.url, api_key="k", max_retries=0) as client:
        five = [{"type": "text", "text": f"part {i}", "cache_control": mark} for i in range(5)]
        with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
            await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": five}])
        thinking = [{"type": "thinking", "thinking": "x", "signature": "s", "cache_control": mark},
                    {"type": "text", "text": "ok"}]
        with pytest.raises(anthropic.BadRequestError, match="cannot be set on this block type"):
            await client.messages.create(model="m", max_tokens=5, messages=[
                {"role": "user", "content": "q"}, {"role": "assistant", "content": thinking},
                {"role": "user", "content": "q2"}])
        with pytest.raises(anthropic.BadRequestError, match="empty text"):
            await client.messages.create(model="m", max_tokens=5, messages=[
                {"role": "user", "content": [{"type": "text", "text": "", "cache_control": mark}]}])
        # a prefix below the minimum is never cached; one above is written, then read
        small = await client.messages.create(model="m", max_tokens=5, system=[
            {"type": "text", "text": "short", "cache_control": mark}], messages=[{"role": "user", "content": "hi"}])
        assert small.usage.cache_creation_input_tokens == 0
        for expected_read in (False, True):
            r = await client.messages.create(model="m", max_tokens=5, system=[
                {"type": "text", "text": SYSTEM, "cache_control": mark}], messages=[{"role": "user", "content": "hi"}])
            assert (r.usage.cache_read_input_tokens > 0) is expected_read


def test_injection_follows_planos_rules() -> None:
    body = {"system": SYSTEM, "tools": [{"name": "t", "input_schema": {}}],
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "y"},
                                                      {"type": "text", "text": ""}]}]}
    out, n = inject_breakpoints(body, 1024)
    assert n == 2 and out["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert out["messages"][-1]["content"][0]["cache_control"] == {"type": "ephemeral"}  # not the empty text
    assert "cache_control" not in str(body)  # the input is untouched (it may go to a fallback)
    assert inject_breakpoints(out, 1024) is None  # client (or earlier) markers: left alone
    assert inject_breakpoints({**body, "system": "tiny"}, 1024) is None and prefix_tokens(body) >= 1024
    no_system = inject_breakpoints({k: v for k, v in body.items() if k != "system"} | {
        "tools": [{"name": "t", "description": SYSTEM, "input_schema": {}}]}, 1024)
    assert no_system is not None and no_system[0]["tools"][-1]["cache_control"] == {"type": "ephemeral"}


# ------------------------------------------------------------------ through the proxy


async def test_claude_code_native_messages_hit_the_cache_from_turn_two(claude) -> None:
    proxy = ProxyServer(ProxyState(make_config(claude.url, CACHING)), host="127.0.0.1", port=0)
    install(proxy)  # /metrics, as `planoai up` serves it (make_proxy starts a proxy before it can be added)
    leaks: list[str] = []  # the key-leak watch make_proxy puts on every proxy
    proxy.state.bus.subscribe(lambda e: leaks.extend(leaked_secrets(e)))
    await proxy.start()
    try:
        await _claude_code_turns(claude, proxy)
    finally:
        await proxy.stop(drain_s=0)
    assert not leaks, f"provider keys leaked into records/logs: {sorted(set(leaks))}"


async def _claude_code_turns(claude: AnthropicCacheUpstream, proxy: ProxyServer) -> None:
    recs = records(proxy)
    history: list[dict] = []
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as client:
        for turn in ("read main.py", "now fix the failing test", "and add a regression test"):
            history.append({"role": "user", "content": turn})
            async with client.messages.stream(model="arch.claude", max_tokens=50, system=SYSTEM,
                                              messages=history) as stream:
                final = await stream.get_final_message()
            history.append({"role": "assistant", "content": final.content[0].text})
    r = await settled(recs, 3)
    assert claude.rejected == []
    assert claude.usages[0]["cache_read_input_tokens"] == 0 and claude.usages[0]["cache_creation_input_tokens"] > 0
    assert all(u["cache_read_input_tokens"] > 0 for u in claude.usages[1:])
    assert [x.usage.cached_tokens for x in r] == [u["cache_read_input_tokens"] for u in claude.usages]
    assert [x.usage.cache_write_tokens for x in r] == [u["cache_creation_input_tokens"] for u in claude.usages]
    assert all("breakpoints added" in "; ".join(x.notes) for x in r)
    # /admin/stats and /metrics count reads and writes (Plano: brightstaff_llm_tokens kind=cache_write; a
    # request that only wrote the cache counts as a prompt-cache hit)
    async with aiohttp.ClientSession() as s:
        async with s.get(proxy.url + "/admin/stats") as resp:
            tokens = (await resp.json())["tokens"]
        async with s.get(proxy.url + "/metrics") as resp:
            metrics = await resp.text()
    assert tokens["cached_tokens"] == sum(u["cache_read_input_tokens"] for u in claude.usages)
    assert tokens["cache_write_tokens"] == sum(u["cache_creation_input_tokens"] for u in claude.usages) > 0
    assert tokens["input_tokens"] == sum(x.usage.input_tokens for x in r)
    written = sum(u["cache_creation_input_tokens"] for u in claude.usages)
    assert f'kind="cache_write",model="claude-sonnet-4-5",provider="anthropic"}} {float(written)}' in metrics
    assert 'brightstaff_prompt_cache_requests_total{model="claude-sonnet-4-5",outcome="hit",provider="anthropic"} 3.0' \
        in metrics, metrics


async def test_codex_on_claude_hits_the_cache_from_turn_two(claude, make_proxy) -> None:
    """Captured Codex 0.169 traffic (a user turn, a tool loop, a resumed turn), translated Responses →
    Messages: the translation is byte-stable across turns, so each turn reads what the last one wrote."""
    proxy = await make_proxy(make_config(claude.url, CACHING))
    proxy.state.set_alias("arch.codex.default", "claude-sonnet-4-5")
    recs = records(proxy)
    reqs = codex_run("resume")
    for req in reqs:
        status, raw = await post(proxy, "/v1/responses", req["body"], req["headers"])
        assert status == 200, raw
    r = await settled(recs, len(reqs))
    assert claude.rejected == [] and all(x.upstream_api == "messages" for x in r)
    assert claude.usages[0]["cache_read_input_tokens"] == 0
    assert all(u["cache_read_input_tokens"] > 0 for u in claude.usages[1:]), claude.usages
    assert [x.usage.cached_tokens for x in r] == [u["cache_read_input_tokens"] for u in claude.usages]
    assert [x.usage.cache_write_tokens for x in r] == [u["cache_creation_input_tokens"] for u in claude.usages]


async def test_chat_client_on_claude_and_the_opt_outs(claude, make_proxy) -> None:
    proxy = await make_proxy(make_config(claude.url, CACHING))
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hello"}]
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as client:
        for _ in range(2):
            out = await client.chat.completions.create(model="arch.claude", messages=msgs)
        assert out.usage.prompt_tokens_details.cached_tokens > 0  # the cache read, in the client's own shape
        before = len(claude.cache)
        await client.chat.completions.create(model="arch.claude", messages=[*msgs, {"role": "user", "content": "x"}],
                                             extra_headers={"X-Plano-Cache": "off"})
    assert "cache_control" not in claude.last("/messages").raw.decode() and len(claude.cache) == before
    # the client's own markers are respected, not added to
    own = {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}
    status, _ = await post(proxy, "/v1/messages", {"model": "arch.claude", "max_tokens": 5, "system": SYSTEM,
                                                   "messages": [own]})
    assert status == 200 and claude.last("/messages").raw.count(b"cache_control") == 1


async def test_no_injection_without_prompt_caching(claude, make_proxy) -> None:
    proxy = await make_proxy(make_config(claude.url))
    status, _ = await post(proxy, "/v1/messages", {"model": "arch.claude", "max_tokens": 5, "system": SYSTEM,
                                                   "messages": [{"role": "user", "content": "hi"}]})
    assert status == 200 and b"cache_control" not in claude.last("/messages").raw


@pytest.mark.parametrize(("extra", "marked"), [("", True), ("prompt_caching:\n  enabled: false\n", False)])
async def test_translated_requests_cache_by_default_unless_the_config_says_no(
    claude, make_proxy, extra: str, marked: bool
) -> None:
    """Our default for coding agents: translated requests carry breakpoints with no configuration; an
    explicit `prompt_caching.enabled: false` takes them out (Plano's meaning of the key)."""
    proxy = await make_proxy(make_config(claude.url, extra))
    proxy.state.set_alias("arch.codex.default", "claude-sonnet-4-5")
    for req in codex_run("exec_ww"):
        assert (await post(proxy, "/v1/responses", req["body"], req["headers"]))[0] == 200
    assert claude.rejected == []
    assert (b"cache_control" in claude.last("/messages").raw) is marked
    assert (claude.usages[-1]["cache_read_input_tokens"] > 0) is marked
