"""Responses API streams: `ResponsesEmitter` writes a client's events (docs/codex-wire.md §5, §11),
`ResponsesDecoder` reads an upstream's (OpenAI, xAI) for a chat or Messages client.

The emitter serves both Responses directions (chat and Anthropic upstreams). Rules that shape it:
- `response.created` / `in_progress` are written lazily with the first output (or the terminal event),
  so until `started_output` nothing at all has reached the client and a failover can start clean.
- Every item is announced (`output_item.added`, content/summary part) before its first delta.
- Closing events (`*.done`, `output_item.done`) are held back until the upstream says the content is
  complete (its finish/stop reason): Codex keeps `.done` items of a failed attempt in its history and
  re-sends them (§6, issue #8), so a stream that dies half-way ends in `response.failed` alone.
- Freeform (custom) tool calls arrive as a JSON `{"input": …}` argument; the raw text is sent as one
  `custom_tool_call_input.delta` when the call is complete, never JSON-wrapped.
- Hot deltas are built from precomputed byte templates; only the delta string is serialised.

The decoder turns reasoning items into thinking: the summary text streams as thinking deltas, and the
item's `encrypted_content` (asked for with `include`, `store: false`) becomes the block's signature —
or a `redacted_thinking` block when there is no summary — so a Messages client hands it back next turn
and the request translator restores the reasoning item (common.pack_signature, kind "o"). Output that only
arrives in an item's `.done` (no deltas) is emitted from there; `response.incomplete` ends the answer
with a length / content-filter stop, `response.failed` and `error` with the client's in-stream error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..wire.sse import SseEvent
from ..wire.usage import Usage, from_openai
from .common import IdMaker, error_code, pack_blob, pack_signature
from .pipe import Emitter
from .tools import ToolMap, custom_input

_dumps = orjson.dumps
_loads = orjson.loads


@dataclass(slots=True)
class RespState:
    """Request facts a Responses emitter needs: tool kinds and what to echo in the response object."""

    tools: ToolMap = field(default_factory=ToolMap)
    model: str = ""  # the upstream model asked for (used until the upstream names its own)
    echo: dict[str, Any] = field(default_factory=dict)  # parallel_tool_calls, tool_choice, …


def usage_obj(u: Usage) -> dict[str, Any]:
    details: dict[str, int] = {"cached_tokens": u.cached_tokens}
    if u.cache_write_tokens:  # the openai SDK's field, which Codex counts as cache_write_input_tokens
        details["cache_write_tokens"] = u.cache_write_tokens
    return {"input_tokens": u.input_tokens, "input_tokens_details": details,
            "output_tokens": u.output_tokens, "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.input_tokens + u.output_tokens}


def _head(kind: str) -> bytes:
    return f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":'.encode()


_H_TEXT = _head("response.output_text.delta")
_H_ARGS = _head("response.function_call_arguments.delta")
_H_SUMMARY = _head("response.reasoning_summary_text.delta")
_TAIL_TEXT = b',"logprobs":[]}\n\n'
_TAIL = b"}\n\n"


class _Item:
    __slots__ = ("call_id", "extra", "final", "id", "index", "kind", "name", "ns", "parts", "pfx", "redacted",
                 "sent", "sig", "summary_open")

    def __init__(self, kind: str, item_id: str, index: int) -> None:
        self.kind = kind
        self.id = item_id
        self.index = index
        self.parts: list[str] = []
        self.pfx = b""
        self.call_id = ""
        self.name = ""
        self.ns: str | None = None
        self.sig = ""
        self.redacted: str | None = None
        self.extra: Any = None
        self.summary_open = False
        self.sent: str | None = None  # a custom tool's raw input, once sent as its one delta
        self.final: dict[str, Any] | None = None


class ResponsesEmitter(Emitter):
    def __init__(self, state: RespState) -> None:
        super().__init__()
        self.state = state
        self._ids = IdMaker()
        self.rid = self._ids("resp_")
        self.created_at = int(time.time())
        self.seq = 0
        self.items: list[_Item] = []
        self._cur: _Item | None = None
        self._tools: dict[int, _Item] = {}
        self._started = False
        self.reason = "stop"
        self.final: dict[str, Any] | None = None

    # ------------------------------------------------------------------ writing
    def _event(self, kind: str, fields: dict[str, Any]) -> None:
        seq = self.seq
        self.seq = seq + 1
        self.out.append(b"event: " + kind.encode() + b"\ndata: "
                        + _dumps({"type": kind, "sequence_number": seq, **fields}) + b"\n\n")

    def _response(self, status: str) -> dict[str, Any]:
        r: dict[str, Any] = {"id": self.rid, "object": "response", "created_at": self.created_at, "status": status,
                             "error": None, "incomplete_details": None, "model": self.model or self.state.model,
                             "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                             "usage": None}
        r.update(self.state.echo)
        return r

    def _start(self) -> None:
        if not self._started:
            self._started = True
            r = self._response("in_progress")
            self._event("response.created", {"response": r})
            self._event("response.in_progress", {"response": r})

    def _add(self, kind: str, prefix: str, item: dict[str, Any]) -> _Item:
        self._start()
        self.close_block()  # a custom call is complete now: its delta stays next to its own item
        it = _Item(kind, self._ids(prefix), len(self.items))
        self.items.append(it)
        self._event("response.output_item.added", {"output_index": it.index, "item": {"id": it.id, **item}})
        self.started_output = True
        return it

    def _locator(self, it: _Item, extra: str = "") -> bytes:
        return f',"item_id":"{it.id}","output_index":{it.index}{extra},"delta":'.encode()

    # ------------------------------------------------------------------ operations
    def text(self, delta: str) -> None:
        if not delta:
            return
        it = self._cur
        if it is None or it.kind != "message":
            it = self._add("message", "msg_", {"type": "message", "status": "in_progress", "role": "assistant",
                                                "content": []})
            self._event("response.content_part.added", {
                "item_id": it.id, "output_index": it.index, "content_index": 0,
                "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})
            it.pfx = self._locator(it, ',"content_index":0')
            self._cur = it
        it.parts.append(delta)
        seq = self.seq
        self.seq = seq + 1
        self.out.append(_H_TEXT + str(seq).encode() + it.pfx + _dumps(delta) + _TAIL_TEXT)

    def _reasoning_item(self) -> _Item:
        it = self._cur
        if it is None or it.kind != "reasoning":
            it = self._add("reasoning", "rs_", {"type": "reasoning", "summary": []})
            it.pfx = self._locator(it, ',"summary_index":0')
            self._cur = it
        return it

    def thinking(self, delta: str) -> None:
        if not delta:
            return
        it = self._reasoning_item()
        if not it.summary_open:
            it.summary_open = True
            self._event("response.reasoning_summary_part.added", {
                "item_id": it.id, "output_index": it.index, "summary_index": 0,
                "part": {"type": "summary_text", "text": ""}})
        it.parts.append(delta)
        seq = self.seq
        self.seq = seq + 1
        self.out.append(_H_SUMMARY + str(seq).encode() + it.pfx + _dumps(delta) + _TAIL)

    def thinking_signature(self, signature: str) -> None:
        self._reasoning_item().sig += signature

    def redacted_thinking(self, data: str) -> None:
        self.close_block()
        self._reasoning_item().redacted = data
        self._cur = None

    def tool_start(self, key: int, call_id: str, name: str) -> None:
        kind, client_name, ns = self.state.tools.lookup(name)
        self.tool_names.append(client_name)  # the name the client knows (apply_patch, not its function twin)
        if kind == "custom_tool_call":
            it = self._add(kind, "ctc_", {"type": kind, "status": "in_progress", "call_id": call_id,
                                          "name": client_name, "input": ""})
        else:
            item: dict[str, Any] = {"type": kind, "status": "in_progress", "arguments": "", "call_id": call_id,
                                    "name": client_name}
            if ns:
                item["namespace"] = ns
            it = self._add(kind, "fc_", item)
            it.pfx = self._locator(it)
        it.call_id, it.name, it.ns = call_id, client_name, ns
        self._tools[key] = it
        self._cur = it

    def tool_args(self, key: int, delta: str) -> None:
        it = self._tools.get(key)
        if it is None or not delta:
            return
        it.parts.append(delta)
        if it.kind == "function_call":  # custom input is sent whole once complete (see module doc)
            seq = self.seq
            self.seq = seq + 1
            self.out.append(_H_ARGS + str(seq).encode() + it.pfx + _dumps(delta) + _TAIL)

    def tool_extra(self, key: int, extra: Any) -> None:
        it = self._tools.get(key)
        if it is not None:
            it.extra = extra

    def close_block(self) -> None:
        cur = self._cur
        if cur is not None and cur.kind == "custom_tool_call":
            self._send_input(cur)
        self._cur = None

    def finish(self, reason: str) -> None:
        self.reason = reason
        self.finished = True
        self._commit()

    def _commit(self) -> None:
        extras = {}
        self.close_block()
        for it in self.items:
            if it.final is None:
                self._close(it)
                if it.extra is not None:
                    extras[it.call_id] = it.extra
        if extras:  # Gemini thought signatures ride in a reasoning item of their own (module doc)
            it = self._add("reasoning", "rs_", {"type": "reasoning", "summary": []})
            it.sig = pack_blob({"k": "x", "calls": extras})
            self._close(it)
        self._cur = None

    def _close(self, it: _Item) -> None:
        loc = {"item_id": it.id, "output_index": it.index}
        kind = it.kind
        if kind == "message":
            text = "".join(it.parts)
            self._event("response.output_text.done", {**loc, "content_index": 0, "text": text, "logprobs": []})
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            self._event("response.content_part.done", {**loc, "content_index": 0, "part": part})
            final: dict[str, Any] = {"id": it.id, "type": "message", "status": "completed", "role": "assistant",
                                     "content": [part]}
        elif kind == "function_call":
            args = "".join(it.parts) or "{}"
            self._event("response.function_call_arguments.done", {**loc, "name": it.name, "arguments": args})
            final = {"id": it.id, "type": kind, "status": "completed", "arguments": args, "call_id": it.call_id,
                     "name": it.name}
            if it.ns:
                final["namespace"] = it.ns
        elif kind == "custom_tool_call":
            raw = self._send_input(it)
            self._event("response.custom_tool_call_input.done", {**loc, "input": raw})
            final = {"id": it.id, "type": kind, "status": "completed", "call_id": it.call_id, "name": it.name,
                     "input": raw}
        else:
            text = "".join(it.parts)
            summary = []
            if it.summary_open:
                self._event("response.reasoning_summary_text.done", {**loc, "summary_index": 0, "text": text})
                part = {"type": "summary_text", "text": text}
                self._event("response.reasoning_summary_part.done", {**loc, "summary_index": 0, "part": part})
                summary = [part]
            final = {"id": it.id, "type": "reasoning", "summary": summary}
            blob = self._blob(it, text)
            if blob:
                final["encrypted_content"] = blob
        it.final = final
        self._event("response.output_item.done", {"output_index": it.index, "item": final})

    def _send_input(self, it: _Item) -> str:
        raw = custom_input("".join(it.parts))
        sent = it.sent or ""
        if it.sent is None or raw != sent:
            # Normally sent once, whole. If fragments arrived after that (interleaved calls), send the rest.
            delta = raw[len(sent):] if raw.startswith(sent) else raw
            it.sent = sent + delta if raw.startswith(sent) else raw
            self._event("response.custom_tool_call_input.delta",
                        {"item_id": it.id, "output_index": it.index, "delta": delta})
        return it.sent

    def _blob(self, it: _Item, text: str) -> str | None:
        if it.redacted is not None:
            return pack_blob({"k": "a", "r": it.redacted})
        if it.sig.startswith("planoai1:"):
            return it.sig
        if it.sig:
            return pack_blob({"k": "a", "t": text, "s": it.sig})
        if text:
            return pack_blob({"k": "c", "f": self.reasoning_field, "t": text})
        return None

    def end(self) -> None:
        if self.done:
            return
        if not self.finished or any(it.final is None for it in self.items):
            self.finish(self.reason if self.finished else "stop")
        self._start()
        incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(self.reason)
        r = self._response("incomplete" if incomplete else "completed")
        r["output"] = [it.final for it in self.items]
        r["usage"] = usage_obj(self.usage)
        if incomplete:
            r["incomplete_details"] = {"reason": incomplete}
        self.final = r
        self._event("response.incomplete" if incomplete else "response.completed", {"response": r})
        self.done = True

    def fail(self, message: str, code: str) -> None:
        if self.done:
            return
        self._start()
        r = self._response("failed")
        r["error"] = {"code": code, "message": message}
        if self.usage:
            r["usage"] = usage_obj(self.usage)
        self.final = r
        self._event("response.failed", {"response": r})
        self.done = True
        self.error = message
        self.error_code = code

    def body(self) -> dict[str, Any]:
        assert self.final is not None
        return self.final


# ----------------------------------------------------------------------------- upstream side


class _Up:
    """One upstream output item: what of it has reached the emitter."""

    __slots__ = ("kind", "started", "streamed", "summary_index")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.started = False  # a tool call was announced to the emitter
        self.streamed = False  # deltas (text, arguments, thinking) reached the emitter
        self.summary_index: int | None = None


_INCOMPLETE_TO_STOP = {"max_output_tokens": "length", "content_filter": "content_filter"}


class ResponsesDecoder:
    __slots__ = ("_calls", "_em", "_items", "ended")

    def __init__(self, emitter: Emitter) -> None:
        self._em = emitter
        self.ended = False
        self._items: dict[int, _Up] = {}  # output_index → item
        self._calls = 0

    def _item(self, obj: dict[str, Any]) -> _Up:
        idx = obj.get("output_index", 0)
        it = self._items.get(idx)
        if it is None:  # a delta without its `output_item.added`: still output
            it = self._items[idx] = _Up("message")
        return it

    def feed(self, event: SseEvent) -> None:
        try:
            obj = _loads(event.data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(obj, dict):
            return
        kind = obj.get("type") or event.event
        em = self._em
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            self._item(obj).streamed = True
            em.text(obj.get("delta") or "")
        elif kind == "response.function_call_arguments.delta":
            self._item(obj).streamed = True
            em.tool_args(obj.get("output_index", 0), obj.get("delta") or "")
        elif kind == "response.reasoning_summary_text.delta":
            it = self._item(obj)
            si = obj.get("summary_index", 0)
            if it.summary_index is not None and si != it.summary_index:
                em.thinking("\n\n")  # the next summary part: a paragraph break, as OpenAI's UIs show it
            it.summary_index = si
            it.streamed = True
            em.thinking(obj.get("delta") or "")
        elif kind == "response.reasoning_text.delta":  # raw reasoning (gpt-oss)
            self._item(obj).streamed = True
            em.thinking(obj.get("delta") or "")
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            idx = obj.get("output_index", 0)
            it = self._items[idx] = _Up(str(item.get("type") or ""))
            if it.kind in ("function_call", "custom_tool_call"):
                self._start_call(idx, it, item)
        elif kind == "response.output_item.done":
            self._done(obj.get("output_index", 0), obj.get("item") or {})
        elif kind == "response.created":
            r = obj.get("response") or {}
            em.meta(r.get("id"), r.get("model"))
        elif kind in ("response.completed", "response.incomplete"):
            self._end(obj.get("response") or {})
        elif kind == "response.failed":
            r = obj.get("response") or {}
            if r.get("usage"):
                em.usage = from_openai(r["usage"])
            em.fail(*error_code(r.get("error") or {"message": "the upstream response failed"}))
        elif kind == "error":
            em.fail(*error_code(obj.get("error") if isinstance(obj.get("error"), dict) else obj))

    def _start_call(self, idx: int, it: _Up, item: dict[str, Any]) -> None:
        it.started = True
        self._calls += 1
        self._em.tool_start(idx, str(item.get("call_id") or item.get("id") or ""), str(item.get("name") or ""))

    def _done(self, idx: int, item: dict[str, Any]) -> None:
        em = self._em
        kind = str(item.get("type") or "")
        it = self._items.get(idx)
        if it is None:
            it = self._items[idx] = _Up(kind)
        if kind == "reasoning":
            if not it.streamed:
                text = "\n\n".join(str(p.get("text") or "") for p in item.get("summary") or [] if isinstance(p, dict))
                if not text:
                    text = "".join(str(p.get("text") or "") for p in item.get("content") or [] if isinstance(p, dict))
                if text:
                    it.streamed = True
                    em.thinking(text)
            enc = item.get("encrypted_content")
            blob = pack_signature({"k": "o", "id": item.get("id"), "e": enc}) if isinstance(enc, str) and enc else None
            if blob is not None:
                if it.streamed:
                    em.thinking_signature(blob)
                else:
                    em.redacted_thinking(blob)
        elif kind == "message":
            if not it.streamed:
                for p in item.get("content") or []:
                    if isinstance(p, dict):
                        em.text(str(p.get("text") or p.get("refusal") or ""))
        elif kind in ("function_call", "custom_tool_call"):
            if not it.started:
                self._start_call(idx, it, item)
            if not it.streamed:
                args = item.get("arguments") if kind == "function_call" else \
                    _dumps({"input": item.get("input") or ""}).decode()
                if args:
                    em.tool_args(idx, str(args))
        em.close_block()

    def _end(self, r: dict[str, Any]) -> None:
        em = self._em
        if r.get("usage"):
            em.usage = from_openai(r["usage"])
        for i, item in enumerate(r.get("output") or []):
            if i not in self._items and isinstance(item, dict):  # output only in the final object
                self._done(i, item)
        reason = "tool_calls" if self._calls else "stop"
        if r.get("status") == "incomplete":
            details = r.get("incomplete_details") or {}
            reason = _INCOMPLETE_TO_STOP.get(str(details.get("reason")), "length")
        em.finish(reason)
        self.ended = True
        em.end()

    def feed_body(self, body: dict[str, Any]) -> None:
        self._em.meta(body.get("id"), body.get("model"))
        if body.get("status") == "failed" or (body.get("error") and not body.get("output")):
            self._em.fail(*error_code(body.get("error") or {"message": "the upstream response failed"}))
            return
        self._end(body)
