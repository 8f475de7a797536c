"""Simulated providers on the wire, shared by `planoai tui --demo` (plano_tui/demo.py) and the tests'
loopback fakes (tests/fakes.py): SSE framing, the answers of OpenAI Responses, Chat Completions and
Anthropic Messages (streamed and not), the providers' error bodies, and what the real services refuse.

Shapes follow docs/codex-wire.md §5, §9–§11. The refusal rules are written from the services' own error
answers, independently of the proxy (this module imports nothing of ours: the `simulated-providers`
import-linter contract), so neither a test nor the demo can pass on the proxy's beliefs alone. Pure
functions on dicts and bytes (the callers' aiohttp servers send them), orjson and the standard library
only: the demo ships in the product, which must run without Textual.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import orjson

DEFAULT_TEXT = "Hello from the fake upstream."
DONE = b"data: [DONE]\n\n"  # Chat Completions' end of stream
_ids = itertools.count(1)  # response, message and completion ids, unique within a process


def sse(data: Any, event: str | None = None) -> bytes:
    """One SSE frame: `data` as JSON (or bytes as given), after an `event:` line when named."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (b"event: " + event.encode() + b"\n" if event else b"") + b"data: " + payload + b"\n\n"


class Stream(list[bytes]):
    """A streamed answer's SSE frames in order, knowing which carry the output: `head` comes before the
    first token (the demo waits its time to first token after it), `deltas` carry the output, `tail` ends
    the stream. Tests use it as the plain frame list it is."""

    def __init__(self, head: list[bytes], deltas: list[bytes], tail: list[bytes]) -> None:
        super().__init__([*head, *deltas, *tail])
        self.head, self.deltas, self.tail = head, deltas, tail


def _pieces(text: str | Sequence[str]) -> list[str]:
    """The deltas of an answer's text: a string streams in two halves, a sequence piece by piece."""
    if isinstance(text, str):
        return [text[: len(text) // 2], text[len(text) // 2 :]]
    return list(text)


# ----------------------------------------------------------------------------- OpenAI Responses

TOOL_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})  # output items that call a tool


def responses_usage(input_tokens: int, cached: int, output: int, reasoning: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output}


def _response(rid: str, model: str, created_at: int, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None = None) -> dict[str, Any]:
    resp: dict[str, Any] = {"id": rid, "object": "response", "created_at": created_at, "model": model,
                            "status": status, "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                            "tools": []}
    if usage is not None:
        resp["usage"] = usage
    return resp


def _message_item(mid: str, text: str) -> dict[str, Any]:
    return {"id": mid, "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _numbered(events: list[dict[str, Any]], seq: itertools.count[int]) -> list[bytes]:
    return [sse({**e, "sequence_number": next(seq)}, e["type"]) for e in events]


def responses_events(model: str, text: str | Sequence[str] = DEFAULT_TEXT, usage: dict[str, Any] | None = None,
                     *, created_at: int = 1) -> Stream:
    """A Responses stream answering `text` (a string streams in two halves; pieces as given)."""
    rid, mid = f"resp_{next(_ids)}", f"msg_{next(_ids)}"
    pieces = _pieces(text)
    whole = "".join(pieces)
    base = _response(rid, model, created_at, "in_progress", [])
    item = _message_item(mid, whole)
    at = {"item_id": mid, "output_index": 0, "content_index": 0}
    seq = itertools.count()
    head = _numbered([
        {"type": "response.created", "response": base},
        {"type": "response.in_progress", "response": base},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **at, "part": {"type": "output_text", "text": "", "annotations": []}},
    ], seq)
    deltas = _numbered([{"type": "response.output_text.delta", **at, "delta": p} for p in pieces], seq)
    tail = _numbered([
        {"type": "response.output_text.done", **at, "text": whole},
        {"type": "response.content_part.done", **at, "part": {"type": "output_text", "text": whole, "annotations": []}},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": _response(rid, model, created_at, "completed", [item],
                                                              usage or responses_usage(12, 4, 7, 2))},
    ], seq)
    return Stream(head, deltas, tail)


def responses_call_events(model: str, calls: list[dict[str, Any]], usage: dict[str, Any], *,
                          created_at: int = 1, piece: int = 24) -> Stream:
    """A Responses stream whose output is tool calls: `function_call` items stream their `arguments`,
    `custom_tool_call` items their `input`, `piece` characters a delta."""
    rid = f"resp_{next(_ids)}"
    seq = itertools.count()
    base = _response(rid, model, created_at, "in_progress", [])
    head = _numbered([{"type": "response.created", "response": base},
                      {"type": "response.in_progress", "response": base}], seq)
    events: list[dict[str, Any]] = []
    for i, item in enumerate(calls):
        custom = item["type"] == "custom_tool_call"
        field, kind = ("input", "custom_tool_call_input") if custom else ("arguments", "function_call_arguments")
        whole = item[field]
        events.append({"type": "response.output_item.added", "output_index": i,
                       "item": {**item, "status": "in_progress", field: ""}})
        events += [{"type": f"response.{kind}.delta", "item_id": item["id"], "output_index": i,
                    "delta": whole[j : j + piece]} for j in range(0, len(whole), piece)]
        events.append({"type": f"response.{kind}.done", "item_id": item["id"], "output_index": i, field: whole})
        events.append({"type": "response.output_item.done", "output_index": i, "item": item})
    deltas = _numbered(events, seq)
    done = _response(rid, model, created_at, "completed", calls, usage)
    return Stream(head, deltas, _numbered([{"type": "response.completed", "response": done}], seq))


def responses_body(model: str, text: str = DEFAULT_TEXT, usage: dict[str, Any] | None = None, *,
                   calls: list[dict[str, Any]] | None = None, mid: str = "msg_1", created_at: int = 1,
                   ) -> dict[str, Any]:
    """A non-streamed Responses answer: `text` in one message, or the tool `calls`."""
    output = calls if calls is not None else [_message_item(mid, text)]
    return _response(f"resp_{next(_ids)}", model, created_at, "completed", output,
                     usage or responses_usage(12, 4, 7, 2))


# ----------------------------------------------------------------------------- OpenAI Chat Completions


def chat_usage(prompt: int, cached: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def chat_events(model: str, text: str | Sequence[str] = DEFAULT_TEXT, tool_calls: list[dict[str, Any]] | None = None,
                usage: dict[str, Any] | bool = True) -> Stream:
    """A Chat Completions stream: `text` (a string in two halves; pieces as given), then `tool_calls`
    ({name, arguments, id?}) with their arguments 7 characters a chunk, then the usage chunk (`True`:
    default counts; `False`: none, as without `stream_options.include_usage`) and `[DONE]`."""
    cid = f"chatcmpl-{next(_ids)}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    deltas = [chunk({"content": p}) for p in _pieces(text)] if text else []
    for i, tc in enumerate(tool_calls or []):
        args = tc["arguments"]
        deltas.append(chunk({"tool_calls": [{"index": i, "id": tc.get("id", f"call_{i}"), "type": "function",
                                             "function": {"name": tc["name"], "arguments": ""}}]}))
        deltas += [chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 7]}}]})
                   for j in range(0, len(args), 7)]
    tail = [chunk({}, "tool_calls" if tool_calls else "stop")]
    if usage:
        counts = usage if isinstance(usage, dict) else chat_usage(11, 3, 5)
        tail.append(sse({"id": cid, "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                         "usage": counts}))
    return Stream([chunk({"role": "assistant", "content": ""})], deltas, [*tail, DONE])


def chat_body(model: str, text: str = DEFAULT_TEXT, usage: dict[str, Any] | None = None, *,
              created: int = 1) -> dict[str, Any]:
    return {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage or {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}}


# ----------------------------------------------------------------------------- Anthropic Messages


def messages_usage(fresh: int, cache_read: int, output: int, cache_creation: int = 0) -> dict[str, int]:
    """Anthropic's usage: `input_tokens` counts only what no cache read or wrote."""
    return {"input_tokens": fresh, "cache_creation_input_tokens": cache_creation,
            "cache_read_input_tokens": cache_read, "output_tokens": output}


def messages_events(model: str, text: str | Sequence[str] = DEFAULT_TEXT, tool_use: dict[str, Any] | None = None,
                    usage: dict[str, int] | None = None) -> Stream:
    """A Messages stream: a text block (a string in two halves; pieces as given), then a `tool_use`
    block ({name, input, id?}) with its input 9 characters a delta. `message_start` carries `usage` with
    one output token, `message_delta` the final output count."""
    usage = usage or messages_usage(9, 5, 6)
    mid = f"msg_{next(_ids)}"
    head = [sse({"type": "message_start",
                 "message": {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
                             "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}},
                "message_start"),
            sse({"type": "ping"}, "ping")]
    deltas: list[bytes] = []
    tail: list[bytes] = []
    idx = 0
    if text:
        head.append(sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                        "content_block_start"))
        deltas = [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
                      "content_block_delta") for p in _pieces(text)]
        tail.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        idx = 1
    if tool_use:
        block = {"type": "tool_use", "id": tool_use.get("id", "toolu_1"), "name": tool_use["name"], "input": {}}
        tail.append(sse({"type": "content_block_start", "index": idx, "content_block": block}, "content_block_start"))
        js = orjson.dumps(tool_use["input"]).decode()
        tail += [sse({"type": "content_block_delta", "index": idx,
                      "delta": {"type": "input_json_delta", "partial_json": js[j : j + 9]}}, "content_block_delta")
                 for j in range(0, len(js), 9)]
        tail.append(sse({"type": "content_block_stop", "index": idx}, "content_block_stop"))
    tail += [sse({"type": "message_delta",
                  "delta": {"stop_reason": "tool_use" if tool_use else "end_turn", "stop_sequence": None},
                  "usage": {"output_tokens": usage["output_tokens"]}}, "message_delta"),
             sse({"type": "message_stop"}, "message_stop")]
    return Stream(head, deltas, tail)


def messages_body(model: str, text: str = DEFAULT_TEXT, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": f"msg_{next(_ids)}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": usage or messages_usage(9, 5, 6)}


# ----------------------------------------------------------------------------- the providers' errors


def rate_limited(anthropic: bool, retry_after_s: float) -> dict[str, Any]:
    """A 429's body, in the provider's words (it comes with a `retry-after` header)."""
    if anthropic:
        return {"type": "error", "error": {"type": "rate_limit_error",
                                           "message": "Number of request tokens has exceeded your per-minute "
                                                      "rate limit"}}
    return {"error": {"message": f"Rate limit reached for requests. Please try again in {retry_after_s}s.",
                      "type": "requests", "code": "rate_limit_exceeded"}}


def server_error(anthropic: bool) -> dict[str, Any]:
    """A 5xx body (Anthropic says it with a 529, OpenAI with a 500 or 503)."""
    if anthropic:
        return {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}


def count_tokens(body: Any) -> int:
    """The simulated token count (`/responses/input_tokens`, `/messages/count_tokens`): one per 4 bytes of
    the JSON input, deterministic, unlike the proxy's estimate of the whole body."""
    if not isinstance(body, dict):
        return 0
    keep = {k: body[k] for k in ("input", "instructions", "messages", "system", "tools") if k in body}
    return len(orjson.dumps(keep)) // 4 + 1


# ----------------------------------------------------------------------------- what the services refuse

_CODEX = re.compile(r"codex")  # OpenAI serves these on /responses only
_NO_REASONING = re.compile(r"^(gpt-4|gpt-3\.5|chatgpt-4o|gpt-5-chat)")  # OpenAI's non-reasoning models
_NO_SAMPLING = re.compile(r"^(gpt-5(?!-chat)|o\d)")  # OpenAI's reasoning models: no temperature / top_p
_OLLAMA_NO_THINK = re.compile(r"^llama")  # Ollama: "does not support thinking"
NOT_A_CHAT_MODEL = ("This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
                    "Did you mean to use v1/completions?")
_CALL_OF_OUTPUT = {"function_call_output": "function_call", "custom_tool_call_output": "custom_tool_call"}

Refusal = tuple[int, dict[str, Any]]  # HTTP status, error body


def refusal(path: str, body: Any) -> Refusal | None:
    """(status, error body) when the real service would refuse this request, before answering it:
    - OpenAI's codex models on Chat Completions (404 "not a chat model"); reasoning parameters, encrypted
      reasoning and verbosity a non-reasoning model does not take; efforts a codex model does not take;
      sampling parameters on a reasoning model; Ollama's reasoning options for a model that cannot think;
    - a tool output that answers no tool call: Responses `*_call_output` items, Chat `tool` messages,
      Anthropic `tool_result` blocks without a `tool_use` in the message before (400s)."""
    if not isinstance(body, dict):
        return None
    if path.endswith("/messages"):
        return _orphan_tool_result(body)
    chat, responses = path.endswith("/chat/completions"), path.endswith("/responses")
    if not (chat or responses):
        return None
    model = body.get("model")
    if isinstance(model, str) and (refused := _model_refusal(model, body, chat)) is not None:
        return refused
    return _orphan_chat_tool_message(body) if chat else _orphan_responses_output(body)


def _openai_error(status: int, message: str, param: str | None, code: str | None) -> Refusal:
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _unsupported(param: str) -> Refusal:
    return _openai_error(400, f"Unsupported parameter: '{param}' is not supported with this model.", param,
                         "unsupported_parameter")


def _model_refusal(model: str, body: dict[str, Any], chat: bool) -> Refusal | None:
    """What OpenAI (or Ollama, on Chat) refuses of this model (Responses when not `chat`)."""
    responses = not chat
    if chat and _CODEX.search(model):
        return _openai_error(404, NOT_A_CHAT_MODEL, "model", None)
    if chat and _OLLAMA_NO_THINK.match(model) and "reasoning_effort" in body:
        return 400, {"error": {"message": f'"{model}" does not support thinking', "type": "api_error",
                               "param": None, "code": None}}
    r = body.get("reasoning") if responses else None
    effort = r.get("effort") if isinstance(r, dict) else body.get("reasoning_effort") if chat else None
    if _NO_REASONING.match(model):
        if responses and "reasoning.encrypted_content" in (body.get("include") or []):
            return _openai_error(400, "Encrypted content is not supported with this model.", "include", None)
        if effort is not None:
            return _unsupported("reasoning.effort" if responses else "reasoning_effort")
        if isinstance(r, dict) and r.get("summary") is not None:
            return _unsupported("reasoning.summary")
        if responses and any(isinstance(i, dict) and i.get("type") == "reasoning" for i in body.get("input") or []):
            return _openai_error(400, "Reasoning input items are not supported with this model.", "input", None)
        verbosity = (body.get("text") or {}).get("verbosity") if responses else body.get("verbosity")
        if verbosity not in (None, "medium"):
            return _openai_error(400, f"Unsupported value: '{verbosity}' is not supported with the '{model}' model. "
                                 "Supported values are: 'medium'.", "text.verbosity", "unsupported_value")
    if _CODEX.search(model) and effort in ("none", "minimal"):
        return _openai_error(400, f"Unsupported value: '{effort}' is not supported with the '{model}' model. "
                             "Supported values are: 'low', 'medium', 'high', and 'xhigh'.",
                             "reasoning.effort" if responses else "reasoning_effort", "unsupported_value")
    if _NO_SAMPLING.match(model):
        for k in ("temperature", "top_p"):
            if k in body:
                return _unsupported(k)
    return None


def _orphan_responses_output(body: dict[str, Any]) -> Refusal | None:
    """OpenAI Responses: each `*_call_output` item answers an earlier call of its kind with its call_id."""
    calls: dict[str, str] = {}
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in TOOL_CALL_ITEMS:
            calls[str(item.get("call_id"))] = kind
        elif kind in _CALL_OF_OUTPUT and calls.get(str(item.get("call_id"))) != _CALL_OF_OUTPUT[kind]:
            what = "function call" if kind == "function_call_output" else "custom tool call"
            return _openai_error(400, f"No tool call found for {what} output with call_id {item.get('call_id')}.",
                                 "input", None)
    return None


def _orphan_chat_tool_message(body: dict[str, Any]) -> Refusal | None:
    """Chat Completions (OpenAI, and Ollama likewise): a `tool` message answers a call of the last
    assistant message."""
    raw = body.get("messages")
    ids: set[str] = set()
    for m in raw if isinstance(raw, list) else ():
        if not isinstance(m, dict):
            continue
        if m.get("role") == "assistant":
            ids = {str(c.get("id")) for c in m.get("tool_calls") or () if isinstance(c, dict)}
        elif m.get("role") == "tool" and str(m.get("tool_call_id")) not in ids:
            return _openai_error(400, "Invalid parameter: messages with role 'tool' must be a response to a "
                                 "preceeding message with 'tool_calls'.", "messages.[].role", None)
    return None


def _orphan_tool_result(body: dict[str, Any]) -> Refusal | None:
    """Anthropic Messages: a `tool_result` block answers a `tool_use` block of the message before."""
    raw = body.get("messages")
    msgs: list[Any] = raw if isinstance(raw, list) else []
    for i, m in enumerate(msgs):
        content = m.get("content") if isinstance(m, dict) else None
        if not isinstance(content, list):
            continue
        prev = msgs[i - 1].get("content") if i and isinstance(msgs[i - 1], dict) else None
        uses = {b.get("id") for b in prev if isinstance(b, dict) and b.get("type") == "tool_use"} \
            if isinstance(prev, list) else set()
        for j, b in enumerate(content):
            if isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") not in uses:
                return 400, {"type": "error", "error": {
                    "type": "invalid_request_error",
                    "message": f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                               f"{b.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                               "`tool_use` block in the previous message."}}
    return None
