"""A loopback Anthropic Messages upstream that applies the rules Anthropic's API applies to prompt-cache
breakpoints, and answers with the cache usage a real prefix cache would report.

Rules enforced (400 `invalid_request_error` otherwise, worded like Anthropic's):
- at most 4 blocks with `cache_control` per request;
- `cache_control` only on a tool definition, a system block (a plain-string system cannot carry one), or
  a content block of a message (text, image, document, tool_use, tool_result) — never on thinking blocks,
  never on an empty text block; its value is `{"type": "ephemeral"}` (optionally with `ttl`).

Caching model: the prompt is the sequence tools → system blocks → message blocks. A breakpoint caches
the prefix up to and including its block when that prefix is at least `min_tokens` long (characters ÷ 4);
a later request reads the longest cached prefix that ends at one of its breakpoints or at most 20 blocks
before one (Anthropic's lookback). Byte-exact: a prefix that differs in any block (cache_control aside)
is a miss. Usage: `cache_read_input_tokens`, `cache_creation_input_tokens`, and `input_tokens` for the
rest — in the default answer and in a scripted stream's `message_start` alike (scripted errors and raw
bodies pass through unvalidated).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson
from aiohttp import web

from .fakes import FakeUpstream, Script, messages_body, messages_events

MAX_BREAKPOINTS = 4
LOOKBACK = 20
_CONTENT_MARKABLE = frozenset({"text", "image", "document", "tool_use", "tool_result", "search_result"})


class BreakpointError(ValueError):
    pass


def _strip(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block


def prompt_blocks(body: dict[str, Any]) -> list[tuple[Any, bool]]:
    """The prompt as (block without cache_control, marked?) in Anthropic's order; validates markers."""
    out: list[tuple[Any, bool]] = []

    def check(block: Any, where: str, markable: bool) -> bool:
        if not isinstance(block, dict) or "cache_control" not in block:
            return False
        if not markable:
            raise BreakpointError(f"{where}: cache_control cannot be set on this block type")
        cc = block["cache_control"]
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral" or set(cc) - {"type", "ttl"}:
            raise BreakpointError(f"{where}.cache_control: Input should be {{'type': 'ephemeral'}}")
        if block.get("type") == "text" and not block.get("text"):
            raise BreakpointError(f"{where}: cache_control cannot be set for empty text blocks")
        return True

    for i, t in enumerate(body.get("tools") or []):
        out.append((_strip(t), check(t, f"tools.{i}", True)))
    system = body.get("system")
    if isinstance(system, list):
        for i, b in enumerate(system):
            out.append((_strip(b), check(b, f"system.{i}", isinstance(b, dict) and b.get("type") == "text")))
    elif system:
        out.append(({"type": "text", "text": system}, False))
    for i, m in enumerate(body.get("messages") or []):
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for j, b in enumerate(blocks):
            markable = isinstance(b, dict) and b.get("type") in _CONTENT_MARKABLE
            out.append(({"role": m.get("role"), **_strip(b)}, check(b, f"messages.{i}.content.{j}", markable)))
    marks = sum(1 for _, marked in out if marked)
    if marks > MAX_BREAKPOINTS:
        raise BreakpointError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marks}."
        )
    return out


class AnthropicCacheUpstream(FakeUpstream):
    """FakeUpstream whose Messages endpoint validates breakpoints and models Anthropic's prompt cache."""

    def __init__(self, min_tokens: int = 1024) -> None:
        super().__init__()
        self.min_tokens = min_tokens
        self.cache: dict[bytes, int] = {}  # prefix digest → prefix tokens
        self.usages: list[dict[str, int]] = []
        self.rejected: list[str] = []

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        blocks = prompt_blocks(body)
        digests, sizes = [], []
        h = hashlib.blake2b(digest_size=16)
        chars = 0
        for block, _ in blocks:
            data = orjson.dumps(block, option=orjson.OPT_SORT_KEYS)
            h.update(data)
            chars += len(data)
            digests.append(h.copy().digest())
            sizes.append(chars // 4)
        total = sizes[-1] if sizes else 0
        marks = [i for i, (_, marked) in enumerate(blocks) if marked]
        read = 0
        for i in marks:  # the longest cached prefix within the lookback of any breakpoint
            for j in range(i, max(-1, i - LOOKBACK - 1), -1):
                if digests[j] in self.cache:
                    read = max(read, sizes[j])
                    break
        written = max((sizes[i] for i in marks if sizes[i] >= self.min_tokens), default=0)
        for i in marks:
            if sizes[i] >= self.min_tokens:
                self.cache[digests[i]] = sizes[i]
        creation = max(0, written - read)
        usage = {"input_tokens": total - read - creation, "cache_read_input_tokens": read,
                 "cache_creation_input_tokens": creation}
        self.usages.append(usage)
        return usage

    async def _answer(self, request: web.Request, body: dict, script: Script | None) -> web.StreamResponse:
        scripted_stream = script is not None and bool(script.frames) and script.status < 400 and (
            script.json is None and script.raw is None)
        if not request.path.endswith("/messages") or (script is not None and not scripted_stream):
            return await super()._answer(request, body, script)
        try:
            usage = self._usage(body)
        except BreakpointError as exc:
            self.rejected.append(str(exc))
            err = {"type": "error", "error": {"type": "invalid_request_error", "message": str(exc)}}
            return web.Response(status=400, body=orjson.dumps(err), content_type="application/json")
        model = str(body.get("model", "?"))
        if script is not None:  # a scripted stream (e.g. a tool_use): the same answer, with the cache's usage
            assert script.frames is not None
            return await super()._answer(request, body, dataclasses.replace(
                script, frames=with_usage(script.frames, usage)))
        if body.get("stream") is True:
            return await super()._answer(request, body, Script(frames=with_usage(messages_events(model), usage)))
        payload = messages_body(model)
        payload["usage"] = {**usage, "output_tokens": 6}
        return web.Response(body=orjson.dumps(payload), content_type="application/json")


def with_usage(frames: list[bytes], usage: dict[str, int]) -> list[bytes]:
    """Messages SSE frames with `usage` (plus output_tokens 1) in their message_start event."""
    out = list(frames)
    for i, frame in enumerate(out):
        if frame.startswith(b"event: message_start\n"):
            start = orjson.loads(frame.split(b"data: ", 1)[1])
            start["message"]["usage"] = {**usage, "output_tokens": 1}
            out[i] = b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n"
            return out
    raise AssertionError("the scripted Messages stream has no message_start frame")
