"""Emulated upstream providers on 127.0.0.1 for the tests: OpenAI Responses, Chat Completions and
Anthropic Messages, streaming and not, with scriptable faults (status codes, cut streams, stalls,
byte-level chunking). Shapes follow docs/codex-wire.md §5, §9–§11.

Like the real services, the fake refuses what they refuse, before any scripted answer: OpenAI's codex
models on /chat/completions (404 "not a chat model"), reasoning parameters a model does not take, and
Ollama's reasoning options for a model that cannot think (`refusal`). These rules are written from the
services' own error answers, independently of proxy.wire.models, so a test cannot pass on the proxy's
beliefs alone.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

_ids = itertools.count(1)


def sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    return (b"event: " + event.encode() + b"\n" if event else b"") + b"data: " + payload + b"\n\n"


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.raw)


@dataclass
class Script:
    """One scripted answer. `frames` are raw SSE byte frames (sent as given, then `chunk_size` split)."""

    status: int = 200
    json: Any = None
    frames: list[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    frame_delay: float = 0.0
    chunk_size: int | None = None  # split the whole stream into chunks of this many bytes
    cut_after: int | None = None  # drop the connection after this many frames
    stall: float = 0.0  # sleep after the frames before EOF
    raw: bytes | None = None
    content_type: str = "application/json"


# ----------------------------------------------------------------------------- default answers


def responses_events(model: str, text: str = "Hello from the fake upstream.", usage: dict | None = None) -> list[bytes]:
    rid = f"resp_{next(_ids)}"
    mid = f"msg_{next(_ids)}"
    usage = usage or {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 19,
    }
    base = {
        "id": rid,
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": "in_progress",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    msg_item = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    seq = itertools.count()
    ev = [
        {"type": "response.created", "response": base},
        {"type": "response.in_progress", "response": base},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"id": mid, "type": "message", "role": "assistant", "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            "item_id": mid,
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
    ]
    half = len(text) // 2
    for piece in (text[:half], text[half:]):
        ev.append(
            {
                "type": "response.output_text.delta",
                "item_id": mid,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
        )
    ev += [
        {"type": "response.output_text.done", "item_id": mid, "output_index": 0, "content_index": 0, "text": text},
        {
            "type": "response.content_part.done",
            "item_id": mid,
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "text": text, "annotations": []},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": msg_item},
        {
            "type": "response.completed",
            "response": {**base, "status": "completed", "output": [msg_item], "usage": usage},
        },
    ]
    return [sse({**e, "sequence_number": next(seq)}, e["type"]) for e in ev]


def responses_body(model: str, text: str = "Hello from the fake upstream.") -> dict:
    return {
        "id": f"resp_{next(_ids)}",
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": "completed",
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 2},
            "total_tokens": 19,
        },
    }


def chat_events(
    model: str, text: str = "Hello from the fake upstream.", tool_calls: list[dict] | None = None, usage: bool = True
) -> list[bytes]:
    cid = f"chatcmpl-{next(_ids)}"

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return sse(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    out = [chunk({"role": "assistant", "content": ""})]
    if text:
        half = len(text) // 2
        out += [chunk({"content": text[:half]}), chunk({"content": text[half:]})]
    for i, tc in enumerate(tool_calls or []):
        args = tc["arguments"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc.get("id", f"call_{i}"),
                            "type": "function",
                            "function": {"name": tc["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for j in range(0, len(args), 7):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 7]}}]}))
    out.append(chunk({}, "tool_calls" if tool_calls else "stop"))
    if usage:
        out.append(
            sse(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 11,
                        "completion_tokens": 5,
                        "total_tokens": 16,
                        "prompt_tokens_details": {"cached_tokens": 3},
                    },
                }
            )
        )
    out.append(b"data: [DONE]\n\n")
    return out


def chat_body(model: str, text: str = "Hello from the fake upstream.") -> dict:
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    }


def messages_events(
    model: str, text: str = "Hello from the fake upstream.", tool_use: dict | None = None
) -> list[bytes]:
    mid = f"msg_{next(_ids)}"
    out = [
        sse(
            {
                "type": "message_start",
                "message": {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 9,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 5,
                        "output_tokens": 1,
                    },
                },
            },
            "message_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    idx = 0
    if text:
        out.append(
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            )
        )
        half = len(text) // 2
        for piece in (text[:half], text[half:]):
            out.append(
                sse(
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                    "content_block_delta",
                )
            )
        out.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        idx = 1
    if tool_use:
        out.append(
            sse(
                {
                    "type": "content_block_start",
                    "index": idx,
                    "content_block": {
                        "type": "tool_use",
                        "id": tool_use.get("id", "toolu_1"),
                        "name": tool_use["name"],
                        "input": {},
                    },
                },
                "content_block_start",
            )
        )
        js = orjson.dumps(tool_use["input"]).decode()
        for j in range(0, len(js), 9):
            out.append(
                sse(
                    {
                        "type": "content_block_delta",
                        "index": idx,
                        "delta": {"type": "input_json_delta", "partial_json": js[j : j + 9]},
                    },
                    "content_block_delta",
                )
            )
        out.append(sse({"type": "content_block_stop", "index": idx}, "content_block_stop"))
    out += [
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if tool_use else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 6},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return out


def messages_body(model: str, text: str = "Hello from the fake upstream.") -> dict:
    return {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 9,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 5,
            "output_tokens": 6,
        },
    }


# ----------------------------------------------------------------------------- what the services refuse

_CODEX = re.compile(r"codex")  # OpenAI serves these on /responses only
_NO_REASONING = re.compile(r"^(gpt-4|gpt-3\.5|chatgpt-4o|gpt-5-chat)")  # OpenAI's non-reasoning models
_NO_SAMPLING = re.compile(r"^(gpt-5(?!-chat)|o\d)")  # OpenAI's reasoning models: no temperature / top_p
_OLLAMA_NO_THINK = re.compile(r"^llama")  # Ollama: "does not support thinking"
NOT_A_CHAT_MODEL = ("This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
                    "Did you mean to use v1/completions?")


def _openai_error(status: int, message: str, param: str | None, code: str | None) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _unsupported(param: str) -> tuple[int, dict]:
    return _openai_error(400, f"Unsupported parameter: '{param}' is not supported with this model.", param,
                         "unsupported_parameter")


def refusal(path: str, body: Any) -> tuple[int, dict] | None:
    """(status, error body) when the real service would refuse this request, else None."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return None
    model = body["model"]
    chat, responses = path.endswith("/chat/completions"), path.endswith("/responses")
    if not (chat or responses):
        return None
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


# ----------------------------------------------------------------------------- the server


def count_tokens(body: Any) -> int:
    """The fake's token count: one per 4 bytes of the JSON input (deterministic, unlike the proxy's
    estimate of the whole body)."""
    if not isinstance(body, dict):
        return 0
    keep = {k: body[k] for k in ("input", "instructions", "messages", "system", "tools") if k in body}
    return len(orjson.dumps(keep)) // 4 + 1


class FakeUpstream:
    """One loopback server answering every API; `script(path_suffix, Script(...))` queues answers."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.scripts: dict[str, deque[Script]] = {}
        self.cancelled = 0  # requests whose client went away mid-answer
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, suffix: str, *answers: Script) -> None:
        self.scripts.setdefault(suffix, deque()).extend(answers)

    def last(self, suffix: str | None = None) -> Captured:
        for c in reversed(self.requests):
            if suffix is None or c.path.endswith(suffix):
                return c
        raise AssertionError(f"no request to {suffix}")

    async def start(self) -> FakeUpstream:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.2, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(Captured(request.method, request.path, dict(request.headers), raw))
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        refused = refusal(request.path, body)
        if refused is not None:  # before any scripted answer: that one is for a request the service takes
            return web.Response(status=refused[0], body=orjson.dumps(refused[1]), content_type="application/json")
        if request.path.endswith(("/responses/input_tokens", "/messages/count_tokens")):
            return web.json_response({"object": "response.input_tokens", "input_tokens": count_tokens(body)})
        suffix = next((s for s in self.scripts if request.path.endswith(s) and self.scripts[s]), None)
        script = self.scripts[suffix].popleft() if suffix else None
        try:
            return await self._answer(request, body, script)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def _answer(self, request: web.Request, body: dict, script: Script | None) -> web.StreamResponse:
        model = body.get("model", "?") if isinstance(body, dict) else "?"
        stream = isinstance(body, dict) and body.get("stream") is True
        path = request.path
        if script is None:
            script = Script()
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.raw is not None:
            return web.Response(
                status=script.status, body=script.raw, content_type=script.content_type, headers=script.headers
            )
        if script.status >= 400 or script.json is not None:
            payload = script.json if script.json is not None else {"error": {"message": "boom", "type": "server_error"}}
            return web.Response(
                status=script.status,
                body=orjson.dumps(payload),
                content_type="application/json",
                headers=script.headers,
            )
        frames = script.frames
        if frames is None and not stream:
            if path.endswith("/responses"):
                payload = responses_body(model)
            elif path.endswith("/messages"):
                payload = messages_body(model)
            else:
                payload = chat_body(model)
            return web.Response(body=orjson.dumps(payload), content_type="application/json", headers=script.headers)
        if frames is None:
            if path.endswith("/responses"):
                frames = responses_events(model)
            elif path.endswith("/messages"):
                frames = messages_events(model)
            else:
                frames = chat_events(model)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **script.headers})
        await resp.prepare(request)
        if script.cut_after is not None:
            frames = frames[: script.cut_after]
        if script.chunk_size:
            blob = b"".join(frames)
            frames = [blob[i : i + script.chunk_size] for i in range(0, len(blob), script.chunk_size)]
        for f in frames:
            await resp.write(f)
            if script.frame_delay:
                await asyncio.sleep(script.frame_delay)
        if script.stall:
            await asyncio.sleep(script.stall)
        if script.cut_after is not None:
            # Drop the connection without a proper chunked-encoding end: a cut stream.
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write_eof()
        return resp
