"""Scripted upstream answers for the e2e tests: tool calls in each wire API's own stream grammar
(docs/codex-wire.md §5, §9, §10), and readers for what the upstream received."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from tests.fakes import chat_events, messages_events, sse

from .harness import Dyn

_ids = itertools.count(1)

PATCH_FILE = "hello.txt"
PATCH_TEXT = "hello from the proxy e2e"
PATCH = f"*** Begin Patch\n*** Add File: {PATCH_FILE}\n+{PATCH_TEXT}\n*** End Patch\n"
EXEC_ARGS = '{"cmd":"echo hi-from-e2e"}'
EXEC_OUTPUT = "hi-from-e2e"


def responses_item_events(model: str, item: dict[str, Any]) -> list[bytes]:
    """One `function_call` or `custom_tool_call` output item, streamed the way OpenAI does."""
    rid, iid = f"resp_e2e_{next(_ids)}", f"{'fc' if item['type'] == 'function_call' else 'ctc'}_e2e_{next(_ids)}"
    base = {"id": rid, "object": "response", "created_at": 1, "model": model, "status": "in_progress", "output": [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
    field_name = "arguments" if item["type"] == "function_call" else "input"
    delta_type = ("response.function_call_arguments" if item["type"] == "function_call"
                  else "response.custom_tool_call_input")
    full = {"id": iid, "status": "completed", **item}
    started = {**full, "status": "in_progress", field_name: ""}
    text = item[field_name]
    seq = itertools.count()
    events = [
        {"type": "response.created", "response": base},
        {"type": "response.in_progress", "response": base},
        {"type": "response.output_item.added", "output_index": 0, "item": started},
        {"type": f"{delta_type}.delta", "item_id": iid, "output_index": 0, "delta": text[: len(text) // 2]},
        {"type": f"{delta_type}.delta", "item_id": iid, "output_index": 0, "delta": text[len(text) // 2:]},
        {"type": f"{delta_type}.done", "item_id": iid, "output_index": 0, field_name: text},
        {"type": "response.output_item.done", "output_index": 0, "item": full},
        {"type": "response.completed", "response": {**base, "status": "completed", "output": [full], "usage": {
            "input_tokens": 30, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 39}}},
    ]
    return [sse({**e, "sequence_number": next(seq)}, e["type"]) for e in events]


def responses_exec_call(model: str = "gpt-5.3-codex") -> list[bytes]:
    return responses_item_events(model, {"type": "function_call", "name": "exec_command", "arguments": EXEC_ARGS,
                                         "call_id": "call_exec_e2e"})


def responses_patch_call(model: str = "gpt-5.3-codex") -> list[bytes]:
    return responses_item_events(model, {"type": "custom_tool_call", "name": "apply_patch", "input": PATCH,
                                         "call_id": "call_patch_e2e"})


# ----------------------------------------------------------------------------- chat / messages


def _chat_tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"].get("parameters") or {} for t in body.get("tools") or []
            if t.get("type") == "function"}


def _messages_tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t.get("input_schema") or {} for t in body.get("tools") or [] if "name" in t}


def _tool_named(tools: dict[str, dict[str, Any]], name: str) -> tuple[str, dict[str, Any]]:
    for k, schema in tools.items():
        if k == name or k.endswith(name):
            return k, schema
    raise AssertionError(f"the upstream request has no {name!r} tool; tools: {sorted(tools)}")


def _freeform_args(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Arguments for a freeform tool exposed as a function: its single (required) string parameter."""
    props = schema.get("properties") or {}
    names = list(schema.get("required") or []) or [k for k, v in props.items() if v.get("type") == "string"]
    assert names, f"cannot tell which parameter carries the patch: {schema}"
    return {names[0]: text}


def chat_exec_call() -> Dyn:
    def build(body: dict[str, Any]) -> list[bytes]:
        name, _ = _tool_named(_chat_tools(body), "exec_command")
        return chat_events(body.get("model", "?"), text="",
                           tool_calls=[{"id": "call_exec_e2e", "name": name, "arguments": EXEC_ARGS}])
    return Dyn(build=build)


def chat_patch_call() -> Dyn:
    def build(body: dict[str, Any]) -> list[bytes]:
        name, schema = _tool_named(_chat_tools(body), "apply_patch")
        args = orjson.dumps(_freeform_args(schema, PATCH)).decode()
        return chat_events(body.get("model", "?"), text="",
                           tool_calls=[{"id": "call_patch_e2e", "name": name, "arguments": args}])
    return Dyn(build=build)


def messages_exec_call() -> Dyn:
    def build(body: dict[str, Any]) -> list[bytes]:
        name, _ = _tool_named(_messages_tools(body), "exec_command")
        return messages_events(body.get("model", "?"), text="",
                               tool_use={"id": "toolu_exec_e2e", "name": name, "input": orjson.loads(EXEC_ARGS)})
    return Dyn(build=build)


def messages_patch_call() -> Dyn:
    def build(body: dict[str, Any]) -> list[bytes]:
        name, schema = _tool_named(_messages_tools(body), "apply_patch")
        return messages_events(body.get("model", "?"), text="",
                               tool_use={"id": "toolu_patch_e2e", "name": name, "input": _freeform_args(schema, PATCH)})
    return Dyn(build=build)




# ----------------------------------------------------------------------------- what the upstream saw


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(p.get("text") if isinstance(p, dict) and "text" in p
                                  else p.get("content") if isinstance(p, dict) else p) for p in content)
    if isinstance(content, dict):
        return _text_of(content.get("text") or content.get("content") or content.get("output") or "")
    return "" if content is None else str(content)


def tool_results(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(call id, output text) of every tool result in a request, whatever its API."""
    out: list[tuple[str, str]] = []
    for item in body.get("input") or []:  # Responses
        if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output"):
            out.append((item.get("call_id", ""), _text_of(item.get("output"))))
    for msg in body.get("messages") or []:
        if msg.get("role") == "tool":  # Chat
            out.append((msg.get("tool_call_id", ""), _text_of(msg.get("content"))))
        elif msg.get("role") == "user" and isinstance(msg.get("content"), list):  # Messages
            for block in msg["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    out.append((block.get("tool_use_id", ""), _text_of(block.get("content"))))
    return out
