"""Anthropic Messages streams: `MessagesDecoder` reads an upstream's events, `MessagesEmitter` writes a
client's (docs/codex-wire.md §8, §10).

The emitter keeps Claude Code's rules: `event:` lines on every frame, `message_start` before any block,
blocks strictly one after another with `content_block_stop`, tool input only as `input_json_delta`
fragments after a `content_block_start` whose `input` is `{}`. A chat upstream reports usage after its
finish reason, so `message_delta` (stop reason + usage) is written at the very end.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..wire.sse import SseEvent
from ..wire.usage import Usage, from_anthropic
from .common import ANTHROPIC_TO_STOP, STOP_TO_ANTHROPIC, IdMaker, anthropic_error_type, error_code, loads_obj
from .pipe import Emitter

_loads = orjson.loads
_dumps = orjson.dumps

# A thinking block produced from a chat upstream's reasoning carries this signature when the reasoning
# came in a field other than `reasoning_content`, so the next request can echo it under the same field.
CHAT_SIG_PREFIX = "planoai:"


class MessagesDecoder:
    __slots__ = ("_em", "ended")

    def __init__(self, emitter: Emitter) -> None:
        self._em = emitter
        self.ended = False

    def feed(self, event: SseEvent) -> None:
        kind = event.event
        try:
            obj = _loads(event.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return
        if kind is None:
            kind = obj.get("type")  # a data-only stream: the type is in the JSON
        em = self._em
        if kind == "content_block_delta":
            d = obj.get("delta") or {}
            t = d.get("type")
            if t == "text_delta":
                em.text(d.get("text") or "")
            elif t == "input_json_delta":
                em.tool_args(obj.get("index", 0), d.get("partial_json") or "")
            elif t == "thinking_delta":
                em.thinking(d.get("thinking") or "")
            elif t == "signature_delta":
                em.thinking_signature(d.get("signature") or "")
        elif kind == "content_block_start":
            self._block_start(obj.get("index", 0), obj.get("content_block") or {})
        elif kind == "content_block_stop":
            em.close_block()
        elif kind == "message_start":
            msg = obj.get("message") or {}
            em.meta(msg.get("id"), msg.get("model"))
            em.usage = from_anthropic(msg.get("usage"))
        elif kind == "message_delta":
            em.usage = from_anthropic(obj.get("usage"), em.usage)
            sr = (obj.get("delta") or {}).get("stop_reason")
            if sr:
                em.finish(ANTHROPIC_TO_STOP.get(sr, "stop"))
        elif kind == "message_stop":
            self.ended = True
            em.end()
        elif kind == "error":
            em.fail(*error_code(obj.get("error")))

    def _block_start(self, index: int, blk: dict[str, Any]) -> None:
        em = self._em
        bt = blk.get("type")
        if bt == "text":
            em.close_block()
            if blk.get("text"):
                em.text(blk["text"])
        elif bt == "tool_use":
            em.tool_start(index, str(blk.get("id") or ""), str(blk.get("name") or ""))
            if blk.get("input"):
                em.tool_args(index, _dumps(blk["input"]).decode())
        elif bt == "thinking":
            em.close_block()
            if blk.get("thinking"):
                em.thinking(blk["thinking"])
        elif bt == "redacted_thinking":
            em.redacted_thinking(str(blk.get("data") or ""))
        # server_tool_use / *_tool_result blocks: we never declare server tools, nothing to relay.

    def feed_body(self, body: dict[str, Any]) -> None:
        em = self._em
        em.meta(body.get("id"), body.get("model"))
        em.usage = from_anthropic(body.get("usage"))
        for i, blk in enumerate(body.get("content") or []):
            if not isinstance(blk, dict):
                continue
            bt = blk.get("type")
            if bt == "text":
                em.close_block()
                em.text(blk.get("text") or "")
            elif bt == "thinking":
                em.close_block()
                em.thinking(blk.get("thinking") or "")
                if blk.get("signature"):
                    em.thinking_signature(blk["signature"])
            elif bt == "redacted_thinking":
                em.redacted_thinking(str(blk.get("data") or ""))
            elif bt == "tool_use":
                em.tool_start(i, str(blk.get("id") or ""), str(blk.get("name") or ""))
                em.tool_args(i, _dumps(blk.get("input") or {}).decode())
            em.close_block()
        em.finish(ANTHROPIC_TO_STOP.get(str(body.get("stop_reason")), "stop"))
        self.ended = True
        em.end()


# ----------------------------------------------------------------------------- client side


def anthropic_usage(u: Usage) -> dict[str, Any]:
    # Anthropic's input_tokens exclude both cache reads and cache writes.
    return {"input_tokens": max(0, u.input_tokens - u.cached_tokens - u.cache_write_tokens),
            "cache_creation_input_tokens": u.cache_write_tokens,
            "cache_read_input_tokens": u.cached_tokens, "output_tokens": u.output_tokens}


_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'


class _Block:
    __slots__ = ("data", "index", "kind", "parts", "sig")

    def __init__(self, kind: str, index: int, data: dict[str, Any]) -> None:
        self.kind = kind
        self.index = index
        self.data = data  # the block as written in content_block_start (id, name, …)
        self.parts: list[str] = []
        self.sig = ""


def reported_model(body: dict[str, Any], upstream_model: str) -> str:
    """The model a translated answer names for a Messages client: the one it asked for (see below)."""
    model = body.get("model")
    return model if isinstance(model, str) and model else upstream_model


class MessagesEmitter(Emitter):
    def __init__(self, model: str) -> None:
        """`model`: the name the message reports — the one the client asked for. Claude Code keeps a
        turn's thinking blocks in its history only when the answer names the model it requested (measured
        with 2.1.197), and those blocks carry the upstream's reasoning back."""
        super().__init__()
        self._model_hint = model

    def meta(self, upstream_id: str | None, model: str | None) -> None:
        pass  # the upstream's own model name is on the request record, not in the client's message
        self.mid = IdMaker()("msg_")
        self._blocks: list[_Block] = []
        self._cur: _Block | None = None
        self._pfx = b""
        self._tools: dict[int, _Block] = {}
        self._started = False
        self.stop_reason = "end_turn"

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        msg: dict[str, Any] = {"id": self.mid, "type": "message", "role": "assistant", "model": self._model_hint,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                         "output_tokens": 0}}
        if self.usage:
            msg["usage"] = anthropic_usage(self.usage)
        self.out.append(b"event: message_start\ndata: " + _dumps({"type": "message_start", "message": msg}) + b"\n\n")

    def _open(self, kind: str, block: dict[str, Any], delta_type: str, field: str) -> _Block:
        self.close_block()
        self._start()
        b = _Block(kind, len(self._blocks), block)
        self._blocks.append(b)
        self.out.append(b"event: content_block_start\ndata: " + _dumps(
            {"type": "content_block_start", "index": b.index, "content_block": block}) + b"\n\n")
        self._pfx = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + str(b.index).encode()
                     + b',"delta":{"type":"' + delta_type.encode() + b'","' + field.encode() + b'":')
        self._cur = b
        self.started_output = True
        return b

    def text(self, delta: str) -> None:
        if not delta:
            return
        b = self._cur
        if b is None or b.kind != "text":
            b = self._open("text", {"type": "text", "text": ""}, "text_delta", "text")
        b.parts.append(delta)
        self.out.append(self._pfx + _dumps(delta) + b"}}\n\n")

    def thinking(self, delta: str) -> None:
        if not delta:
            return
        b = self._cur
        if b is None or b.kind != "thinking":
            b = self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, "thinking_delta",
                           "thinking")
        b.parts.append(delta)
        self.out.append(self._pfx + _dumps(delta) + b"}}\n\n")

    def thinking_signature(self, signature: str) -> None:
        b = self._cur
        if b is not None and b.kind == "thinking":
            b.sig += signature

    def redacted_thinking(self, data: str) -> None:
        self._open("redacted", {"type": "redacted_thinking", "data": data}, "", "")
        self.close_block()

    def tool_start(self, key: int, call_id: str, name: str) -> None:
        self.tool_names.append(name)
        b = self._open("tool", {"type": "tool_use", "id": call_id, "name": name, "input": {}}, "input_json_delta",
                       "partial_json")
        self._tools[key] = b

    def tool_args(self, key: int, delta: str) -> None:
        b = self._tools.get(key)
        if b is None or not delta:
            return
        b.parts.append(delta)
        if b is self._cur:
            self.out.append(self._pfx + _dumps(delta) + b"}}\n\n")
        else:  # fragments of an earlier call interleaved with a later one: rare; keep the index right
            self.out.append(b'event: content_block_delta\ndata: ' + _dumps(
                {"type": "content_block_delta", "index": b.index,
                 "delta": {"type": "input_json_delta", "partial_json": delta}}) + b"\n\n")

    def close_block(self) -> None:
        b = self._cur
        if b is None:
            return
        self._cur = None
        if b.kind == "thinking":
            if not b.sig and self.reasoning_field != "reasoning_content":
                b.sig = CHAT_SIG_PREFIX + self.reasoning_field
            if b.sig:  # ours (chat field, Responses reasoning item): the client hands it back next turn
                self.out.append(b'event: content_block_delta\ndata: ' + _dumps(
                    {"type": "content_block_delta", "index": b.index,
                     "delta": {"type": "signature_delta", "signature": b.sig}}) + b"\n\n")
        self.out.append(_STOP + str(b.index).encode() + b"}\n\n")

    def finish(self, reason: str) -> None:
        if self.finished:
            return
        self.finished = True
        self.close_block()
        self.stop_reason = STOP_TO_ANTHROPIC.get(reason, "end_turn")

    def end(self) -> None:
        if self.done:
            return
        self.finish("stop")
        self._start()
        self.out.append(b"event: message_delta\ndata: " + _dumps(
            {"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
             "usage": anthropic_usage(self.usage)}) + b"\n\n")
        self.out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        self.done = True

    def fail(self, message: str, code: str) -> None:
        if self.done:
            return
        self.out.append(b"event: error\ndata: " + _dumps(
            {"type": "error", "error": {"type": anthropic_error_type(code), "message": message}}) + b"\n\n")
        self.done = True
        self.error = message
        self.error_code = code

    def body(self) -> dict[str, Any]:
        if self.error:
            return {"type": "error", "error": {"type": "api_error", "message": self.error}}
        content: list[dict[str, Any]] = []
        for b in self._blocks:
            text = "".join(b.parts)
            if b.kind == "text":
                content.append({"type": "text", "text": text})
            elif b.kind == "thinking":
                content.append({"type": "thinking", "thinking": text, "signature": b.sig})
            elif b.kind == "redacted":
                content.append(b.data)
            else:
                inp = loads_obj(text) if text else {}
                content.append({**b.data, "input": inp if isinstance(inp, dict) else {}})
        return {"id": self.mid, "type": "message", "role": "assistant", "model": self._model_hint,
                "content": content, "stop_reason": self.stop_reason, "stop_sequence": None,
                "usage": anthropic_usage(self.usage)}
