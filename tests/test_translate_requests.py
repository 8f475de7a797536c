"""Request mapping of every translation direction, item kind and tool kind (pure, no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.translate import TranslatedRequest, get_translation
from proxy.translate.common import pack_blob
from proxy.wire.errors import Untranslatable
from proxy.wire.providers import Api

R2C = get_translation(Api.RESPONSES, Api.CHAT)
R2M = get_translation(Api.RESPONSES, Api.MESSAGES)
C2M = get_translation(Api.CHAT, Api.MESSAGES)
M2C = get_translation(Api.MESSAGES, Api.CHAT)

PNG = "data:image/png;base64,iVBORw0KGgo="


def user(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def r2c(body: dict, model: str = "llama3.1") -> TranslatedRequest:
    assert R2C is not None
    return R2C.request({"model": "x", **body}, model)


def r2m(body: dict, model: str = "claude-sonnet-4-5") -> TranslatedRequest:
    assert R2M is not None
    return R2M.request({"model": "x", **body}, model)


def c2m(body: dict, model: str = "claude-sonnet-4-5") -> TranslatedRequest:
    assert C2M is not None
    return C2M.request({"model": "x", **body}, model)


def m2c(body: dict, model: str = "llama3.1") -> TranslatedRequest:
    assert M2C is not None
    return M2C.request({"model": "x", "max_tokens": 32000, **body}, model)


# ----------------------------------------------------------------------------- Responses → chat

RESPONSES_TO_CHAT_MESSAGES: list[tuple[str, Any, list[dict]]] = [
    ("string input", "hi", [{"role": "user", "content": "hi"}]),
    ("single item object", user("hi"), [{"role": "user", "content": "hi"}]),
    ("easy message without type", [{"role": "user", "content": "hi"}], [{"role": "user", "content": "hi"}]),
    ("two user parts join", [user("a"), user("b")], [{"role": "user", "content": "a\n\nb"}]),
    ("image part", [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": PNG, "detail": "auto"}]}],
     [{"role": "user", "content": [{"type": "text", "text": "see"},
                                   {"type": "image_url", "image_url": {"url": PNG}}]}]),
    ("assistant text", [user("a"), {"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "b", "annotations": []}]}],
     [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
    ("function call round trip", [user("a"),
                                  {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"x":1}'},
                                  {"type": "function_call_output", "call_id": "c1", "output": "ok"}],
     [{"role": "user", "content": "a"},
      {"role": "assistant", "content": None,
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "ok"}]),
    ("custom call becomes a JSON input argument", [
        user("a"), {"type": "custom_tool_call", "call_id": "p1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "p1", "output": "done"}],
     [{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "p1", "type": "function", "function": {"name": "apply_patch",
                                                        "arguments": '{"input":"*** Begin Patch"}'}}]},
      {"role": "tool", "tool_call_id": "p1", "content": "done"}]),
    ("parallel calls then outputs", [
        user("a"), {"type": "function_call", "call_id": "A", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "B", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "A", "output": "1"},
        {"type": "function_call_output", "call_id": "B", "output": "2"}],
     [{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "A", "type": "function", "function": {"name": "f", "arguments": "{}"}},
          {"id": "B", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "A", "content": "1"}, {"role": "tool", "tool_call_id": "B", "content": "2"}]),
    ("call without output gets a placeholder", [
        user("a"), {"type": "function_call", "call_id": "A", "name": "f", "arguments": "{}"}, user("next")],
     [{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "A", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "A", "content": "(no result was recorded for this tool call)"},
      {"role": "user", "content": "next"}]),
    ("output without call becomes text", [user("a"), {"type": "function_call_output", "call_id": "Z", "output": "o"}],
     [{"role": "user", "content": "a\n\n[output of tool call Z]\no"}]),
    ("tool output as parts with an image", [
        user("a"), {"type": "function_call", "call_id": "v", "name": "view_image", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "v", "output": [
            {"type": "input_text", "text": "img"}, {"type": "input_image", "image_url": PNG}]}],
     [{"role": "user", "content": "a"},
      {"role": "assistant", "content": None, "tool_calls": [
          {"id": "v", "type": "function", "function": {"name": "view_image", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "v", "content": "img"},
      {"role": "user", "content": [{"type": "text", "text": "(images returned by the tool calls above)"},
                                   {"type": "image_url", "image_url": {"url": PNG}}]}]),
    ("foreign reasoning dropped", [user("a"), {"type": "reasoning", "id": "rs", "summary": [],
                                               "encrypted_content": "gAAAA-openai"},
                                   {"type": "message", "role": "assistant", "content": [
                                       {"type": "output_text", "text": "b"}]}],
     [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]),
]


@pytest.mark.parametrize("name, inp, want", RESPONSES_TO_CHAT_MESSAGES, ids=[c[0] for c in RESPONSES_TO_CHAT_MESSAGES])
def test_responses_to_chat_messages(name: str, inp: Any, want: list[dict]) -> None:
    assert r2c({"input": inp}).body["messages"] == want


def test_responses_system_and_developer_are_hoisted() -> None:
    body = {"instructions": "I1", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D1"}]}, user("u1"),
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a1"}]},
        {"type": "message", "role": "developer", "content": "D2"}, user("u2")]}
    msgs = r2c(body).body["messages"]
    assert msgs == [{"role": "system", "content": "I1\n\nD1\n\nD2"}, {"role": "user", "content": "u1"},
                    {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"}]
    out = r2m(body).body
    assert [b["text"] for b in out["system"]] == ["I1", "D1", "D2"]
    assert out["system"][-1]["cache_control"] == {"type": "ephemeral"}


def test_chat_reasoning_is_echoed_only_in_the_current_tool_loop() -> None:
    def rs(text: str, fld: str = "reasoning_content") -> dict:
        return {"type": "reasoning", "id": "r", "summary": [],
                "encrypted_content": pack_blob({"k": "c", "f": fld, "t": text})}

    inp = [user("q1"), rs("old"), {"type": "message", "role": "assistant", "content": [{"type": "output_text",
                                                                                        "text": "a1"}]},
           user("q2"), rs("new"), {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
           {"type": "function_call_output", "call_id": "c", "output": "o"},
           rs("more", "reasoning"), {"type": "function_call", "call_id": "d", "name": "f", "arguments": "{}"},
           {"type": "function_call_output", "call_id": "d", "output": "o"}]
    msgs = r2c({"input": inp}).body["messages"]
    assistants = [m for m in msgs if m["role"] == "assistant"]
    assert "reasoning_content" not in assistants[0]
    assert assistants[1]["reasoning_content"] == "new" and "reasoning" not in assistants[1]
    assert assistants[2]["reasoning"] == "more"


def test_gemini_thought_signatures_are_restored_on_their_calls() -> None:
    extra = {"google": {"thought_signature": "SIG"}}
    inp = [user("q"), {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
           {"type": "reasoning", "id": "r", "summary": [], "encrypted_content": pack_blob({"k": "x", "calls": {
               "c": extra}})},
           {"type": "function_call_output", "call_id": "c", "output": "o"}]
    msgs = r2c({"input": inp}).body["messages"]
    assert msgs[1]["tool_calls"][0]["extra_content"] == extra


def test_responses_tools_to_chat() -> None:
    tools = [
        {"type": "function", "name": "exec_command", "strict": False, "description": "d",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
        {"type": "custom", "name": "apply_patch", "description": "Patch. Do not wrap the patch in JSON.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}},
        {"type": "namespace", "name": "multi_agent_v1", "tools": [
            {"type": "function", "name": "close_agent", "parameters": {"type": "object", "properties": {}}},
            {"type": "function", "name": "exec_command", "parameters": {}}]},
        {"type": "web_search", "external_web_access": False},
        {"type": "function", "name": "no_params"},
    ]
    tr = r2c({"input": "x", "tools": tools})
    fns = {t["function"]["name"]: t["function"] for t in tr.body["tools"]}
    assert list(fns) == ["exec_command", "apply_patch", "close_agent", "multi_agent_v1__exec_command", "no_params"]
    assert fns["exec_command"]["parameters"] == tools[0]["parameters"] and "strict" not in fns["exec_command"]
    ap = fns["apply_patch"]
    assert ap["parameters"] == {"type": "object", "properties": {"input": {"type": "string",
                                                                          "description": "The raw text."}},
                                "required": ["input"], "additionalProperties": False}
    assert "start: begin_patch" in ap["description"] and "`input` string parameter" in ap["description"]
    assert fns["no_params"]["parameters"] == {"type": "object", "properties": {}}
    assert tr.notes == ["dropped hosted tool `web_search` (the upstream cannot run it)"]
    tm = tr.state.tools
    assert tm.lookup("apply_patch") == ("custom_tool_call", "apply_patch", None)
    assert tm.lookup("close_agent") == ("function_call", "close_agent", "multi_agent_v1")
    assert tm.lookup("multi_agent_v1__exec_command") == ("function_call", "exec_command", "multi_agent_v1")
    assert tm.lookup("exec_command") == ("function_call", "exec_command", None)
    # a namespaced call in the history goes back under the flattened name
    tr = r2c({"tools": tools, "input": [user("q"), {"type": "function_call", "call_id": "c", "name": "exec_command",
                                                    "namespace": "multi_agent_v1", "arguments": "{}"}]})
    assert tr.body["messages"][1]["tool_calls"][0]["function"]["name"] == "multi_agent_v1__exec_command"


@pytest.mark.parametrize("kind", ["file_search", "code_interpreter", "computer_use_preview", "computer", "mcp",
                                  "local_shell"])
def test_meaning_changing_hosted_tools_are_refused(kind: str) -> None:
    for fn in (r2c, r2m):
        with pytest.raises(Untranslatable) as exc:
            fn({"input": "x", "tools": [{"type": kind}]})
        assert exc.value.code == "unsupported_tool" and kind in exc.value.message


@pytest.mark.parametrize("kind", ["web_search", "web_search_preview", "image_generation", "some_future_tool"])
def test_harmless_hosted_tools_are_dropped_with_a_note(kind: str) -> None:
    tr = r2c({"input": "x", "tools": [{"type": kind}]})
    assert "tools" not in tr.body and kind in tr.notes[0]


CHAT_OPTIONS: list[tuple[dict, dict]] = [
    ({"stream": True}, {"stream": True, "stream_options": {"include_usage": True}}),
    ({"stream": False}, {}),
    ({"max_output_tokens": 77}, {"max_tokens": 77}),
    ({"temperature": 0.2, "top_p": 0.9}, {"temperature": 0.2, "top_p": 0.9}),
    ({"reasoning": {"effort": "low", "summary": "auto"}}, {"reasoning_effort": "low"}),
    ({"reasoning": {"effort": "xhigh"}}, {"reasoning_effort": "high"}),
    ({"reasoning": {"summary": "auto"}}, {}),
    ({"text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": True}}},
     {"response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"},
                                                                 "strict": True}}}),
    ({"text": {"format": {"type": "json_object"}}}, {"response_format": {"type": "json_object"}}),
    ({"store": False, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k", "client_metadata": {}}, {}),
]


@pytest.mark.parametrize("given, want", CHAT_OPTIONS)
def test_responses_options_to_chat(given: dict, want: dict) -> None:
    body = r2c({"input": "x", **given}).body
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == want


def test_max_completion_tokens_for_openai_reasoning_models() -> None:
    assert r2c({"input": "x", "max_output_tokens": 9}, "gpt-5.3-codex").body["max_completion_tokens"] == 9


TOOL_CHOICES = [
    ("auto", True, {}),
    ("required", True, {"tool_choice": "required"}),
    ("none", True, {"tool_choice": "none"}),
    ({"type": "function", "name": "f"}, True, {"tool_choice": {"type": "function", "function": {"name": "f"}}}),
    ({"type": "custom", "name": "apply_patch"}, True,
     {"tool_choice": {"type": "function", "function": {"name": "apply_patch"}}}),
    ("auto", False, {"parallel_tool_calls": False}),
]


@pytest.mark.parametrize("choice, parallel, want", TOOL_CHOICES)
def test_tool_choice_to_chat(choice: Any, parallel: bool, want: dict) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {}}, {"type": "custom", "name": "apply_patch"}]
    body = r2c({"input": "x", "tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel}).body
    assert {k: v for k, v in body.items() if k in ("tool_choice", "parallel_tool_calls")} == want


def test_tool_choice_without_tools_is_not_sent() -> None:
    body = r2c({"input": "x", "tools": [{"type": "web_search"}], "tool_choice": "required",
                "parallel_tool_calls": False}).body
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(body)


# ----------------------------------------------------------------------------- Responses → Anthropic


def test_responses_to_anthropic_messages_and_blocks() -> None:
    inp = [user("a"), {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG},
                                                                       {"type": "input_image",
                                                                        "image_url": "https://x/y.png"}]},
           {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "  "}]},
           {"type": "function_call", "call_id": "c.1", "name": "f", "arguments": '{"x":1}'},
           {"type": "function_call_output", "call_id": "c.1", "output": "o"},
           user("b")]
    out = r2m({"input": inp}).body
    assert out["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "a"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c_1", "name": "f", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c_1", "content": "o"},
                                     {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]}]
    assert out["max_tokens"] == 32000 and "thinking" not in out and "system" not in out


ANTHROPIC_OPTIONS: list[tuple[str, dict, dict]] = [
    ("max tokens given", {"max_output_tokens": 500}, {"max_tokens": 500}),
    ("effort to budget", {"reasoning": {"effort": "high"}},
     {"max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 16384}}),
    ("budget fits under max", {"reasoning": {"effort": "high"}, "max_output_tokens": 4000},
     {"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2976}}),
    ("too small for thinking", {"reasoning": {"effort": "low"}, "max_output_tokens": 1500}, {"max_tokens": 1500}),
    ("minimal means none", {"reasoning": {"effort": "minimal"}}, {"max_tokens": 32000}),
    ("thinking drops sampling", {"reasoning": {"effort": "low"}, "temperature": 0.5, "top_p": 0.5},
     {"max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ("sampling clamp", {"temperature": 1.7}, {"max_tokens": 32000, "temperature": 1.0}),
    ("not both", {"temperature": 0.3, "top_p": 0.5}, {"max_tokens": 32000, "temperature": 0.3}),
    ("json schema", {"text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}}},
     {"max_tokens": 32000, "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}),
    ("stream", {"stream": True}, {"max_tokens": 32000, "stream": True}),
]


@pytest.mark.parametrize("name, given, want", ANTHROPIC_OPTIONS, ids=[c[0] for c in ANTHROPIC_OPTIONS])
def test_responses_options_to_anthropic(name: str, given: dict, want: dict) -> None:
    body = r2m({"input": "x", **given}).body
    assert {k: v for k, v in body.items() if k not in ("model", "messages")} == want


def test_default_max_tokens_for_older_claude() -> None:
    assert r2m({"input": "x"}, "claude-3-5-haiku-latest").body["max_tokens"] == 8192
    assert r2m({"input": "x"}, "claude-3-opus-20240229").body["max_tokens"] == 4096


def test_anthropic_tool_choice_and_parallel() -> None:
    tools = [{"type": "function", "name": "f", "parameters": {}}]
    cases = [("auto", False, {"type": "auto", "disable_parallel_tool_use": True}), ("required", None, {"type": "any"}),
             ("none", None, {"type": "none"}), ({"type": "function", "name": "f"}, None, {"type": "tool", "name": "f"})]
    for choice, parallel, want in cases:
        body = r2m({"input": "x", "tools": tools, "tool_choice": choice, "parallel_tool_calls": parallel}).body
        assert body["tool_choice"] == want
        assert body["tools"] == [{"name": "f", "description": "", "input_schema": {"type": "object", "properties": {}}}]
    tr = r2m({"input": "x", "tools": tools, "tool_choice": "required", "reasoning": {"effort": "high"}})
    assert "thinking" not in tr.body and any("forced tool choice" in n for n in tr.notes)


def test_anthropic_thinking_blob_is_restored_and_thinking_stays_on() -> None:
    rs = {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "t"}],
          "encrypted_content": pack_blob({"k": "a", "t": "deep", "s": "SIG"})}
    red = {"type": "reasoning", "id": "r2", "summary": [], "encrypted_content": pack_blob({"k": "a", "r": "REDACTED"})}
    inp = [user("q"), rs, red, {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
           {"type": "function_call_output", "call_id": "c", "output": "o"}]
    body = r2m({"input": inp, "reasoning": {"effort": "medium"}}).body
    assert body["thinking"]["type"] == "enabled"
    assert body["messages"][1]["content"][:2] == [{"type": "thinking", "thinking": "deep", "signature": "SIG"},
                                                  {"type": "redacted_thinking", "data": "REDACTED"}]
    # without thinking this request, signed blocks are not sent at all
    body = r2m({"input": inp}).body
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use"]


def test_chat_blob_is_never_sent_to_anthropic_as_thinking() -> None:
    rs = {"type": "reasoning", "id": "r", "summary": [], "encrypted_content": pack_blob({"k": "c", "f": "reasoning",
                                                                                         "t": "x"})}
    body = r2m({"input": [user("q"), rs, {"type": "message", "role": "assistant", "content": "a"}, user("z")],
                "reasoning": {"effort": "low"}}).body
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "a"}]}


# ----------------------------------------------------------------------------- Chat → Anthropic


def test_chat_to_anthropic_full_history() -> None:
    body = c2m({"messages": [
        {"role": "system", "content": "S"}, {"role": "developer", "content": [{"type": "text", "text": "D"}]},
        {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image_url", "image_url": {"url": PNG}}]},
        {"role": "assistant", "content": "thinking aloud", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
            {"id": "t2", "type": "function", "function": {"name": "g", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "r1"},
        {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "r2"}]},
    ], "stop": "END", "max_completion_tokens": 100, "temperature": 0.1}).body
    assert [b["text"] for b in body["system"]] == ["S", "D"]
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "thinking aloud"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "t2", "name": "g", "input": {}}]}
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "t1", "content": "r1"}
    assert body["messages"][2]["content"][1]["content"] == [{"type": "text", "text": "r2"}]
    assert body["stop_sequences"] == ["END"] and body["max_tokens"] == 100 and body["temperature"] == 0.1


def test_chat_to_anthropic_options() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    body = c2m({"messages": [{"role": "user", "content": "q"}], "tools": tools, "tool_choice": "required",
                "parallel_tool_calls": False, "response_format": {"type": "json_object"}}).body
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["system"][-1]["text"].startswith("Respond with a single valid JSON object")
    body = c2m({"messages": [{"role": "user", "content": "q"}], "reasoning_effort": "medium"}).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    body = c2m({"messages": [{"role": "user", "content": "q"}], "response_format": {
        "type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}}).body
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    with pytest.raises(Untranslatable):
        c2m({"messages": [{"role": "user", "content": "q"}], "n": 2})
    with pytest.raises(Untranslatable):
        c2m({"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "custom", "custom": {"name": "x"}}]})


def test_chat_to_anthropic_thinking_off_when_tool_loop_lacks_thinking() -> None:
    tr = c2m({"reasoning_effort": "high", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f",
                                                                                          "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t", "content": "r"}]})
    assert "thinking" not in tr.body and tr.notes


# ----------------------------------------------------------------------------- Anthropic → chat


def test_anthropic_to_chat_full_history() -> None:
    body = m2c({
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1"},
                   {"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q"}]},
            {"role": "system", "content": "late system"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "old", "signature": ""},
                {"type": "text", "text": "a"}]},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "claude's", "signature": "EqQBCkYIARgC"},
                {"type": "thinking", "thinking": "mine", "signature": ""},
                {"type": "tool_use", "id": "tu1", "name": "Read", "input": {"file_path": "/a.png"}},
                {"type": "tool_use", "id": "tu2", "name": "Bash", "input": {"command": "false"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "tu1", "content": [
                    {"type": "text", "text": "png"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": "iVBORw0KGgo="}}]},
                {"type": "tool_result", "tool_use_id": "tu2", "content": "exit 1", "is_error": True,
                 "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "why?"}]},
        ]}).body
    assert body["messages"] == [
        {"role": "system", "content": "S\n\nlate system"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": None, "reasoning_content": "mine", "tool_calls": [
            {"id": "tu1", "type": "function", "function": {"name": "Read", "arguments": '{"file_path":"/a.png"}'}},
            {"id": "tu2", "type": "function", "function": {"name": "Bash", "arguments": '{"command":"false"}'}}]},
        {"role": "tool", "tool_call_id": "tu1", "content": "png"},
        {"role": "tool", "tool_call_id": "tu2", "content": "Error: exit 1"},
        {"role": "user", "content": [{"type": "text", "text": "(images returned by the tool calls above)"},
                                     {"type": "image_url", "image_url": {"url": PNG}},
                                     {"type": "text", "text": "why?"}]},
    ]
    assert "max_tokens" not in body


def test_anthropic_to_chat_options_and_tools() -> None:
    tools = [{"name": "Bash", "description": "b", "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {}}},
             {"type": "web_search_20250305", "name": "web_search"}]
    tr = m2c({"messages": [{"role": "user", "content": "q"}], "tools": tools, "max_tokens": 1,
              "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "stop_sequences": ["S"],
              "temperature": 0.3, "top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 2000},
              "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}},
              "context_management": {"edits": []}, "metadata": {"user_id": "u"}, "stream": True})
    body = tr.body
    assert body["tools"] == [{"type": "function", "function": {"name": "Bash", "description": "b", "parameters": {
        "type": "object", "properties": {}}}}]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["stop"] == ["S"] and body["temperature"] == 0.3 and body["max_tokens"] == 1
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "output",
                                                                             "schema": {"type": "object"}}}
    assert body["stream_options"] == {"include_usage": True}
    assert not {"top_k", "thinking", "output_config", "context_management", "metadata", "reasoning_effort"} & set(body)
    assert any("web_search_20250305" in n for n in tr.notes)
    with pytest.raises(Untranslatable):
        m2c({"messages": [{"role": "user", "content": "q"}], "tools": [{"type": "computer_20250124", "name": "c"}]})


def test_anthropic_marker_signature_selects_the_reasoning_field() -> None:
    body = m2c({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "planoai:reasoning"},
                                          {"type": "tool_use", "id": "a", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"}]}]}).body
    assert body["messages"][1]["reasoning"] == "t"


def test_translated_bodies_are_json_serialisable_for_fixtures() -> None:
    from .conftest import FIXTURES

    cc = json.loads((FIXTURES / "claude-code-2.1.197-request.json").read_text())
    assert json.dumps(m2c(cc).body)
    codex = json.loads((FIXTURES / "codex-0.169.0-exec-request.json").read_text())
    assert json.dumps(r2c(codex).body) and json.dumps(r2m(codex).body)
