"""Cross-API translation through the real proxy, with the official SDKs as strict parsers, and real
Codex / Claude Code captures replayed to a chat and an Anthropic upstream."""

from __future__ import annotations

import copy
import itertools
import json

import aiohttp
import anthropic
import openai
import orjson
import pytest

from proxy.events import RequestFailed, RequestFinished

from .conftest import FIXTURES
from .fakes import FakeUpstream, Script
from .translate_helpers import anthropic_stream, chat_stream, check_anthropic, check_chat, check_responses

PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello \"world\" {not json}\n*** End Patch\n"
CHAT_USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
              "prompt_tokens_details": {"cached_tokens": 60}, "completion_tokens_details": {"reasoning_tokens": 7}}
TOOLS = [
    {"type": "function", "name": "exec_command", "description": "run", "strict": False,
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
    {"type": "custom", "name": "apply_patch", "description": "patch",
     "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
    {"type": "namespace", "name": "multi_agent_v1", "description": "agents",
     "tools": [{"type": "function", "name": "close_agent", "description": "close",
                "parameters": {"type": "object", "properties": {"target": {"type": "string"}}}}]},
    {"type": "web_search", "external_web_access": False},
]


def records(proxy) -> list:
    got: list = []
    proxy.state.bus.subscribe(lambda e: got.append(e.record) if isinstance(e, RequestFinished | RequestFailed)
                              else None)
    return got


@pytest.fixture
async def oai_client(proxy):
    async with openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0) as c:
        yield c


@pytest.fixture
async def ant_client(proxy):
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0) as c:
        yield c


def _codex_segments() -> list:
    return [("think", "Planning the patch."), ("text", "I'll patch and close."),
            ("tool", "apply_patch", json.dumps({"input": PATCH}), "call_p"),
            ("tool", "close_agent", '{"target":"a1"}', "call_c"),
            ("tool", "exec_command", '{"cmd":"ls"}', "call_e")]


def _assert_codex_output(resp) -> None:
    by_type = {}
    for item in resp.output:
        by_type.setdefault(item.type, []).append(item)
    assert by_type["message"][0].content[0].text == "I'll patch and close."
    (patch,) = by_type["custom_tool_call"]
    assert patch.name == "apply_patch" and patch.call_id == "call_p" and patch.input == PATCH  # raw, not JSON
    fcs = {f.call_id: f for f in by_type["function_call"]}
    assert fcs["call_c"].name == "close_agent" and fcs["call_c"].namespace == "multi_agent_v1"
    assert json.loads(fcs["call_e"].arguments) == {"cmd": "ls"}
    assert getattr(fcs["call_e"], "namespace", None) is None


async def test_responses_stream_over_chat_sdk_accumulator(proxy, upstream: FakeUpstream, oai_client) -> None:
    recs = records(proxy)
    upstream.script("/chat/completions", Script(frames=chat_stream(_codex_segments(), usage=CHAT_USAGE), chunk_size=7))
    async with oai_client.responses.stream(model="arch.local", input="go", tools=TOOLS) as stream:
        types = [ev.type async for ev in stream]
        final = await stream.get_final_response()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.custom_tool_call_input.delta" in types and "response.reasoning_summary_text.delta" in types
    _assert_codex_output(final)
    assert final.output[0].type == "reasoning" and final.output[0].summary[0].text == "Planning the patch."
    u = final.usage
    assert (u.input_tokens, u.input_tokens_details.cached_tokens, u.output_tokens,
            u.output_tokens_details.reasoning_tokens, u.total_tokens) == (100, 60, 20, 7, 120)
    sent = upstream.last("/chat/completions").json
    assert sent["model"] == "llama3.1" and sent["stream_options"] == {"include_usage": True}
    names = [t["function"]["name"] for t in sent["tools"]]
    assert names == ["exec_command", "apply_patch", "close_agent"]  # web_search dropped, namespace flattened
    r = recs[-1]
    assert r.ok and r.translation == "responses→chat" and r.usage.cached_tokens == 60
    assert any("web_search" in n for n in r.notes)


async def test_responses_create_stream_over_chat_events(proxy, upstream: FakeUpstream, oai_client) -> None:
    upstream.script("/chat/completions", Script(frames=chat_stream(_codex_segments(), usage=CHAT_USAGE)))
    stream = await oai_client.responses.create(model="arch.local", input="go", tools=TOOLS, stream=True)
    evs = [ev async for ev in stream]
    done = [e.item for e in evs if e.type == "response.output_item.done"]
    assert [i.type for i in done] == ["reasoning", "message", "custom_tool_call", "function_call", "function_call"]
    completed = evs[-1].response
    _assert_codex_output(completed)


async def test_responses_over_anthropic_thinking_roundtrip(proxy, upstream: FakeUpstream, oai_client) -> None:
    segs = [("think", "Let me think."), ("text", "Patching."), ("tool", "apply_patch", json.dumps({"input": PATCH}),
                                                                "toolu_1")]
    upstream.script("/messages", Script(frames=anthropic_stream(segs), chunk_size=11))
    async with oai_client.responses.stream(model="arch.claude", input="go", tools=TOOLS,
                                           reasoning={"effort": "medium", "summary": "auto"}) as stream:
        final = await stream.get_final_response()
    sent = upstream.last("/messages").json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8192} and sent["max_tokens"] == 32000
    rs, msg, patch = final.output
    assert rs.type == "reasoning" and rs.summary[0].text == "Let me think." and rs.encrypted_content
    assert msg.content[0].text == "Patching." and patch.type == "custom_tool_call" and patch.input == PATCH
    assert (final.usage.input_tokens, final.usage.input_tokens_details.cached_tokens, final.usage.output_tokens) == (
        14, 5, 42)
    # Codex replays the items verbatim with the tool output: the signed thinking block is restored.
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
               rs.model_dump(exclude_none=True), msg.model_dump(exclude_none=True),
               patch.model_dump(exclude_none=True),
               {"type": "custom_tool_call_output", "call_id": "toolu_1", "output": "Success."}]
    upstream.script("/messages", Script(frames=anthropic_stream([("text", "Done.")])))
    final2 = await (await oai_client.responses.create(model="arch.claude", input=history, tools=TOOLS, stream=True,
                                                      reasoning={"effort": "medium"})).__anext__()
    assert final2.type == "response.created"
    sent = upstream.last("/messages").json
    assert sent["thinking"]["type"] == "enabled"
    blocks = sent["messages"][1]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "Let me think.", "signature": "sig-0-" + "A" * 20}
    assert blocks[1]["type"] == "text" and blocks[2]["type"] == "tool_use"
    assert blocks[2]["input"] == {"input": PATCH} and blocks[2]["name"] == "apply_patch"
    assert sent["messages"][2]["content"][0]["type"] == "tool_result"


@pytest.mark.parametrize("alias, path", [("arch.local", "/chat/completions"), ("arch.claude", "/messages")])
async def test_responses_non_streaming(proxy, upstream: FakeUpstream, oai_client, alias: str, path: str) -> None:
    if path == "/messages":
        body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_reason": "tool_use",
                "content": [{"type": "text", "text": "hi"},
                            {"type": "tool_use", "id": "toolu_9", "name": "apply_patch", "input": {"input": PATCH}}],
                "usage": {"input_tokens": 3, "cache_read_input_tokens": 2, "output_tokens": 4}}
    else:
        body = {"id": "c1", "object": "chat.completion", "model": "llama3.1", "usage": CHAT_USAGE,
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "hi", "tool_calls": [
                        {"id": "toolu_9", "type": "function",
                         "function": {"name": "apply_patch", "arguments": json.dumps({"input": PATCH})}}]}}]}
    upstream.script(path, Script(json=body))
    resp = await oai_client.responses.create(model=alias, input="go", tools=TOOLS)
    assert resp.status == "completed" and resp.output_text == "hi"
    assert resp.output[1].type == "custom_tool_call" and resp.output[1].input == PATCH
    assert resp.usage.output_tokens in (4, 20)


async def test_responses_max_tokens_is_incomplete(proxy, upstream: FakeUpstream, oai_client) -> None:
    upstream.script("/chat/completions", Script(frames=chat_stream([("text", "partial")], finish="length")))
    stream = await oai_client.responses.create(model="arch.local", input="go", stream=True, max_output_tokens=5)
    evs = [e async for e in stream]
    assert evs[-1].type == "response.incomplete"
    assert evs[-1].response.incomplete_details.reason == "max_output_tokens"
    assert upstream.last("/chat/completions").json["max_tokens"] == 5


async def test_messages_stream_over_chat_sdk(proxy, upstream: FakeUpstream, ant_client) -> None:
    recs = records(proxy)
    segs = [("think", "hmm"), ("text", "Running it."), ("tool", "Bash", '{"command":"echo hi"}', "call_b1"),
            ("tool", "Read", '{"file_path":"/x"}', "call_b2")]
    upstream.script("/chat/completions", Script(frames=chat_stream(segs, usage=CHAT_USAGE, quirk="ollama",
                                                                   reasoning_field="reasoning"), chunk_size=5))
    async with ant_client.messages.stream(
        model="arch.local", max_tokens=32000, system=[{"type": "text", "text": "sys"}],
        messages=[{"role": "user", "content": "run"}],
        tools=[{"name": "Bash", "description": "b", "input_schema": {"type": "object", "properties": {}}},
               {"name": "Read", "description": "r", "input_schema": {"type": "object", "properties": {}}}],
        thinking={"type": "adaptive"}, extra_body={"output_config": {"effort": "high"}},
    ) as stream:
        msg = await stream.get_final_message()
    kinds = [b.type for b in msg.content]
    assert kinds == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[0].thinking == "hmm" and msg.content[0].signature == "planoai:reasoning"
    assert msg.content[2].input == {"command": "echo hi"} and msg.content[2].id == "call_b1"
    assert msg.content[3].input == {"file_path": "/x"}
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (40, 60, 20)
    sent = upstream.last("/chat/completions").json
    assert "max_tokens" not in sent and "reasoning_effort" not in sent
    assert sent["messages"][0] == {"role": "system", "content": "sys"}
    assert recs[-1].ok and recs[-1].translation == "messages→chat"


async def test_messages_non_streaming_over_chat(proxy, upstream: FakeUpstream, ant_client) -> None:
    upstream.script("/chat/completions", Script(json={
        "id": "c", "object": "chat.completion", "model": "llama3.1", "usage": CHAT_USAGE,
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "hello"}}]}))
    msg = await ant_client.messages.create(model="arch.local", max_tokens=100,
                                           messages=[{"role": "user", "content": "x"}])
    assert msg.content[0].text == "hello" and msg.stop_reason == "max_tokens"
    assert upstream.last("/chat/completions").json["max_tokens"] == 100


async def test_chat_stream_over_anthropic_sdk(proxy, upstream: FakeUpstream, oai_client) -> None:
    segs = [("think", "ok"), ("text", "Sure."), ("tool", "get_weather", '{"city":"Paris"}', "toolu_a"),
            ("tool", "get_weather", '{"city":"Rome"}', "toolu_b")]
    upstream.script("/messages", Script(frames=anthropic_stream(segs), chunk_size=13))
    async with oai_client.chat.completions.stream(
        model="arch.claude", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "w?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
        stream_options={"include_usage": True}, max_tokens=500,
    ) as stream:
        async for _ in stream:
            pass
        comp = await stream.get_final_completion()
    ch = comp.choices[0]
    assert ch.message.content == "Sure." and ch.finish_reason == "tool_calls"
    assert [(t.id, t.function.name, json.loads(t.function.arguments)) for t in ch.message.tool_calls] == [
        ("toolu_a", "get_weather", {"city": "Paris"}), ("toolu_b", "get_weather", {"city": "Rome"})]
    assert comp.usage.prompt_tokens == 14 and comp.usage.prompt_tokens_details.cached_tokens == 5
    sent = upstream.last("/messages").json
    assert sent["system"][0]["text"] == "be brief" and sent["max_tokens"] == 500
    assert sent["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}


async def test_chat_create_stream_over_anthropic(proxy, upstream: FakeUpstream, oai_client) -> None:
    upstream.script("/messages", Script(frames=anthropic_stream([("text", "naïve → ✓ 🎉"), ("tool", "f", '{"a":1}')]),
                                        chunk_size=3))
    stream = await oai_client.chat.completions.create(model="arch.claude", stream=True,
                                                      messages=[{"role": "user", "content": "x"}])
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert text == "naïve → ✓ 🎉" and calls[0].function.name == "f"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"a":1}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert all(c.usage is None for c in chunks)  # the client did not ask for include_usage


async def test_meaning_changing_tool_is_a_400_through_the_proxy(proxy, upstream: FakeUpstream, oai_client) -> None:
    recs = records(proxy)
    with pytest.raises(openai.BadRequestError) as exc:
        await oai_client.responses.create(model="arch.local", input="x",
                                          tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}])
    assert exc.value.code == "unsupported_tool" and "file_search" in str(exc.value)
    assert not [r for r in upstream.requests if r.path.endswith("/chat/completions")]
    assert recs[-1].status == 400 and recs[-1].error_code == "unsupported_tool"


async def test_an_untranslatable_request_is_the_clients_400(proxy, upstream: FakeUpstream, oai_client) -> None:
    # The translator raises without a status (proxy.wire.errors); the handler makes it the client's 400.
    recs = records(proxy)
    with pytest.raises(openai.BadRequestError) as exc:
        await oai_client.chat.completions.create(model="arch.claude", n=2, messages=[{"role": "user", "content": "x"}])
    assert exc.value.code == "invalid_request" and "`n` > 1" in str(exc.value)
    assert not [r for r in upstream.requests if r.path.endswith("/messages")]
    assert recs[-1].status == 400 and recs[-1].error_code == "invalid_request"


async def test_chat_non_streaming_over_anthropic(proxy, upstream: FakeUpstream, oai_client) -> None:
    comp = await oai_client.chat.completions.create(model="arch.claude", messages=[{"role": "user", "content": "x"}])
    assert comp.choices[0].message.content == "Hello from the fake upstream."
    assert comp.choices[0].finish_reason == "stop" and comp.usage.prompt_tokens == 14


# ----------------------------------------------------------------------------- failures in the stream


async def _raw(proxy, path: str, body: dict) -> bytes:
    async with aiohttp.ClientSession() as s, s.post(proxy.url + path, json=body) as resp:
        return await resp.read()


async def test_anthropic_error_event_becomes_response_failed(proxy, upstream: FakeUpstream) -> None:
    recs = records(proxy)
    frames = anthropic_stream([("text", "partial answer")], stop_event=False)[:-1]
    frames.append(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                  b'"message":"Overloaded"}}\n\n')
    upstream.script("/messages", Script(frames=frames))
    blob = await _raw(proxy, "/v1/responses", {"model": "arch.claude", "input": "x", "stream": True})
    objs = check_responses(blob)
    assert objs[-1]["type"] == "response.failed"
    assert objs[-1]["response"]["error"] == {"code": "server_is_overloaded", "message": "Overloaded"}
    assert not [o for o in objs if o["type"] == "response.output_item.done"]  # nothing kept for a retry
    assert recs[-1].error == "Overloaded"


async def test_cut_chat_stream_ends_in_failure_for_each_client(proxy, upstream: FakeUpstream) -> None:
    frames = chat_stream([("text", "abc"), ("tool", "exec_command", '{"cmd":"ls"}')], usage=CHAT_USAGE)
    upstream.script("/chat/completions", Script(frames=frames[:4]), Script(frames=frames[:4]))
    blob = await _raw(proxy, "/v1/responses", {"model": "arch.local", "input": "x", "stream": True})
    objs = check_responses(blob)
    assert objs[-1]["response"]["error"]["code"] == "stream_incomplete"
    assert not [o for o in objs if o["type"] == "response.output_item.done"]
    blob = await _raw(proxy, "/v1/messages", {"model": "arch.local", "max_tokens": 10, "stream": True,
                                              "messages": [{"role": "user", "content": "x"}]})
    assert check_anthropic(blob)[-1][1]["error"]["type"] == "overloaded_error"


async def test_chat_error_chunk_raises_in_anthropic_sdk(proxy, upstream: FakeUpstream, ant_client) -> None:
    err = b'data: {"error":{"message":"model crashed","type":"server_error"}}\n\n'
    frames = [*chat_stream([("text", "abc")])[:2], err]
    upstream.script("/chat/completions", Script(frames=frames))
    with pytest.raises(anthropic.APIStatusError, match="model crashed"):
        async with ant_client.messages.stream(model="arch.local", max_tokens=10,
                                              messages=[{"role": "user", "content": "x"}]) as stream:
            await stream.get_final_message()


async def test_anthropic_error_event_raises_in_openai_chat_sdk(proxy, upstream: FakeUpstream, oai_client) -> None:
    frames = anthropic_stream([("text", "abc")], stop_event=False)[:3]
    frames.append(b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"boom"}}\n\n')
    upstream.script("/messages", Script(frames=frames))
    stream = await oai_client.chat.completions.create(model="arch.claude", stream=True,
                                                      messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.APIError, match="boom"):
        async for _ in stream:
            pass
    blob_upstream = anthropic_stream([("text", "abc")])
    upstream.script("/messages", Script(frames=blob_upstream))
    blob = await _raw(proxy, "/v1/chat/completions", {"model": "arch.claude", "stream": True,
                                                      "messages": [{"role": "user", "content": "x"}]})
    check_chat(blob)


async def test_upstream_http_error_is_shaped_for_the_client(proxy, upstream: FakeUpstream, oai_client) -> None:
    err = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
    upstream.script("/messages", Script(status=429, headers={"retry-after": "3"}, json=err))
    with pytest.raises(openai.RateLimitError) as exc:
        await oai_client.responses.create(model="arch.claude", input="x")
    assert exc.value.response.headers["retry-after"] == "3"


# ----------------------------------------------------------------------------- real client captures


def _codex_requests() -> list[dict]:
    bodies = [json.loads((FIXTURES / "codex-0.169.0-exec-request.json").read_text())]
    runs = json.loads((FIXTURES / "codex-0.169.0-tool-loops.json").read_text())["runs"]
    for run in runs.values():
        bodies += [r["body"] for r in run["requests"] if r["method"] == "POST"]
    return bodies


def _check_chat_request(sent: dict, original: dict) -> None:
    names = [t["function"]["name"] for t in sent["tools"]]
    declared = {t.get("name") for t in original["tools"]}
    if "apply_patch" in declared:
        (ap,) = [t["function"] for t in sent["tools"] if t["function"]["name"] == "apply_patch"]
        assert ap["parameters"]["properties"] == {"input": {"type": "string", "description": "The raw text."}}
        assert ap["parameters"]["required"] == ["input"]
    assert {"close_agent", "spawn_agent", "wait_agent"} <= set(names) and "multi_agent_v1" not in names
    assert all(t["type"] == "function" for t in sent["tools"])
    roles = [m["role"] for m in sent["messages"]]
    assert roles[0] == "system" and "system" not in roles[1:] and "developer" not in roles
    calls = {tc["id"] for m in sent["messages"] for tc in m.get("tool_calls") or []}
    results = [m["tool_call_id"] for m in sent["messages"] if m["role"] == "tool"]
    assert set(results) == calls
    for i, m in enumerate(sent["messages"]):  # every tool message right after its calls
        if m["role"] == "tool":
            assert sent["messages"][i - 1]["role"] in ("assistant", "tool")
    blob = orjson.dumps(sent)
    assert b"reasoning" not in blob.replace(b"reasoning_effort", b"") and b"encrypted_content" not in blob
    assert not set(sent) & {"store", "include", "prompt_cache_key", "client_metadata", "reasoning"}


async def test_codex_captures_replayed_to_chat_upstream(proxy, upstream: FakeUpstream) -> None:
    recs = records(proxy)
    bodies = _codex_requests()
    assert len(bodies) >= 10
    for body in bodies:
        body = {**copy.deepcopy(body), "model": "arch.local"}
        upstream.script("/chat/completions", Script(frames=chat_stream(
            [("tool", "apply_patch", json.dumps({"input": PATCH}), "call_ap")], usage=CHAT_USAGE)))
        blob = await _raw(proxy, "/v1/responses", body)
        objs = check_responses(blob)
        (item,) = objs[-1]["response"]["output"]
        if any(t.get("name") == "apply_patch" for t in body["tools"]):
            assert item["type"] == "custom_tool_call" and item["input"] == PATCH and item["call_id"] == "call_ap"
        _check_chat_request(upstream.last("/chat/completions").json, body)
        assert recs[-1].ok and any("web_search" in n for n in recs[-1].notes)


async def test_codex_captures_replayed_to_anthropic_upstream(proxy, upstream: FakeUpstream) -> None:
    for body in _codex_requests():
        body = {**copy.deepcopy(body), "model": "arch.claude"}
        upstream.script("/messages", Script(frames=anthropic_stream(
            [("tool", "apply_patch", json.dumps({"input": PATCH}), "toolu_ap")])))
        objs = check_responses(await _raw(proxy, "/v1/responses", body))
        assert objs[-1]["type"] == "response.completed"
        sent = upstream.last("/messages").json
        msgs = sent["messages"]
        assert msgs[0]["role"] == "user" and sent["system"][0]["text"].startswith("You are")
        assert all(a["role"] != b["role"] for a, b in itertools.pairwise(msgs))  # alternating
        for i, m in enumerate(msgs):
            uses = [b["id"] for b in m["content"] if b["type"] == "tool_use"]
            if uses:
                got = [b["tool_use_id"] for b in msgs[i + 1]["content"] if b["type"] == "tool_result"]
                assert got == uses and msgs[i + 1]["content"][0]["type"] == "tool_result"
        assert {t["name"] for t in sent["tools"]} >= {"exec_command", "close_agent"}
        assert all("input_schema" in t for t in sent["tools"])
        assert "thinking" not in orjson.dumps(msgs).decode()  # OpenAI reasoning blobs are not Anthropic's


async def test_claude_code_capture_replayed_to_chat_upstream(proxy, upstream: FakeUpstream) -> None:
    body = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    body["model"] = "arch.local"
    upstream.script("/chat/completions", Script(frames=chat_stream([("text", "done")], usage=CHAT_USAGE)))
    blob = await _raw(proxy, "/v1/messages", body)
    out = check_anthropic(blob)
    assert out[-1][0] == "message_stop"
    sent = upstream.last("/chat/completions").json
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert "Available agent types" in sent["messages"][0]["content"]  # the role:system message, hoisted
    assert "x-anthropic-billing-header" not in sent["messages"][0]["content"]
    assert sent["messages"][2]["tool_calls"][0]["function"]["name"] == "Bash"
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "toolu_mock_1", "content": "hi"}
    assert len(sent["tools"]) == 24 and all("$schema" not in t["function"]["parameters"] for t in sent["tools"])
    assert not set(sent) & {"thinking", "context_management", "output_config", "metadata", "max_tokens"}
