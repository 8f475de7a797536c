"""Observes a passthrough stream without changing it: TTFT, usage, terminal event, in-stream errors.

Used when client and upstream speak the same API and bytes are relayed verbatim. Only events that can
carry usage or errors are JSON-parsed, and once output has started, the events of a chunk before the
first one that matters (terminal, usage, error) are not parsed at all: most of a stream is text deltas,
and parsing them was the largest cost of relaying a stream.
"""

from __future__ import annotations

from typing import Any

from .errors import anthropic_type
from .turns import tool_names_of
from .wire.providers import Api
from .wire.sse import SseEvent, SseParser, encode
from .wire.usage import EMPTY, Usage, from_anthropic, from_openai

_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_TERMINAL_NEEDLES = tuple(f'"{t}"'.encode() for t in _RESPONSES_TERMINAL)
_CHAT_NEEDLES = (b'"usage"', b'"error"', b'"finish_reason":"', b'"finish_reason": "')
# Once output has started, a chunk can only change what the watcher knows if it contains one of these
# (an event's type is in its `event:` line or its JSON, and observe() keys off nothing else).
_MATTERS = {
    # observe() acts on a Responses event only when its JSON says a terminal type, quoted: so a text
    # delta that merely mentions "error" does not count.
    Api.RESPONSES: _TERMINAL_NEEDLES,
    Api.CHAT: (b"[DONE]", *_CHAT_NEEDLES, b'"name"'),  # a tool call's first delta names it
    Api.MESSAGES: (b"message_start", b"message_delta", b"message_stop", b"error", b'"tool_use"'),
}


# The event that marks output for observe() (Responses, Messages). Any chunk of whole events holding it
# leaves `saw_output` set once observed, wherever it sits in the chunk: callers read the watcher's state
# between chunks, not between events.
_OUTPUT_MARKER = {Api.RESPONSES: b"response.output_item.added", Api.MESSAGES: b"content_block_start"}


class StreamWatcher:
    __slots__ = ("_matters", "_output", "api", "done", "error", "error_code", "saw_output", "tool_names", "usage")

    def __init__(self, api: Api) -> None:
        self.api = api
        self._matters = _MATTERS.get(api, ())
        self._output = _OUTPUT_MARKER.get(api)
        self.usage: Usage = EMPTY
        self.done = False
        self.saw_output = False
        self.error: str | None = None
        self.error_code: str | None = None
        self.tool_names: tuple[str, ...] = ()  # tool calls the answer carried (proxy.turns)

    def observe_chunk(self, parser: SseParser, chunk: bytes) -> None:
        """Feed one network chunk. When it is whole events (the parser is at an event boundary and the
        chunk ends one) and output has started — before it, or thanks to the output marker in this very
        chunk — only its events from the first one naming a terminal, usage or error event on are parsed:
        the ones before cannot change what the watcher knows. On loopback a whole short stream often
        arrives as one chunk, and parsing its every delta was most of the cost of relaying it."""
        if parser.at_boundary and chunk.endswith(b"\n\n"):
            if not self.saw_output and self._output is not None and self._output in chunk:
                self.saw_output = True
            if self.saw_output:
                first = -1
                for needle in self._matters:
                    i = chunk.find(needle)
                    if i >= 0 and (first < 0 or i < first):
                        first = i
                if first < 0:
                    return
                boundary = chunk.rfind(b"\n\n", 0, first)  # always a real one: an empty line
                if boundary >= 0:
                    chunk = chunk[boundary + 2 :]
        for ev in parser.feed(chunk):
            self.observe(ev)

    def observe(self, ev: SseEvent) -> None:
        data = ev.data
        if self.api is Api.CHAT:
            if data == b"[DONE]":
                self.done = True
                return
            # A tool call's name comes once, in its first delta; argument deltas are not parsed.
            named = b'"name"' in data and b'"tool_calls"' in data
            if named or any(n in data for n in _CHAT_NEEDLES):
                obj = ev.json()
                if not isinstance(obj, dict):
                    return
                if obj.get("usage"):
                    self.usage = from_openai(obj["usage"])
                if isinstance(obj.get("error"), dict | str):
                    self._err(obj["error"])
                if named:
                    self.tool_names += _chat_tool_names(obj)
            self.saw_output = True
            return
        if self.api is Api.MESSAGES:
            kind = ev.event
            if kind == "content_block_start":
                self.saw_output = True
                if b'"tool_use"' in data:  # rare: parsed only for a tool call, for its name
                    obj = ev.json()
                    block = obj.get("content_block") if isinstance(obj, dict) else None
                    if isinstance(block, dict) and block.get("name"):
                        self.tool_names += (str(block["name"]),)
            elif kind in ("message_start", "message_delta"):
                obj = ev.json()
                if isinstance(obj, dict):
                    u = obj.get("usage") if kind == "message_delta" else (obj.get("message") or {}).get("usage")
                    self.usage = from_anthropic(u, self.usage)
            elif kind == "message_stop":
                self.done = True
            elif kind == "error":
                obj = ev.json()
                self._err(obj.get("error") if isinstance(obj, dict) else None)
                self.done = True
            return
        # Responses: the type is on the `event:` line (OpenAI sends one) or early in the JSON; only the
        # few terminal events are parsed.
        kind = ev.event
        if kind is not None:
            if kind == "response.output_item.added":
                self.saw_output = True
            if kind not in _RESPONSES_TERMINAL:
                return
        else:  # no `event:` line: look for the type strings in the data
            if b'"response.output_item.added"' in data:
                self.saw_output = True
                return
            if not any(n in data for n in _TERMINAL_NEEDLES):
                return
        obj = ev.json()
        if not isinstance(obj, dict):
            return
        t = obj.get("type")
        if t not in _RESPONSES_TERMINAL:
            return
        self.done = True
        resp: dict[str, Any] = obj["response"] if isinstance(obj.get("response"), dict) else {}
        if resp.get("usage"):
            self.usage = from_openai(resp["usage"])
        if isinstance(resp.get("output"), list):  # the terminal event lists every item: the tool calls' names
            self.tool_names = tool_names_of(resp)
        if t == "response.failed":
            self._err(resp.get("error") or {"message": "response.failed"})
        elif t == "error":
            self._err(obj)
        elif t == "response.incomplete":
            reason = (resp.get("incomplete_details") or {}).get("reason", "incomplete")
            self.error, self.error_code = f"incomplete: {reason}", "incomplete"

    def _err(self, err: object) -> None:
        if isinstance(err, dict):
            self.error = str(err.get("message") or err.get("type") or err)[:500]
            self.error_code = str(err.get("code") or err.get("type") or "upstream_error")
        else:
            self.error = str(err)[:500] if err else "upstream error"
            self.error_code = "upstream_error"


def _chat_tool_names(chunk: dict[str, Any]) -> tuple[str, ...]:
    """The tool calls a Chat Completions stream chunk starts, by function name."""
    names: list[str] = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        for tc in (delta.get("tool_calls") if isinstance(delta, dict) else None) or ():
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict) and fn.get("name"):
                names.append(str(fn["name"]))
    return tuple(names)


def terminal_error_event(api: Api, message: str, code: str, response_id: str = "resp_proxy") -> bytes:
    """The in-stream terminal error a client of `api` understands (docs/codex-wire.md §6, §8, §9)."""
    if api is Api.RESPONSES:
        return encode(
            {
                "type": "response.failed",
                "sequence_number": 0,
                "response": {
                    "id": response_id,
                    "object": "response",
                    "status": "failed",
                    "output": [],
                    "error": {"code": code, "message": message},
                },
            },
            "response.failed",
        )
    if api is Api.MESSAGES:
        etype = (
            "overloaded_error"
            if code in ("overloaded", "upstream_error")
            else anthropic_type(400 if code == "invalid_request" else 500)
        )
        return encode({"type": "error", "error": {"type": etype, "message": message}}, "error")
    return encode({"error": {"message": message, "type": "server_error", "code": code}})
