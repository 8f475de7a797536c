"""Chat and Messages clients on Responses-only models, through the real proxy: the official Anthropic and
OpenAI SDKs parse every translated stream (tool loops included), the API is chosen per provider and
model, passthrough requests are fitted to the model that serves them, and count_tokens is answered.
The fake upstream refuses what OpenAI refuses (plano_tui/upstream_sim.py `refusal`)."""

from __future__ import annotations

import copy
import json
import textwrap

import aiohttp
import anthropic
import openai
import pytest

from proxy.config import ConfigError, parse_config
from proxy.events import RequestFailed, RequestFinished

from .conftest import FAKE_KEYS, FIXTURES, eventually, make_config
from .fakes import NOT_A_CHAT_MODEL, FakeUpstream, Script, count_tokens
from .translate_helpers import responses_stream

CODEX = "gpt-5.3-codex"
BASH = {"name": "Bash", "description": "Run a shell command",
        "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def records(proxy) -> list:
    got: list = []
    proxy.state.bus.subscribe(lambda e: got.append(e.record) if isinstance(e, RequestFinished | RequestFailed)
                              else None)
    return got


def wide_config(url: str, openai_extra: str = ""):
    """OpenAI models next to the test config's: gpt-4.1, and a chat-configured OpenAI provider."""
    return parse_config(textwrap.dedent(f"""\
        version: v0.4.0
        model_providers:
          - model: openai/gpt-5.3-codex
            access_key: $OPENAI_API_KEY
            base_url: {url}/v1
            default: true
          - model: openai/gpt-4.1-2025-04-14
            access_key: $OPENAI_API_KEY
            base_url: {url}/v1
          - model: openai/gpt-5.2-codex
            name: codex-on-chat
            access_key: $OPENAI_API_KEY
            base_url: {url}/v1
            upstream_api: chat
          - model: openai/gpt-4o-mini
            access_key: $OPENAI_API_KEY
            base_url: {url}/v1
            upstream_api: chat
        {openai_extra}
        model_aliases:
          arch.codex.default:
            target: gpt-5.3-codex
            fallbacks: [gpt-4.1-2025-04-14]
        """), "wide.yaml", FAKE_KEYS)


# ----------------------------------------------------------------------------- Claude Code's API


async def test_messages_tool_loop_over_responses(proxy, upstream: FakeUpstream, ant) -> None:
    recs = records(proxy)
    upstream.script("/responses",
                    Script(frames=responses_stream([("think", "List first.\n\nThen read."), ("text", "Listing."),
                                                    ("tool", "Bash", '{"command":"ls"}', "call_1"),
                                                    ("tool", "Bash", '{"command":"pwd"}', "call_2")]),
                           chunk_size=9),
                    Script(frames=responses_stream([("text", "Two files.")])))
    messages: list = [{"role": "user", "content": "what is here?"}]
    async with ant.messages.stream(model="arch.codex.default", max_tokens=32000, tools=[BASH], messages=messages,
                                   system=[{"type": "text", "text": "You are Claude Code."}],
                                   thinking={"type": "enabled", "budget_tokens": 2048}) as stream:
        first = await stream.get_final_message()
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert first.content[0].thinking == "List first.\n\nThen read." and first.content[0].signature
    assert [(b.id, b.input) for b in first.content[2:]] == [("call_1", {"command": "ls"}),
                                                            ("call_2", {"command": "pwd"})]
    assert first.stop_reason == "tool_use" and first.model == "arch.codex.default"  # the model asked for
    assert (first.usage.input_tokens, first.usage.cache_read_input_tokens, first.usage.output_tokens) == (40, 80, 30)

    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [
                     {"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt b.txt"},
                     {"type": "tool_result", "tool_use_id": "call_2", "content": "/work"}]}]
    async with ant.messages.stream(model="arch.codex.default", max_tokens=32000, tools=[BASH], messages=messages,
                                   thinking={"type": "enabled", "budget_tokens": 2048}) as stream:
        second = await stream.get_final_message()
    assert second.content[0].text == "Two files." and second.stop_reason == "end_turn"

    sent1, sent2 = [c.json for c in upstream.requests if c.path.endswith("/responses")]
    assert sent1["model"] == CODEX and sent1["instructions"] == "You are Claude Code."
    assert sent1["reasoning"] == {"effort": "low", "summary": "auto"} and sent1["store"] is False
    assert sent1["include"] == ["reasoning.encrypted_content"] and sent1["max_output_tokens"] == 32000
    reasoning, = [i for i in sent2["input"] if i["type"] == "reasoning"]  # turn 1's, back from its signature
    assert reasoning["encrypted_content"] == f"enc:{reasoning['id']}" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "List first.\n\nThen read."}]
    assert [(i["type"], i.get("call_id")) for i in sent2["input"][2:]] == [
        ("message", None), ("function_call", "call_1"), ("function_call", "call_2"),
        ("function_call_output", "call_1"), ("function_call_output", "call_2")]
    await eventually(lambda: len(recs) == 2)
    assert all(r.ok and r.translation == "messages→responses" and r.provider == "openai/gpt-5.3-codex" for r in recs)
    assert recs[0].usage.cached_tokens == 80 and recs[0].usage.reasoning_tokens == 12


async def test_messages_non_streaming_over_responses(proxy, upstream: FakeUpstream, ant) -> None:
    msg = await ant.messages.create(model="arch.codex.default", max_tokens=100,
                                    messages=[{"role": "user", "content": "x"}])
    assert msg.content[0].text == "Hello from the fake upstream." and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (8, 4)
    assert upstream.last("/responses").json["max_output_tokens"] == 100


async def test_messages_failures_over_responses(proxy, upstream: FakeUpstream, ant) -> None:
    upstream.script("/responses",
                    Script(frames=responses_stream([("text", "cut off he")], status="incomplete")),
                    Script(frames=responses_stream([("text", "half")], status="failed",
                                                   error={"code": "server_error", "message": "upstream broke"})),
                    Script(status=404, json={"error": {"message": "The model `gpt-5.3-codex` does not exist",
                                                       "type": "invalid_request_error", "code": "model_not_found"}}))
    async with ant.messages.stream(model="arch.codex.default", max_tokens=10,
                                   messages=[{"role": "user", "content": "x"}]) as stream:
        msg = await stream.get_final_message()
    assert msg.stop_reason == "max_tokens" and msg.content[0].text == "cut off he"  # Claude Code continues
    with pytest.raises(anthropic.APIStatusError, match="upstream broke"):
        async with ant.messages.stream(model="arch.codex.default", max_tokens=10,
                                       messages=[{"role": "user", "content": "x"}]) as stream:
            await stream.get_final_message()
    with pytest.raises(anthropic.NotFoundError) as e:  # Claude Code: "There's an issue with the selected model"
        await ant.messages.create(model="arch.codex.default", max_tokens=10,
                                  messages=[{"role": "user", "content": "x"}])
    assert e.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_claude_code_capture_replayed_to_responses(proxy, upstream: FakeUpstream) -> None:
    body = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    body["model"] = "arch.codex.default"
    upstream.script("/responses", Script(frames=responses_stream([("think", "ok"), ("text", "Done.")])))
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/messages?beta=true", json=body,
                                                    headers={"anthropic-version": "2023-06-01"}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        blob = await r.read()
    assert b"event: message_stop" in blob and b'"text_delta","text":"Done."' in blob
    sent = upstream.last("/responses").json
    assert sent["model"] == CODEX and len(sent["tools"]) == len(body["tools"])
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
    assert [i["type"] for i in sent["input"]] == ["message", "message", "function_call", "function_call_output"]
    assert "x-anthropic-billing-header" not in sent["instructions"]


async def test_count_tokens_for_a_responses_target(proxy, upstream: FakeUpstream, ant) -> None:
    messages = [{"role": "user", "content": "how many tokens is this?"}]
    got = await ant.messages.count_tokens(model="arch.codex.default", messages=messages, tools=[BASH],
                                          system="You are Claude Code.")
    sent = upstream.last("/responses/input_tokens").json
    assert got.input_tokens == count_tokens(sent)  # the upstream's count, not an estimate
    assert sent["model"] == CODEX and sent["instructions"] == "You are Claude Code."
    assert sent["tools"][0]["name"] == "Bash" and "stream" not in sent and "include" not in sent
    got = await ant.messages.count_tokens(model="arch.claude", messages=messages)  # Anthropic: its own endpoint
    assert got.input_tokens == count_tokens(upstream.last("/messages/count_tokens").json)
    n = len(upstream.requests)
    got = await ant.messages.count_tokens(model="arch.local", messages=messages)  # a chat target: estimated
    assert got.input_tokens > 0 and len(upstream.requests) == n


# ----------------------------------------------------------------------------- Chat Completions clients


async def test_chat_sdk_tool_loop_over_responses(proxy, upstream: FakeUpstream, oai) -> None:
    recs = records(proxy)
    upstream.script("/responses",
                    Script(frames=responses_stream([("think", "hmm"), ("text", "Checking."),
                                                    ("tool", "get_weather", '{"city":"Paris"}', "call_p"),
                                                    ("tool", "get_weather", '{"city":"Rome"}', "call_r")]),
                           chunk_size=11))
    messages: list = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "weather?"}]
    async with oai.chat.completions.stream(model="arch.codex.default", messages=messages, tools=[WEATHER],
                                           stream_options={"include_usage": True}, max_completion_tokens=800,
                                           reasoning_effort="none") as stream:
        async for _ in stream:
            pass
        comp = await stream.get_final_completion()
    ch = comp.choices[0]
    assert ch.message.content == "Checking." and ch.finish_reason == "tool_calls"
    assert [(t.id, json.loads(t.function.arguments)) for t in ch.message.tool_calls] == [
        ("call_p", {"city": "Paris"}), ("call_r", {"city": "Rome"})]
    u = comp.usage
    assert (u.prompt_tokens, u.prompt_tokens_details.cached_tokens, u.completion_tokens_details.reasoning_tokens) == (
        120, 80, 12)
    messages += [ch.message.model_dump(exclude_none=True, exclude={"parsed"}),
                 {"role": "tool", "tool_call_id": "call_p", "content": "sunny"},
                 {"role": "tool", "tool_call_id": "call_r", "content": "sunny"}]
    comp2 = await oai.chat.completions.create(model="arch.codex.default", messages=messages, tools=[WEATHER])
    assert comp2.choices[0].message.content == "Hello from the fake upstream."  # non-streaming, this time
    sent1, sent2 = [c.json for c in upstream.requests if c.path.endswith("/responses")]
    assert sent1["instructions"] == "be brief" and sent1["max_output_tokens"] == 800
    assert sent1["reasoning"] == {"effort": "low", "summary": "auto"}  # codex models refuse `none`
    assert [i["type"] for i in sent2["input"]] == ["message", "message", "function_call", "function_call",
                                                  "function_call_output", "function_call_output"]
    await eventually(lambda: len(recs) == 2)
    assert recs[0].translation == "chat→responses"
    assert any("'none' → 'low'" in n for n in recs[0].notes)


async def test_chat_error_mid_stream_raises_in_the_sdk(proxy, upstream: FakeUpstream, oai) -> None:
    upstream.script("/responses", Script(frames=responses_stream(
        [("text", "half")], status="failed", error={"code": "rate_limit_exceeded", "message": "slow down"})))
    with pytest.raises(openai.APIError, match="slow down"):
        stream = await oai.chat.completions.create(model="arch.codex.default", stream=True,
                                                   messages=[{"role": "user", "content": "x"}])
        async for _ in stream:
            pass


# ----------------------------------------------------------------------------- the API per provider and model


async def test_not_a_chat_model_is_never_sent_to_chat_again(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(wide_config(upstream.url))
    recs = records(proxy)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        first = await c.chat.completions.create(model="codex-on-chat", messages=[{"role": "user", "content": "x"}])
        second = await c.chat.completions.create(model="codex-on-chat", messages=[{"role": "user", "content": "y"}])
    assert first.choices[0].message.content == second.choices[0].message.content == "Hello from the fake upstream."
    paths = [(c.path, c.json["model"]) for c in upstream.requests]
    assert paths == [("/v1/chat/completions", "gpt-5.2-codex"), ("/v1/responses", "gpt-5.2-codex"),
                     ("/v1/responses", "gpt-5.2-codex")]
    await eventually(lambda: len(recs) == 2)
    assert [a.status for a in recs[0].attempts] == [404, 200] and NOT_A_CHAT_MODEL[:30] in recs[0].attempts[0].error
    assert recs[0].translation == "chat→responses" and "not a chat model" in recs[0].notes[0]
    assert len(recs[1].attempts) == 1 and not recs[1].notes


async def test_upstream_api_override_and_default_choice(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(wide_config(upstream.url))
    recs = records(proxy)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        await c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        await c.chat.completions.create(model="gpt-4.1-2025-04-14", messages=[{"role": "user", "content": "x"}])
        await c.responses.create(model="gpt-4o-mini", input="x")
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as a:
        await a.messages.create(model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    await eventually(lambda: len(recs) == 4)
    # `upstream_api: chat` wins for every client; OpenAI's default is Responses for chat clients too
    assert [r.translation for r in recs] == ["chat", "chat→responses", "responses→chat", "messages→chat"]


def test_upstream_api_must_be_spoken_by_the_provider() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config("version: v0.4.0\nmodel_providers:\n  - model: ollama/llama3.1\n"
                     "    base_url: http://127.0.0.1:11434\n    upstream_api: responses\n", "c.yaml", {})
    assert "upstream_api" in str(e.value) and "use one of chat" in str(e.value)


# ----------------------------------------------------------------------------- passthrough fitted to its model

CODEX_TURN = {"model": "arch.codex.default", "stream": True, "store": False, "tool_choice": "auto",
              "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "none", "summary": "auto"},
              "text": {"verbosity": "low"}, "input": [
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
                  {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]}]}


async def test_alias_retarget_fits_the_request_to_the_new_model(upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(wide_config(upstream.url))
    recs = records(proxy)
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        turn = {k: v for k, v in CODEX_TURN.items() if k != "stream"}
        async with c.responses.stream(**copy.deepcopy(turn)) as s:
            await s.get_final_response()
        proxy.state.set_alias("arch.codex.default", "gpt-4.1-2025-04-14")
        async with c.responses.stream(**copy.deepcopy(turn)) as s:
            final = await s.get_final_response()
    assert final.output[0].content[0].text == "Hello from the fake upstream."
    before, after = [c.json for c in upstream.requests]
    assert before["reasoning"] == {"effort": "low", "summary": "auto"}  # codex: `none` → its lowest level
    assert before["include"] == ["reasoning.encrypted_content"] and before["text"] == {"verbosity": "low"}
    assert after["model"] == "gpt-4.1-2025-04-14"
    assert not {"include", "reasoning"} & set(after) and after["text"] == {}
    assert [i["type"] for i in after["input"]] == ["message", "message", "message"]
    await eventually(lambda: len(recs) == 2)
    assert len(recs[1].notes) == 4 and all("gpt-4.1" in n for n in recs[1].notes)


async def test_fallback_is_fitted_and_an_untouched_request_stays_byte_identical(
        upstream: FakeUpstream, make_proxy) -> None:
    proxy = await make_proxy(wide_config(upstream.url))
    body = {**copy.deepcopy(CODEX_TURN), "reasoning": {"effort": "medium", "summary": "auto"}}
    raw = json.dumps(body, indent=1).encode()  # odd spacing: a re-serialised body would differ
    upstream.script("/responses", Script(status=503))
    async with aiohttp.ClientSession() as s:
        async with s.post(proxy.url + "/v1/responses", data=raw, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200
            await r.read()
        body["model"] = CODEX
        raw = json.dumps(body, indent=1).encode()
        async with s.post(proxy.url + "/v1/responses", data=raw, headers={"Content-Type": "application/json"}) as r:
            await r.read()
    first, fallback, direct = upstream.requests
    assert first.json["model"] == CODEX and fallback.json["model"] == "gpt-4.1-2025-04-14"
    assert "include" not in fallback.json and "reasoning" not in fallback.json  # else a 400 from OpenAI
    assert direct.raw == raw  # the client named the model and it fits: byte for byte


async def test_seed_gpt41_request_named_directly(upstream: FakeUpstream, make_proxy) -> None:
    """What Codex sends for gpt-4.1 whatever its catalog says (measured: 0.169 always asks for
    encrypted reasoning) is fitted; the rest of the body is the client's."""
    proxy = await make_proxy(wide_config(upstream.url))
    recs = records(proxy)
    body = {"model": "openai/gpt-4.1-2025-04-14", "input": "hi", "reasoning": {},
            "include": ["reasoning.encrypted_content"], "store": False, "stream": True}
    async with aiohttp.ClientSession() as s, s.post(proxy.url + "/v1/responses", json=body) as r:
        assert r.status == 200 and b"response.completed" in await r.read()
    sent = upstream.last("/responses").json
    assert sent == {"model": "gpt-4.1-2025-04-14", "input": "hi", "store": False, "stream": True}
    await eventually(lambda: recs)
    assert recs[0].notes == ("include reasoning.encrypted_content dropped: gpt-4.1-2025-04-14 does not reason",)


async def test_the_fake_refuses_what_openai_refuses(upstream: FakeUpstream) -> None:
    """The fake itself, so the tests above cannot pass against a lenient upstream."""
    cases = [("/v1/chat/completions", {"model": CODEX, "messages": []}, 404, "model"),
             ("/v1/responses", {"model": "gpt-4.1", "input": "x", "include": ["reasoning.encrypted_content"]}, 400,
              "include"),
             ("/v1/responses", {"model": "gpt-4.1", "input": "x", "reasoning": {"effort": "low"}}, 400,
              "reasoning.effort"),
             ("/v1/responses", {"model": CODEX, "input": "x", "reasoning": {"effort": "none"}}, 400,
              "reasoning.effort"),
             ("/v1/responses", {"model": CODEX, "input": "x", "temperature": 0.5}, 400, "temperature")]
    async with aiohttp.ClientSession() as s:
        for path, body, status, param in cases:
            async with s.post(upstream.url + path, json=body) as r:
                assert (r.status, (await r.json())["error"]["param"]) == (status, param), body
        async with s.post(upstream.url + "/v1/responses", json={"model": CODEX, "input": "x"}) as r:
            assert r.status == 200


def test_make_config_default_is_responses_first() -> None:
    cfg = make_config("http://127.0.0.1:9")
    openai_p = cfg.provider_named("openai/gpt-5.3-codex")
    ollama_p = cfg.provider_named("ollama/llama3.1")
    assert openai_p is not None and ollama_p is not None
    assert openai_p.preferred_api is not None and openai_p.preferred_api.value == "responses"
    assert ollama_p.preferred_api is None
