"""Prompt caching, Plano's `prompt_caching` (docs/plano-sessions.md §1; brightstaff handlers/llm/prompt_caching.rs,
hermesllm apis/anthropic.rs `inject_cache_breakpoints`).

Anthropic caches only what a request marks with `cache_control` breakpoints. For a Messages upstream —
a native Claude Code request or one translated from Codex or a Chat client — the proxy adds two
ephemeral breakpoints when the estimated stable prefix (tools + system, characters ÷ 4) reaches
`max(min_prefix_tokens, 1024)`:

1. the end of the stable prefix: the last system block (the last tool when there is no system prompt);
2. a rolling breakpoint on the last cacheable block of the final message, so each turn's cache write is
   the next turn's cache read as the history grows.

A request that already carries any `cache_control` is left as the client wrote it (Claude Code marks
its own), and `X-Plano-Cache: off` skips injection for one request. OpenAI-family upstreams cache
automatically: nothing to add. Thinking blocks are never marked (Anthropic refuses it).

Our default for coding agents: the Responses/Chat → Messages translators mark the system prompt and the
last block whatever the config says (proxy.translate.conversation), so Codex on Claude caches with no
configuration. Those proxy-made markers are removed when the config says `prompt_caching.enabled: false`
or `inject_cache_control: false` explicitly, and for a request that sends `X-Plano-Cache: off`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .sessions import CACHE_HEADER, header

ANTHROPIC_MIN_PREFIX_TOKENS = 1024
EPHEMERAL = {"type": "ephemeral"}
# Blocks Anthropic accepts a breakpoint on (thinking / redacted_thinking are refused).
_MARKABLE = frozenset({"text", "image", "document", "tool_use", "tool_result", "search_result"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    inject: bool = False  # prompt_caching.enabled and inject_cache_control
    min_prefix_tokens: int = ANTHROPIC_MIN_PREFIX_TOKENS
    strip: bool = False  # the config turned markers off explicitly: remove the translators' too

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> CachePolicy:
        pc = raw.get("prompt_caching") if isinstance(raw, Mapping) else None
        if not isinstance(pc, dict):
            return cls()
        if pc.get("enabled") is not True:
            return cls(strip=pc.get("enabled") is False)
        minimum = pc.get("min_prefix_tokens", ANTHROPIC_MIN_PREFIX_TOKENS)
        if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
            minimum = ANTHROPIC_MIN_PREFIX_TOKENS
        inject = pc.get("inject_cache_control", True) is not False
        return cls(inject, max(minimum, ANTHROPIC_MIN_PREFIX_TOKENS), strip=not inject)

    @staticmethod
    def off(headers: Any) -> bool:
        return (header(headers, CACHE_HEADER) or "").lower() == "off"

    def applies(self, headers: Any) -> bool:
        return self.inject and not self.off(headers)

    def strips(self, headers: Any) -> bool:
        """Whether markers the proxy's translators added must come out of this request."""
        return self.strip or self.off(headers)


def _marked(block: Any) -> bool:
    return isinstance(block, dict) and "cache_control" in block


def has_markers(body: Mapping[str, Any]) -> bool:
    system = body.get("system")
    if isinstance(system, list) and any(_marked(b) for b in system):
        return True
    tools = body.get("tools")
    if isinstance(tools, list) and any(_marked(t) for t in tools):
        return True
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list) and any(_marked(b) for b in content):
            return True
    return False


def prefix_tokens(body: Mapping[str, Any]) -> int:
    """Plano's estimate of the stable prefix (tools + system), characters ÷ 4."""
    chars = 0
    for t in body.get("tools") or ():
        if isinstance(t, dict):
            chars += len(str(t.get("name", ""))) + len(str(t.get("description") or ""))
            chars += len(orjson.dumps(t.get("input_schema", {})))
    system = body.get("system")
    if isinstance(system, str):
        chars += len(system)
    elif isinstance(system, list):
        chars += sum(len(b.get("text", "")) for b in system if isinstance(b, dict))
    return chars // 4


def _mark_last(blocks: list[Any]) -> list[Any] | None:
    """A copy of `blocks` with the last markable, non-empty block marked; None when there is none."""
    for i in range(len(blocks) - 1, -1, -1):
        b = blocks[i]
        if isinstance(b, dict) and b.get("type") in _MARKABLE and not (b.get("type") == "text" and not b.get("text")):
            out = list(blocks)
            out[i] = {**b, "cache_control": EPHEMERAL}
            return out
    return None


def inject_breakpoints(body: Mapping[str, Any], min_prefix_tokens: int) -> tuple[dict[str, Any], int] | None:
    """A new Messages body with breakpoints added, and how many; None when nothing applies. The input is
    not modified (it may be retried on another provider)."""
    if has_markers(body) or prefix_tokens(body) < min_prefix_tokens:
        return None
    out = dict(body)
    n = 0
    system = body.get("system")
    if isinstance(system, str) and system:
        out["system"] = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        n += 1
    elif isinstance(system, list) and (marked := _mark_last(system)) is not None:
        out["system"] = marked
        n += 1
    elif not system and isinstance(body.get("tools"), list) and body["tools"]:
        tools = list(body["tools"])
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
        out["tools"] = tools
        n += 1
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last = messages[-1]
        content = last.get("content")
        new_content: list[Any] | None = None
        if isinstance(content, str) and content:
            new_content = [{"type": "text", "text": content, "cache_control": EPHEMERAL}]
        elif isinstance(content, list):
            new_content = _mark_last(content)
        if new_content is not None:
            out["messages"] = [*messages[:-1], {**last, "content": new_content}]
            n += 1
    return (out, n) if n else None


def strip_markers(body: dict[str, Any]) -> bool:
    """Remove every `cache_control` from a Messages body the proxy built (in place); True if any was."""
    found = False

    def clean(blocks: Any) -> None:
        nonlocal found
        if isinstance(blocks, list):
            for b in blocks:
                if isinstance(b, dict) and b.pop("cache_control", None) is not None:
                    found = True

    clean(body.get("system"))
    clean(body.get("tools"))
    for m in body.get("messages") or ():
        if isinstance(m, dict):
            clean(m.get("content"))
    return found
