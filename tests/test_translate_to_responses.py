"""Chat Completions → Responses and Anthropic Messages → Responses, unit level: request mapping, the
stream grammars the clients get back, reasoning round trips, failures and usage."""

from __future__ import annotations

import json
import re

import orjson
import pytest

from proxy.translate import TranslatedRequest, get_translation
from proxy.translate.common import pack_signature, unpack_signature
from proxy.wire.errors import Untranslatable
from proxy.wire.models import caps_for
from proxy.wire.providers import Api

from .conftest import FIXTURES
from .translate_helpers import check_anthropic, check_chat, responses_stream, run

C2R = get_translation(Api.CHAT, Api.RESPONSES)
M2R = get_translation(Api.MESSAGES, Api.RESPONSES)
CODEX = "gpt-5.3-codex"
PNG = "iVBORw0KGgo="
BASH = {"name": "Bash", "description": "run a command",
        "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                         "properties": {"command": {"type": "string"}}, "required": ["command"]}}


def m2r(body: dict, model: str = CODEX) -> TranslatedRequest:
    assert M2R is not None
    return M2R.request({"model": "arch.codex.default", "max_tokens": 32000, **body}, model, caps_for(model, "openai"))


def c2r(body: dict, model: str = CODEX) -> TranslatedRequest:
    assert C2R is not None
    return C2R.request({"model": "arch.codex.default", **body}, model, caps_for(model, "openai"))


def user(*blocks: dict) -> dict:
    return {"role": "user", "content": list(blocks)}


def text(t: str) -> dict:
    return {"type": "text", "text": t}


# ----------------------------------------------------------------------------- Messages → Responses: requests


def test_system_blocks_and_system_messages_become_instructions() -> None:
    tr = m2r({"system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2"},
                         {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
              "messages": [user(text("hi")), {"role": "assistant", "content": "hello"},
                           {"role": "system", "content": "Reminder: be brief."}, user(text("go"))]})
    b = tr.body
    assert b["instructions"] == "You are Claude Code.\n\nReminder: be brief."
    assert b["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello",
                                                               "annotations": []}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]}]
    assert b["store"] is False and b["model"] == CODEX


def test_tools_parallel_calls_results_and_images() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    tr = m2r({"tools": [BASH], "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "messages": [
        user(text("look"), image),
        {"role": "assistant", "content": [
            text("Running both."), {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "pwd"}}]},
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
             {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True, "content": [text("denied"), image]},
             text("and then?"))]})
    b = tr.body
    assert b["tools"] == [{"type": "function", "name": "Bash", "description": "run a command", "strict": False,
                           "parameters": {"type": "object", "properties": {"command": {"type": "string"}},
                                          "required": ["command"]}}]
    assert b["tool_choice"] == "required" and b["parallel_tool_calls"] is False
    assert [i["type"] for i in b["input"]] == ["message", "message", "function_call", "function_call",
                                              "function_call_output", "function_call_output", "message"]
    assert b["input"][0]["content"][1] == {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}
    assert b["input"][2] == {"type": "function_call", "call_id": "toolu_1", "name": "Bash",
                             "arguments": '{"command":"ls"}'}
    assert b["input"][4] == {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt"}
    assert b["input"][5]["output"] == [{"type": "input_text", "text": "denied"},
                                       {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}]
    named = m2r({"tools": [BASH], "tool_choice": {"type": "tool", "name": "Bash"},
                 "messages": [user(text("x"))]}).body
    assert named["tool_choice"] == {"type": "function", "name": "Bash"} and "parallel_tool_calls" not in named


@pytest.mark.parametrize(("extra", "effort"), [
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, "high"),  # Claude Code on opus
    ({"thinking": {"type": "enabled", "budget_tokens": 31999}}, "xhigh"),  # Claude Code on haiku
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "low"),
    ({"thinking": {"type": "enabled", "budget_tokens": 5000}}, "medium"),
    ({"thinking": {"type": "adaptive"}}, None),  # the model's own default
    ({"output_config": {"effort": "max"}}, "xhigh"),
])
def test_thinking_becomes_a_reasoning_effort(extra: dict, effort: str | None) -> None:
    b = m2r({"messages": [user(text("q"))], **extra}).body
    assert b["reasoning"] == ({"effort": effort, "summary": "auto"} if effort else {"summary": "auto"})
    assert b["include"] == ["reasoning.encrypted_content"]  # reasoning comes back as signed thinking


def test_what_a_non_reasoning_model_accepts() -> None:
    tr = m2r({"messages": [user(text("q"))], "max_tokens": 64000, "temperature": 0.3, "stop_sequences": ["END"],
              "thinking": {"type": "enabled", "budget_tokens": 8000}}, "gpt-4.1-2025-04-14")
    b = tr.body
    assert "reasoning" not in b and "include" not in b
    assert b["max_output_tokens"] == 32768 and b["temperature"] == 0.3
    assert any("reasoning effort dropped" in n for n in tr.notes)
    assert any("32768" in n for n in tr.notes) and any("stop sequences" in n for n in tr.notes)


def test_reasoning_models_get_no_sampling_settings() -> None:
    tr = m2r({"messages": [user(text("q"))], "temperature": 0.3, "top_p": 0.9})
    assert "temperature" not in tr.body and "top_p" not in tr.body
    assert tr.notes == [f"temperature/top_p dropped: {CODEX} refuses sampling settings"]


def test_output_format_becomes_text_format() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    fmt = {"format": {"type": "json_schema", "schema": schema}}
    b = m2r({"messages": [user(text("q"))], "output_config": fmt}).body
    assert b["text"] == {"format": {"type": "json_schema", "name": "output", "schema": schema}}


def test_thinking_blocks_restore_reasoning_items() -> None:
    ours = pack_signature({"k": "o", "id": "rs_9", "e": "enc:rs_9"})
    hidden = pack_signature({"k": "o", "id": "rs_8", "e": "enc:rs_8"})
    b = m2r({"tools": [BASH], "messages": [user(text("q")), {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Claude's own.", "signature": "EqQBCkYIAhgC"},  # another provider's
        {"type": "thinking", "thinking": "unsigned", "signature": ""},
        {"type": "redacted_thinking", "data": hidden},
        {"type": "thinking", "thinking": "Plan: list files.", "signature": ours},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]},
        user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"})]}).body
    assert b["input"][1:3] == [
        {"type": "reasoning", "summary": [], "encrypted_content": "enc:rs_8", "id": "rs_8"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan: list files."}],
         "encrypted_content": "enc:rs_9", "id": "rs_9"}]
    assert [i["type"] for i in b["input"]] == ["message", "reasoning", "reasoning", "function_call",
                                              "function_call_output"]


def test_claude_code_capture_maps_whole() -> None:
    cc_request = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    b = m2r(cc_request).body
    assert b["instructions"].startswith("You are a Claude agent, built on Anthropic's Claude Agent SDK.")
    assert "x-anthropic-billing-header" not in b["instructions"]
    system_message = next(m["content"] for m in cc_request["messages"] if m["role"] == "system")
    assert b["instructions"].endswith(system_message)  # its role:system message, hoisted
    assert len(b["tools"]) == len(cc_request["tools"])
    assert all("$schema" not in t["parameters"] for t in b["tools"])
    assert not [i for i in b["input"] if i.get("role") == "system"]
    assert b["max_output_tokens"] == cc_request["max_tokens"] and b["stream"] is True
    assert b["reasoning"]["effort"] == cc_request["output_config"]["effort"]
    assert not {"thinking", "context_management", "output_config", "metadata", "system", "messages"} & set(b)


# ----------------------------------------------------------------------------- Chat → Responses: requests


def test_chat_request_maps_to_responses() -> None:
    tr = c2r({"messages": [
        {"role": "system", "content": "Be terse."}, {"role": "developer", "content": "Use tools."},
        {"role": "user", "content": [{"type": "text", "text": "see"},
                                     {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": '{"a":2}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": "two"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}, "parallel_tool_calls": True,
        "max_completion_tokens": 900, "reasoning_effort": "none", "response_format": {"type": "json_object"},
        "seed": 7, "stop": ["x"], "metadata": {"k": "v"}, "prompt_cache_key": "pck", "user": "u1",
        "stream": True, "stream_options": {"include_usage": True}})
    b = tr.body
    assert b["instructions"] == "Be terse.\n\nUse tools."
    assert [i["type"] for i in b["input"]] == ["message", "function_call", "function_call", "function_call_output",
                                              "function_call_output"]
    assert b["input"][0]["content"][1] == {"type": "input_image", "image_url": "https://example.invalid/a.png"}
    assert b["tool_choice"] == {"type": "function", "name": "f"} and "parallel_tool_calls" not in b
    assert b["max_output_tokens"] == 900 and b["reasoning"] == {"effort": "low", "summary": "auto"}
    assert "include" not in b  # a chat client cannot hand reasoning items back
    assert b["text"] == {"format": {"type": "json_object"}}
    assert (b["metadata"], b["prompt_cache_key"], b["user"], b["store"]) == ({"k": "v"}, "pck", "u1", False)
    assert "seed" not in b and "stop" not in b
    assert any("'none' → 'low'" in n for n in tr.notes) and any("seed" in n for n in tr.notes)
    assert tr.state.include_usage is True


def test_chat_n_above_one_is_refused() -> None:
    with pytest.raises(Untranslatable) as e:
        c2r({"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert e.value.code == "invalid_request"


# ----------------------------------------------------------------------------- streams back to the client

SEGS = [("think", "First I look.\n\nThen I act."), ("text", "Running two commands."),
        ("tool", "Bash", '{"command":"ls"}', "call_a"), ("tool", "Bash", '{"command":"pwd"}', "call_b")]


def m2r_stream():
    assert M2R is not None
    return M2R.stream(m2r({"messages": [user(text("q"))], "stream": True}).state)


def c2r_stream(include_usage: bool = True):
    assert C2R is not None
    return C2R.stream(c2r({"messages": [{"role": "user", "content": "q"}], "stream": True,
                           "stream_options": {"include_usage": include_usage}}).state)


def _blocks(out: list[tuple[str, dict]]) -> list[dict]:
    """The content blocks a Messages client assembles from a stream."""
    blocks: list[dict] = []
    for name, o in out:
        if name == "content_block_start":
            blocks.append(dict(o["content_block"]))
        elif name == "content_block_delta":
            d, b = o["delta"], blocks[o["index"]]
            if d["type"] == "text_delta":
                b["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                b["thinking"] += d["thinking"]
            elif d["type"] == "signature_delta":
                b["signature"] = d["signature"]
            elif d["type"] == "input_json_delta":
                b["_json"] = b.get("_json", "") + d["partial_json"]
    for b in blocks:
        if "_json" in b:
            b["input"] = json.loads(b.pop("_json"))
    return blocks


@pytest.mark.parametrize("deltas", [True, False])
def test_messages_stream_from_responses(deltas: bool) -> None:
    out = check_anthropic(run(m2r_stream(), responses_stream(SEGS, deltas=deltas)))
    blocks = _blocks(out)
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert blocks[0]["thinking"] == "First I look.\n\nThen I act."
    blob = unpack_signature(blocks[0]["signature"])
    assert blob is not None and blob["k"] == "o" and blob["e"].startswith("enc:rs_")
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", blocks[0]["signature"])  # base64, as Claude Code needs it
    assert blocks[1]["text"] == "Running two commands."
    assert [(b["id"], b["input"]) for b in blocks[2:]] == [("call_a", {"command": "ls"}),
                                                           ("call_b", {"command": "pwd"})]
    start, delta = out[0][1], out[-2][1]
    assert start["message"]["model"] == "arch.codex.default"  # what the client asked for (Claude Code keeps
    # a turn's thinking only when the answer names the model it requested)
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"] == {"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 80,
                              "output_tokens": 30}


def test_reasoning_round_trip_through_a_thinking_signature() -> None:
    """The thinking block Claude Code receives comes back next turn as the very reasoning item."""
    blocks = _blocks(check_anthropic(run(m2r_stream(), responses_stream(SEGS[:1] + SEGS[2:3]))))
    thinking = {k: blocks[0][k] for k in ("type", "thinking", "signature")}
    tool = {k: blocks[1][k] for k in ("type", "id", "name", "input")}
    nxt = m2r({"messages": [user(text("q")), {"role": "assistant", "content": [thinking, tool]},
                            user({"type": "tool_result", "tool_use_id": "call_a", "content": "a.txt"})]}).body
    rs = nxt["input"][1]
    assert rs["type"] == "reasoning" and rs["encrypted_content"].startswith("enc:rs_") and rs["id"].startswith("rs_")
    assert rs["summary"] == [{"type": "summary_text", "text": "First I look.\n\nThen I act."}]


def test_reasoning_without_summary_is_a_redacted_block() -> None:
    frames = responses_stream([("think", "x"), ("text", "ok")])
    # the same stream with the summary emptied: only encrypted content comes back
    frames = [f.replace(b'"summary":[{"type":"summary_text","text":"x"}]', b'"summary":[]') for f in frames
              if b"reasoning_summary" not in f]
    blocks = _blocks(check_anthropic(run(m2r_stream(), frames)))
    assert [b["type"] for b in blocks] == ["redacted_thinking", "text"]
    assert unpack_signature(blocks[0]["data"])["e"].startswith("enc:rs_")  # type: ignore[index]


@pytest.mark.parametrize(("reason", "anthropic_stop", "chat_finish"), [
    ("max_output_tokens", "max_tokens", "length"), ("content_filter", "refusal", "content_filter")])
def test_incomplete_ends_with_the_clients_stop(reason: str, anthropic_stop: str, chat_finish: str) -> None:
    frames = responses_stream([("text", "partial answ")], status="incomplete", reason=reason)
    out = check_anthropic(run(m2r_stream(), frames))
    assert out[-2][1]["delta"]["stop_reason"] == anthropic_stop and out[-1][0] == "message_stop"
    objs = check_chat(run(c2r_stream(), frames))
    assert [o["choices"][0]["finish_reason"] for o in objs if o["choices"]][-1] == chat_finish


@pytest.mark.parametrize(("error", "anthropic_type", "code"), [
    ({"code": "server_error", "message": "The server had an error"}, "overloaded_error", "server_error"),
    ({"code": "rate_limit_exceeded", "message": "try again in 2s"}, "rate_limit_error", "rate_limit_exceeded"),
    ({"code": "invalid_prompt", "message": "flagged"}, "invalid_request_error", "invalid_prompt"),
])
def test_failed_mid_stream_is_the_clients_error(error: dict, anthropic_type: str, code: str) -> None:
    frames = responses_stream([("text", "half")], status="failed", error=error)
    t = m2r_stream()
    out = check_anthropic(run(t, frames))
    assert out[-1] == ("error", {"type": "error", "error": {"type": anthropic_type, "message": error["message"]}})
    assert t.error == error["message"] and t.error_code == code
    c = c2r_stream()
    blob = run(c, frames)
    check_chat(blob)
    assert orjson.loads(blob.split(b"data: ")[-1])["error"]["code"] == code


def test_flat_error_event_and_cut_stream() -> None:
    err = b'event: error\ndata: {"type":"error","code":"context_length_exceeded","message":"too long","param":null}\n\n'
    out = check_anthropic(run(m2r_stream(), [responses_stream([("text", "x")])[0], err]))
    assert out[-1][1]["error"] == {"type": "invalid_request_error", "message": "too long"}
    cut = responses_stream([("text", "abcdef")], terminal=False)
    t = m2r_stream()
    assert check_anthropic(run(t, cut))[-1][0] == "error" and t.error_code == "stream_incomplete"
    c = c2r_stream()
    check_chat(run(c, cut))
    assert c.error_code == "stream_incomplete"


def test_chat_stream_from_responses() -> None:
    objs = check_chat(run(c2r_stream(), responses_stream(SEGS, split=3)))
    deltas = [o["choices"][0]["delta"] for o in objs if o["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "First I look.\n\nThen I act."
    assert "".join(d.get("content") or "" for d in deltas) == "Running two commands."
    calls: dict[int, dict] = {}
    for d in deltas:
        for tc in d.get("tool_calls") or []:
            c = calls.setdefault(tc["index"], {"id": tc.get("id"), "args": ""})
            c["args"] += tc["function"].get("arguments") or ""
    assert calls == {0: {"id": "call_a", "args": '{"command":"ls"}'}, 1: {"id": "call_b", "args": '{"command":"pwd"}'}}
    assert objs[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert objs[-1]["usage"] == {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                                 "prompt_tokens_details": {"cached_tokens": 80},
                                 "completion_tokens_details": {"reasoning_tokens": 12}}


def test_non_streaming_bodies() -> None:
    body = orjson.loads(next(f for f in responses_stream(SEGS) if b"response.completed" in f).split(b"data: ")[1])
    assert M2R is not None and C2R is not None
    msg = M2R.response(body["response"], CODEX)
    assert [b["type"] for b in msg["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg["stop_reason"] == "tool_use" and msg["content"][2]["input"] == {"command": "ls"}
    assert unpack_signature(msg["content"][0]["signature"])["id"].startswith("rs_")  # type: ignore[index]
    chat = C2R.response(body["response"], c2r({"messages": []}).state)
    m = chat["choices"][0]["message"]
    assert m["content"] == "Running two commands." and len(m["tool_calls"]) == 2
    assert chat["choices"][0]["finish_reason"] == "tool_calls" and chat["usage"]["prompt_tokens"] == 120
