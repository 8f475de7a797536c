"""Chat Completions streams: `ChatDecoder` reads an upstream's chunks, `ChatEmitter` writes a client's.

The decoder absorbs the server quirks of docs/codex-wire.md §9: tool calls without `index` (Gemini), a new
call reusing index 0 (some local servers), a whole call in one chunk (Ollama), `finish_reason: "stop"`
after tool calls (Gemini), `choices: null` on the usage chunk (vLLM), reasoning under
`reasoning_content` (DeepSeek) or `reasoning` (Ollama, vLLM, Groq), usage under `x_groq`, content as a
list of typed parts (Mistral), and an `{"error": …}` chunk after HTTP 200. Accepting a variant never
changes a conforming stream, so unlike the request quirks (proxy.wire.quirks) none is switchable.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..wire.sse import DONE, SseEvent
from ..wire.usage import Usage, from_openai
from .common import CHAT_TO_STOP, IdMaker, error_code
from .pipe import Emitter

_loads = orjson.loads
_dumps = orjson.dumps


class _Call:
    __slots__ = ("id", "pending", "started")

    def __init__(self, call_id: str | None) -> None:
        self.id = call_id
        self.started = False
        self.pending: list[str] = []


class ChatDecoder:
    __slots__ = ("_by_id", "_by_index", "_calls", "_em", "_ids", "_last", "_meta", "ended")

    def __init__(self, emitter: Emitter) -> None:
        self._em = emitter
        self.ended = False
        self._calls: list[_Call] = []
        self._by_index: dict[Any, int] = {}
        self._by_id: dict[str, int] = {}
        self._last: int | None = None
        self._meta = False
        self._ids = IdMaker()

    def feed(self, event: SseEvent) -> None:
        data = event.data
        if data == b"[DONE]":
            self.ended = True
            self._em.end()
            return
        try:
            obj = _loads(data)
        except orjson.JSONDecodeError:
            return  # keep-alive text or garbage: chat servers send both
        if isinstance(obj, dict):
            self._chunk(obj)

    def _chunk(self, obj: dict[str, Any]) -> None:
        em = self._em
        if not self._meta:
            self._meta = True
            em.meta(obj.get("id"), obj.get("model"))
        if obj.get("error"):
            em.fail(*error_code(obj["error"]))
            return
        choices = obj.get("choices")
        if choices:
            ch = choices[0]
            delta = ch.get("delta")
            if delta:
                self._delta(delta)
            fr = ch.get("finish_reason")
            if fr:
                self._finish(fr)
        u = obj.get("usage")
        if u:
            em.usage = from_openai(u)
        elif "x_groq" in obj and isinstance(obj["x_groq"], dict) and obj["x_groq"].get("usage"):
            em.usage = from_openai(obj["x_groq"]["usage"])

    def _delta(self, delta: dict[str, Any]) -> None:
        em = self._em
        r = delta.get("reasoning_content")
        if r:
            em.reasoning_field = "reasoning_content"
        else:
            r = delta.get("reasoning")
            if r and isinstance(r, str):
                em.reasoning_field = "reasoning"
        if r and isinstance(r, str):
            em.thinking(r)
        c = delta.get("content")
        if c:
            if isinstance(c, str):
                em.text(c)
            elif isinstance(c, list):
                self._parts(c)
        tcs = delta.get("tool_calls")
        if tcs:
            for tc in tcs:
                if isinstance(tc, dict):
                    self._tool(tc)

    def _parts(self, parts: list[Any]) -> None:
        for p in parts:
            if not isinstance(p, dict):
                continue
            if p.get("type") == "text" and p.get("text"):
                self._em.text(p["text"])
            elif p.get("type") == "thinking":
                inner = p.get("thinking")
                text = "".join(x.get("text", "") for x in inner if isinstance(x, dict)) if isinstance(inner, list) \
                    else str(inner or "")
                if text:
                    self._em.thinking(text)

    def _tool(self, tc: dict[str, Any]) -> None:
        idx = tc.get("index")
        cid = tc.get("id") or None
        key: int | None = None
        if idx is not None:
            key = self._by_index.get(idx)
            if key is not None and cid and self._calls[key].id and cid != self._calls[key].id:
                key = None  # a new call reusing the index of an earlier one
        elif cid:
            key = self._by_id.get(cid)
        else:
            key = self._last  # no index, no id: a continuation of the last call
        if key is None:
            key = len(self._calls)
            self._calls.append(_Call(cid))
            if idx is not None:
                self._by_index[idx] = key
            if cid:
                self._by_id[cid] = key
        self._last = key
        call = self._calls[key]
        fn = tc.get("function") or {}
        args = fn.get("arguments")
        if args is not None and not isinstance(args, str):
            args = _dumps(args).decode()  # some servers send the arguments as an object
        em = self._em
        if not call.started:
            if cid and not call.id:
                call.id = cid
            name = fn.get("name")
            if not name:
                if args:
                    call.pending.append(args)
                return
            self._start(key, call, name)
            if args:
                em.tool_args(key, args)
        elif args:
            em.tool_args(key, args)
        extra = tc.get("extra_content")
        if extra:
            em.tool_extra(key, extra)

    def _start(self, key: int, call: _Call, name: str) -> None:
        call.started = True
        em = self._em
        em.tool_start(key, call.id or self._ids("call_"), name)
        for a in call.pending:
            em.tool_args(key, a)
        call.pending.clear()

    def _finish(self, fr: str) -> None:
        for key, call in enumerate(self._calls):
            if not call.started:
                self._start(key, call, "unknown_tool")
        reason = CHAT_TO_STOP.get(fr, "stop")
        if reason == "stop" and self._calls:
            reason = "tool_calls"  # Gemini says "stop" after tool calls
        self._em.finish(reason)

    def feed_body(self, body: dict[str, Any]) -> None:
        em = self._em
        em.meta(body.get("id"), body.get("model"))
        if body.get("error"):
            em.fail(*error_code(body["error"]))
            return
        if body.get("usage"):
            em.usage = from_openai(body["usage"])
        choices = body.get("choices") or [{}]
        ch = choices[0] if isinstance(choices[0], dict) else {}
        msg = ch.get("message") or {}
        delta = dict(msg)
        tcs = delta.pop("tool_calls", None) or []
        self._delta(delta)
        for i, tc in enumerate(tcs):
            if isinstance(tc, dict):
                self._tool({**tc, "index": i})
        self._finish(ch.get("finish_reason") or "stop")
        self.ended = True
        em.end()


# ----------------------------------------------------------------------------- client side


def chat_usage(u: Usage) -> dict[str, Any]:
    return {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens}}


_STOP_TO_CHAT = {"stop": b"stop", "length": b"length", "tool_calls": b"tool_calls", "content_filter": b"content_filter"}


class ChatEmitter(Emitter):
    """Chat chunks for a chat client: role chunk first, one chunk per delta, finish chunk, optional usage
    chunk (only when the client asked, as OpenAI does), `[DONE]`."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self._model_hint = model
        self.include_usage = include_usage
        self.cid = IdMaker()("chatcmpl-")
        self.created = int(time.time())
        self._pre = b""
        self._tools: dict[int, int] = {}
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[dict[str, Any]] = []
        self._args: list[list[str]] = []
        self.reason = "stop"
        self._started = False

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._pre = (b'data: {"id":"' + self.cid.encode() + b'","object":"chat.completion.chunk","created":'
                     + str(self.created).encode() + b',"model":' + _dumps(self.model or self._model_hint)
                     + b',"choices":[{"index":0,"delta":')
        self.out.append(self._pre + b'{"role":"assistant","content":""},"finish_reason":null}]}\n\n')
        self.started_output = True

    def _chunk(self, delta: bytes) -> None:
        self.out.append(self._pre + delta + b',"finish_reason":null}]}\n\n')

    def text(self, delta: str) -> None:
        if delta:
            self._start()
            self._content.append(delta)
            self.out.append(self._pre + b'{"content":' + _dumps(delta) + b'},"finish_reason":null}]}\n\n')

    def thinking(self, delta: str) -> None:
        if delta:
            self._start()
            self._reasoning.append(delta)
            self._chunk(b'{"reasoning_content":' + _dumps(delta) + b"}")

    def tool_start(self, key: int, call_id: str, name: str) -> None:
        self.tool_names.append(name)
        self._start()
        i = len(self._calls)
        self._tools[key] = i
        self._calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": ""}})
        self._args.append([])
        self._chunk(b'{"tool_calls":[' + _dumps({"index": i, "id": call_id, "type": "function",
                                                   "function": {"name": name, "arguments": ""}}) + b"]}")

    def tool_args(self, key: int, delta: str) -> None:
        i = self._tools.get(key)
        if i is None or not delta:
            return
        self._args[i].append(delta)
        self._chunk(b'{"tool_calls":[{"index":' + str(i).encode() + b',"function":{"arguments":'
                    + _dumps(delta) + b"}}]}")

    def finish(self, reason: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.reason = reason
        self._start()
        self.out.append(self._pre + b'{},"finish_reason":"' + _STOP_TO_CHAT.get(reason, b"stop") + b'"}]}\n\n')

    def end(self) -> None:
        if self.done:
            return
        self.finish("stop")
        if self.include_usage:
            self.out.append(b"data: " + _dumps({"id": self.cid, "object": "chat.completion.chunk",
                                                "created": self.created, "model": self.model or self._model_hint,
                                                "choices": [], "usage": chat_usage(self.usage)}) + b"\n\n")
        self.out.append(DONE)
        self.done = True

    def fail(self, message: str, code: str) -> None:
        if self.done:
            return
        etype = "invalid_request_error" if code in ("context_length_exceeded", "invalid_request") else (
            "rate_limit_error" if code.startswith("rate_limit") else "server_error")
        self.out.append(b"data: " + _dumps({"error": {"message": message, "type": etype, "param": None,
                                                      "code": code}}) + b"\n\n")
        self.done = True
        self.error = message
        self.error_code = code

    def body(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(self._content) if self._content else None}
        if self._reasoning:
            msg["reasoning_content"] = "".join(self._reasoning)
        if self._calls:
            for c, parts in zip(self._calls, self._args, strict=True):
                c["function"]["arguments"] = "".join(parts) or "{}"
            msg["tool_calls"] = self._calls
        if self.error:
            return {"error": {"message": self.error, "type": "server_error", "code": "upstream_error"}}
        return {"id": self.cid, "object": "chat.completion", "created": self.created,
                "model": self.model or self._model_hint,
                "choices": [{"index": 0, "message": msg, "finish_reason": _STOP_TO_CHAT.get(self.reason, b"stop")
                             .decode(), "logprobs": None}],
                "usage": chat_usage(self.usage)}

