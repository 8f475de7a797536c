"""Stream and body translation, unit level: server quirks, stop reasons, usage, terminal-event rules."""

from __future__ import annotations

import json
from dataclasses import replace

import orjson
import pytest

from proxy.translate import get_translation
from proxy.translate.common import unpack_blob
from proxy.wire.providers import Api
from proxy.wire.sse import SseEvent

from .translate_helpers import (
    anthropic_stream,
    chat_stream,
    check_anthropic,
    check_chat,
    check_responses,
    events,
    merge,
    responses_output,
    run,
)

R2C = get_translation(Api.RESPONSES, Api.CHAT)
R2M = get_translation(Api.RESPONSES, Api.MESSAGES)
C2M = get_translation(Api.CHAT, Api.MESSAGES)
M2C = get_translation(Api.MESSAGES, Api.CHAT)
TOOLS = [{"type": "function", "name": "f", "parameters": {}}, {"type": "custom", "name": "apply_patch"},
         {"type": "namespace", "name": "ns1", "tools": [{"type": "function", "name": "g", "parameters": {}}]}]
USAGE = {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14, "prompt_tokens_details": {"cached_tokens": 6},
         "completion_tokens_details": {"reasoning_tokens": 2}}


def r2c_stream(stream: bool = True):
    return R2C.stream(R2C.request({"model": "x", "input": "q", "tools": TOOLS, "stream": stream}, "m").state)


def r2m_stream():
    return R2M.stream(R2M.request({"model": "x", "input": "q", "tools": TOOLS, "stream": True}, "claude").state)


def c2m_stream(include_usage: bool = True):
    body = {"model": "x", "messages": [{"role": "user", "content": "q"}], "stream": True,
            "stream_options": {"include_usage": include_usage}}
    return C2M.stream(C2M.request(body, "claude").state)


def m2c_stream():
    return M2C.stream(M2C.request({"model": "x", "max_tokens": 10, "messages": [{"role": "user", "content": "q"}],
                                   "stream": True}, "m").state)


SEGS = [("think", "consider"), ("text", "hello "), ("tool", "f", '{"a":1}'), ("tool", "g", '{"b":2}')]


@pytest.mark.parametrize("quirk", ["", "gemini", "ollama", "vllm", "reuse"])
def test_chat_quirks_become_the_same_responses_output(quirk: str) -> None:
    frames = chat_stream(SEGS, usage=USAGE, quirk=quirk)
    objs = check_responses(run(r2c_stream(), frames))
    assert objs[-1]["type"] == "response.completed"
    assert responses_output(objs) == merge(SEGS)
    fc = [i for i in objs[-1]["response"]["output"] if i["type"] == "function_call"]
    assert fc[1]["namespace"] == "ns1" and "namespace" not in fc[0]
    assert objs[-1]["response"]["usage"] == {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 6}, "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 14}


def test_deepseek_and_ollama_reasoning_fields_are_remembered_for_the_echo() -> None:
    for fld in ("reasoning_content", "reasoning"):
        objs = check_responses(run(r2c_stream(), chat_stream([("think", "why"), ("text", "ok")],
                                                             reasoning_field=fld)))
        rs = objs[-1]["response"]["output"][0]
        assert rs["type"] == "reasoning" and unpack_blob(rs["encrypted_content"]) == {"k": "c", "f": fld, "t": "why"}


def test_mistral_content_parts_and_groq_usage() -> None:
    t = r2c_stream()
    frames = [b'data: {"id":"1","model":"mistral","choices":[{"index":0,"delta":{"content":[{"type":"thinking",'
              b'"thinking":[{"type":"text","text":"hm"}]},{"type":"text","text":"yo"}]},"finish_reason":null}]}\n\n',
              b'data: {"id":"1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
              b'"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":1}}}\n\n', b"data: [DONE]\n\n"]
    objs = check_responses(run(t, frames))
    assert responses_output(objs) == [("think", "hm"), ("text", "yo")]
    assert objs[-1]["response"]["usage"]["input_tokens"] == 3 and objs[-1]["response"]["model"] == "mistral"


def test_gemini_thought_signatures_travel_in_a_reasoning_item() -> None:
    frames = [b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c1","type":"function","function":'
              b'{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"S1"}}}]},'
              b'"finish_reason":"stop"}]}\n\n', b"data: [DONE]\n\n"]
    objs = check_responses(run(r2c_stream(), frames))
    out = objs[-1]["response"]["output"]
    assert [i["type"] for i in out] == ["function_call", "reasoning"]
    assert unpack_blob(out[1]["encrypted_content"]) == {"k": "x", "calls": {"c1": {"google": {"thought_signature":
                                                                                              "S1"}}}}


def test_custom_tool_input_is_raw_even_when_the_model_skips_json() -> None:
    for args, want in [(json.dumps({"input": "*** Begin Patch\n"}), "*** Begin Patch\n"),
                       ("*** Begin Patch\nraw", "*** Begin Patch\nraw"),
                       (json.dumps({"patch": "P"}), "P"), (json.dumps("S"), "S")]:
        objs = check_responses(run(r2c_stream(), chat_stream([("tool", "apply_patch", args)])))
        (item,) = objs[-1]["response"]["output"]
        assert item["type"] == "custom_tool_call" and item["input"] == want
        assert [o["delta"] for o in objs if o["type"] == "response.custom_tool_call_input.delta"] == [want]


def test_custom_input_delta_comes_before_the_next_item() -> None:
    segs = [("tool", "apply_patch", '{"input":"PATCH"}'), ("text", "after")]
    for t, frames in [(r2c_stream(), chat_stream(segs)), (r2m_stream(), anthropic_stream(segs))]:
        types = [o["type"] for o in check_responses(run(t, frames))]
        delta = types.index("response.custom_tool_call_input.delta")
        assert delta < types.index("response.output_item.added", types.index("response.output_item.added") + 1)


def test_text_interleaved_with_tools_keeps_order() -> None:
    segs = [("text", "a"), ("tool", "f", "{}"), ("text", "b"), ("tool", "f", '{"x":1}'), ("text", "c")]
    for t, frames in [(r2c_stream(), chat_stream(segs)), (r2m_stream(), anthropic_stream(segs))]:
        objs = check_responses(run(t, frames))
        assert responses_output(objs) == segs


def test_nothing_reaches_the_client_before_output() -> None:
    t = r2c_stream()
    frames = chat_stream([("text", "hi")], usage=USAGE)
    assert t.feed(SseEvent(None, frames[0][6:-2])) == b""  # the role chunk alone
    assert not t.started_output
    out = t.feed(SseEvent(None, frames[1][6:-2]))
    assert t.started_output and out.startswith(b"event: response.created")
    for tr, first in [(m2c_stream(), chat_stream([("text", "x")])[0]), (c2m_stream(), anthropic_stream([])[0])]:
        assert run(tr, [first], finish=False) == b"" and not tr.started_output


def test_done_events_wait_for_the_finish_reason() -> None:
    """Issue #8: `.done` for an item is only sent once the upstream confirmed the content complete."""
    t = r2c_stream()
    frames = chat_stream([("text", "a"), ("tool", "f", "{}"), ("tool", "apply_patch", '{"input":"P"}')], usage=USAGE)
    before = run(t, frames[:-3], finish=False)  # up to (not incl.) the finish chunk
    assert b"output_item.done" not in before and b".done" not in before
    rest = run(t, frames[-3:])
    assert rest.count(b"event: response.output_item.done") == 3


@pytest.mark.parametrize("cut", [2, 4, 6])
def test_cut_streams_fail_and_never_complete_items(cut: int) -> None:
    frames = chat_stream([("text", "abcdef"), ("tool", "f", '{"k":"vvvvvv"}')], split=2)[:cut]
    objs = check_responses(run(r2c_stream(), frames))
    assert objs[-1]["type"] == "response.failed"
    assert objs[-1]["response"]["error"]["code"] == "stream_incomplete"
    assert not [o for o in objs if o["type"].endswith(".done")]
    a = check_anthropic(run(m2c_stream(), frames))
    assert a[-1][0] == "error"
    c = check_chat(run(c2m_stream(), anthropic_stream([("text", "abcdef")], split=2)[:cut]))
    assert c is not None


def test_finish_reason_without_done_marker_still_completes() -> None:
    frames = chat_stream([("text", "x")], usage=USAGE, done=False)
    assert check_responses(run(r2c_stream(), frames))[-1]["type"] == "response.completed"
    assert check_anthropic(run(m2c_stream(), frames))[-1][0] == "message_stop"
    frames = anthropic_stream([("text", "x")], stop_event=False)
    assert check_responses(run(r2m_stream(), frames))[-1]["type"] == "response.completed"
    assert check_chat(run(c2m_stream(), frames))


def test_fail_is_a_terminal_event_in_every_grammar() -> None:
    for t, check in [(r2c_stream(), check_responses), (r2m_stream(), check_responses),
                     (m2c_stream(), check_anthropic), (c2m_stream(), check_chat)]:
        blob = run(t, [], finish=False) + t.fail("upstream stream broke: reset", "stream_interrupted")
        check(blob)
        assert t.done and t.error == "upstream stream broke: reset" and t.error_code == "stream_interrupted"
        assert t.fail("again") == b"" and t.finish() == b""
    blob = r2c_stream().fail("x", "stream_interrupted")
    assert orjson.loads(events(blob)[-1].data)["response"]["error"]["code"] == "stream_interrupted"


def test_in_stream_errors_map_to_codes_and_types() -> None:
    err = b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"try again in 2s"}}\n\n'
    t = r2m_stream()
    objs = check_responses(run(t, [*anthropic_stream([("text", "x")])[:3], err]))
    assert objs[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "try again in 2s"}
    assert t.error == "try again in 2s"
    chat_err = b'data: {"error":{"message":"This model\'s maximum context length is 8192","code":null}}\n\n'
    objs = check_responses(run(r2c_stream(), [chat_err]))
    assert objs[-1]["response"]["error"]["code"] == "context_length_exceeded"
    a = check_anthropic(run(m2c_stream(), [chat_err]))
    assert a[-1][1]["error"]["type"] == "invalid_request_error"
    a = check_anthropic(run(m2c_stream(), [b'data: {"error":"ollama: model runner crashed"}\n\n']))
    assert a[-1][1]["error"] == {"type": "overloaded_error", "message": "ollama: model runner crashed"}
    c = check_chat(run(c2m_stream(), [*anthropic_stream([])[:1], err]))
    assert c == []


STOPS = [("stop", "response.completed", None, "end_turn"), ("tool_calls", "response.completed", None, "tool_use"),
         ("length", "response.incomplete", "max_output_tokens", "max_tokens"),
         ("content_filter", "response.incomplete", "content_filter", "refusal"),
         ("weird", "response.completed", None, "end_turn")]


@pytest.mark.parametrize("finish, rtype, reason, astop", STOPS)
def test_chat_finish_reasons(finish: str, rtype: str, reason: str | None, astop: str) -> None:
    frames = chat_stream([("text", "x")], finish=finish)
    objs = check_responses(run(r2c_stream(), frames))
    assert objs[-1]["type"] == rtype
    assert (objs[-1]["response"]["incomplete_details"] or {}).get("reason") == reason
    a = check_anthropic(run(m2c_stream(), frames))
    assert a[-2][1]["delta"]["stop_reason"] == astop


ANTHROPIC_STOPS = [("end_turn", "stop", "response.completed"), ("tool_use", "tool_calls", "response.completed"),
                   ("max_tokens", "length", "response.incomplete"), ("stop_sequence", "stop", "response.completed"),
                   ("refusal", "content_filter", "response.incomplete"), ("pause_turn", "stop", "response.completed"),
                   ("model_context_window_exceeded", "length", "response.incomplete")]


@pytest.mark.parametrize("stop, chat_reason, rtype", ANTHROPIC_STOPS)
def test_anthropic_stop_reasons(stop: str, chat_reason: str, rtype: str) -> None:
    frames = anthropic_stream([("text", "x")], stop=stop)
    chunks = check_chat(run(c2m_stream(), frames))
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] \
        == [chat_reason]
    assert check_responses(run(r2m_stream(), frames))[-1]["type"] == rtype


def test_anthropic_usage_is_cumulative_and_includes_cache_reads() -> None:
    t = r2m_stream()
    objs = check_responses(run(t, anthropic_stream([("text", "x")], usage={
        "input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 300, "output_tokens": 1})))
    assert objs[-1]["response"]["usage"]["input_tokens"] == 420
    assert objs[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 300
    # cache writes reach a Responses client in the openai SDK's field (Codex's cache_write_input_tokens)
    assert objs[-1]["response"]["usage"]["input_tokens_details"]["cache_write_tokens"] == 20
    assert t.usage.cache_write_tokens == 20
    assert objs[-1]["response"]["usage"]["output_tokens"] == 42 and t.usage.output_tokens == 42
    chunks = check_chat(run(c2m_stream(), anthropic_stream([("text", "x")])))
    assert chunks[-1]["usage"]["prompt_tokens"] == 14 and chunks[-1]["usage"]["completion_tokens"] == 42
    chunks = check_chat(run(c2m_stream(include_usage=False), anthropic_stream([("text", "x")])))
    assert all(c["choices"] for c in chunks)


def test_cache_reads_and_writes_survive_every_usage_shape() -> None:
    """Usage read from one API and written in another keeps prompt, cache reads, cache writes and output:
    Anthropic's input excludes reads and writes, OpenAI's prompt counts include them."""
    from proxy.translate.chat_stream import chat_usage
    from proxy.translate.messages_stream import anthropic_usage
    from proxy.translate.responses_stream import usage_obj
    from proxy.wire.usage import Usage, from_anthropic, from_openai

    u = Usage(input_tokens=420, cached_tokens=300, output_tokens=42, reasoning_tokens=0, cache_write_tokens=20)
    assert anthropic_usage(u)["input_tokens"] == 100 and anthropic_usage(u)["cache_creation_input_tokens"] == 20
    assert from_anthropic(anthropic_usage(u)) == u
    assert from_openai(usage_obj(u)) == u
    assert from_openai(chat_usage(u)) == replace(u, cache_write_tokens=0)  # Chat has no cache-write field
    # a gateway fronting Anthropic on Chat Completions (DigitalOcean) reports Anthropic's names, as Plano reads
    gw = {"prompt_tokens": 420, "completion_tokens": 42, "cache_read_input_tokens": 300,
          "cache_creation_input_tokens": 20}
    assert from_openai(gw) == u


def test_anthropic_thinking_and_redacted_become_reasoning_items() -> None:
    segs = [("think", "a b c"), ("redacted", "OPAQUE"), ("think", "second"), ("text", "ok")]
    objs = check_responses(run(r2m_stream(), anthropic_stream(segs)))
    out = objs[-1]["response"]["output"]
    assert [i["type"] for i in out] == ["reasoning", "reasoning", "reasoning", "message"]
    assert unpack_blob(out[0]["encrypted_content"]) == {"k": "a", "t": "a b c", "s": "sig-0-" + "A" * 20}
    assert unpack_blob(out[1]["encrypted_content"]) == {"k": "a", "r": "OPAQUE"} and out[1]["summary"] == []
    assert out[2]["summary"][0]["text"] == "second"


def test_anthropic_client_gets_sequential_blocks_from_chat() -> None:
    segs = [("think", "t"), ("text", "a"), ("tool", "f", '{"x":[1,2]}'), ("tool", "g", ""), ("text", "b")]
    out = check_anthropic(run(m2c_stream(), chat_stream(segs, usage=USAGE)))
    starts = [o["content_block"]["type"] for n, o in out if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use", "tool_use", "text"]
    js = "".join(o["delta"]["partial_json"] for n, o in out
                 if n == "content_block_delta" and o["delta"]["type"] == "input_json_delta")
    assert js == '{"x":[1,2]}'
    md = next(o for n, o in out if n == "message_delta")
    assert md["usage"] == {"input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 6,
                           "output_tokens": 4}


def test_empty_deltas_and_keepalives_produce_nothing() -> None:
    t = r2c_stream()
    noise = [b": keep-alive\n\n", b'data: {"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}\n\n',
             b'data: {"choices":[{"index":0,"delta":{"content":null,"reasoning_content":null}}]}\n\n',
             b"data: not json\n\n"]
    assert run(t, noise, finish=False) == b"" and not t.started_output
    objs = check_responses(run(t, chat_stream([("text", "x")])))
    assert responses_output(objs) == [("text", "x")]


def test_events_after_the_terminal_event_are_ignored() -> None:
    t = r2c_stream()
    blob = run(t, chat_stream([("text", "x")]), finish=False)
    assert t.done and t.feed(SseEvent(None, b'{"choices":[{"index":0,"delta":{"content":"late"}}]}')) == b""
    assert t.finish() == b"" and check_responses(blob)


def test_interleaved_chat_tool_fragments() -> None:
    frames = [b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f",'
              b'"arguments":"{\\"x\\""}}]}}]}\n\n',
              b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"f",'
              b'"arguments":"{}"}}]}}]}\n\n',
              b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}'
              b']}\n\n',
              b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n', b"data: [DONE]\n\n"]
    objs = check_responses(run(r2c_stream(), frames))
    assert [i["arguments"] for i in objs[-1]["response"]["output"]] == ['{"x":1}', "{}"]
    msg = M2C.response(
        {"choices": [{"message": {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{}"}}]}}]}, "m")
    assert msg["content"][0]["type"] == "tool_use"


def test_tool_call_without_name_first_waits_for_it() -> None:
    frames = [b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":'
              b'{"arguments":"{}"}}]}}]}\n\n',
              b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}\n\n',
              b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n', b"data: [DONE]\n\n"]
    objs = check_responses(run(r2c_stream(), frames))
    assert responses_output(objs) == [("tool", "f", "{}")]


# ----------------------------------------------------------------------------- non-streaming bodies


def test_chat_body_to_responses() -> None:
    st = R2C.request({"model": "x", "input": "q", "tools": TOOLS}, "m").state
    body = {"id": "c", "model": "served-model", "usage": USAGE, "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "hi", "reasoning_content": "r", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                {"id": "t2", "type": "function", "function": {"name": "apply_patch", "arguments": '{"input":"P"}'}}]}}]}
    r = R2C.response(body, st)
    assert r["object"] == "response" and r["status"] == "completed" and r["model"] == "served-model"
    assert [i["type"] for i in r["output"]] == ["reasoning", "message", "function_call", "custom_tool_call"]
    assert r["output"][2]["namespace"] == "ns1" and r["output"][3]["input"] == "P"
    assert r["usage"]["total_tokens"] == 14


def test_anthropic_body_to_responses_and_chat() -> None:
    body = {"id": "m", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": "max_tokens",
            "content": [{"type": "thinking", "thinking": "t", "signature": "S"}, {"type": "text", "text": "a"}],
            "usage": {"input_tokens": 1, "cache_read_input_tokens": 2, "output_tokens": 3}}
    st = R2M.request({"model": "x", "input": "q"}, "claude").state
    r = R2M.response(body, st)
    assert r["status"] == "incomplete" and r["incomplete_details"] == {"reason": "max_output_tokens"}
    assert r["output"][0]["encrypted_content"] and r["output"][1]["content"][0]["text"] == "a"
    c = C2M.response(body, C2M.request({"model": "x", "messages": [{"role": "user", "content": "q"}]}, "c").state)
    assert c["choices"][0]["finish_reason"] == "length" and c["choices"][0]["message"]["content"] == "a"
    assert c["choices"][0]["message"]["reasoning_content"] == "t"
    assert c["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6,
                          "prompt_tokens_details": {"cached_tokens": 2},
                          "completion_tokens_details": {"reasoning_tokens": 0}}


def test_chat_body_to_anthropic() -> None:
    body = {"id": "c", "model": "m", "usage": USAGE, "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "reasoning": "r", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "Bash", "arguments": '{"command":"ls"}'}}]}}]}
    msg = M2C.response(body, "m")
    assert msg["type"] == "message" and msg["stop_reason"] == "tool_use"  # Gemini-style "stop" after tools
    assert msg["content"] == [{"type": "thinking", "thinking": "r", "signature": "planoai:reasoning"},
                              {"type": "tool_use", "id": "t", "name": "Bash", "input": {"command": "ls"}}]
    assert msg["usage"]["input_tokens"] == 4 and msg["usage"]["cache_read_input_tokens"] == 6
